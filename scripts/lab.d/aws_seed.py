"""The seed AWS environment of runbooks/aws/, made in the AWS API emulator (moto).

    aws_seed.py ENDPOINT_URL

Two regions of one application: `a` (us-east-1, serving) and `b` (us-west-2, standby).
Prints one JSON object with the ids the runbooks take as parameters.

- Route 53: zone dr.example.test., a health check per region, failover records for
  app.dr.example.test. (PRIMARY a, SECONDARY b) and weighted records for
  api.dr.example.test. (a 100, b 0).
- RDS (us-east-1): PostgreSQL `app-db-a` with a read replica `app-db-b`; an Aurora
  cluster `app-cluster` with writer `app-cluster-1` and reader `app-cluster-2`.
- Auto Scaling (us-west-2): group `app-b` at 0 instances (min 0, max 10).
- KMS: key `app-data` (alias alias/app-data), a newer key `app-data-2`, and a ciphertext
  of the application made with `app-data`.
- Secrets Manager: `app/db-password` and `app/api-key`.

Credentials are moto's dummy ones; nothing here reaches AWS.
"""

import base64
import json
import sys

import boto3

URL = sys.argv[1]
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def client(service, region="us-east-1"):
    return boto3.client(service, region_name=region, endpoint_url=URL, **CREDS)


def health_check(r53, ip, ref):
    return r53.create_health_check(
        CallerReference=ref,
        HealthCheckConfig={"IPAddress": ip, "Port": 443, "Type": "HTTPS", "ResourcePath": "/healthz",
                           "RequestInterval": 10, "FailureThreshold": 3},
    )["HealthCheck"]["Id"]


def main():
    out = {"endpoint_url": URL, "region_a": "us-east-1", "region_b": "us-west-2"}

    r53 = client("route53")
    zone = r53.create_hosted_zone(Name="dr.example.test.", CallerReference="drctl-seed")
    zone_id = zone["HostedZone"]["Id"].split("/")[-1]
    hc_a = health_check(r53, "203.0.113.10", "hc-a")
    hc_b = health_check(r53, "198.51.100.10", "hc-b")
    changes = []
    for role, ip, hc in (("PRIMARY", "203.0.113.10", hc_a), ("SECONDARY", "198.51.100.10", hc_b)):
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": "app.dr.example.test.", "Type": "A", "TTL": 60, "SetIdentifier": role.lower(),
            "Failover": role, "HealthCheckId": hc, "ResourceRecords": [{"Value": ip}]}})
    for region, ip, weight in (("a", "203.0.113.20", 100), ("b", "198.51.100.20", 0)):
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.dr.example.test.", "Type": "A", "TTL": 60, "SetIdentifier": region,
            "Weight": weight, "ResourceRecords": [{"Value": ip}]}})
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    out.update(hosted_zone_id=zone_id, health_check_a=hc_a, health_check_b=hc_b,
               address_a="203.0.113.10", address_b="198.51.100.10")

    rds = client("rds")
    rds.create_db_instance(DBInstanceIdentifier="app-db-a", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="app", MasterUserPassword="not-a-real-password",
                           BackupRetentionPeriod=7)
    rds.create_db_instance_read_replica(DBInstanceIdentifier="app-db-b", SourceDBInstanceIdentifier="app-db-a")
    rds.create_db_cluster(DBClusterIdentifier="app-cluster", Engine="aurora-postgresql",
                          MasterUsername="app", MasterUserPassword="not-a-real-password")
    for n in (1, 2):
        rds.create_db_instance(DBInstanceIdentifier=f"app-cluster-{n}", DBClusterIdentifier="app-cluster",
                               Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
    out.update(db_instance_a="app-db-a", db_replica_b="app-db-b", db_cluster="app-cluster",
               cluster_writer="app-cluster-1", cluster_reader="app-cluster-2")

    ec2 = client("ec2", "us-west-2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    asg = client("autoscaling", "us-west-2")
    asg.create_launch_configuration(LaunchConfigurationName="app-b", ImageId=image, InstanceType="t3.micro")
    asg.create_auto_scaling_group(AutoScalingGroupName="app-b", LaunchConfigurationName="app-b",
                                  MinSize=0, MaxSize=10, DesiredCapacity=0,
                                  AvailabilityZones=["us-west-2a", "us-west-2b"])
    out.update(asg_b="app-b")

    kms = client("kms")
    key = kms.create_key(Description="app-data")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app-data", TargetKeyId=key)
    key2 = kms.create_key(Description="app-data-2")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"an application record")["CiphertextBlob"]
    out.update(kms_key=key, kms_key_2=key2, kms_alias="alias/app-data",
               ciphertext=base64.b64encode(blob).decode())

    sm = client("secretsmanager")
    for name in ("app/db-password", "app/api-key"):
        sm.create_secret(Name=name, SecretString="initial-" + name.replace("/", "-"))
    out.update(secret_db="app/db-password", secret_api="app/api-key")

    print(json.dumps(out))


main()
