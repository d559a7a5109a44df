//! AWS: the specs of the actions `drctl-aws` implements through the official AWS SDK for
//! Rust (Route 53, RDS, Auto Scaling, KMS, Secrets Manager).
//!
//! The specs live here, not in `drctl-aws`, so that every build validates and plans
//! runbooks that call AWS; a build without the `aws` feature knows them but cannot run
//! them. Every action takes the same connection settings: `region`, and `endpoint_url`
//! for an emulator or a VPC endpoint. Credentials come from the SDK's standard chain
//! (environment, shared profile, web identity, container and instance roles).

use drctl_core::{ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// Connection settings common to every AWS action.
fn conn(schema: ObjectSchema) -> ObjectSchema {
    schema
        .opt(
            "region",
            Ty::String,
            "AWS region (default: the SDK's chain, e.g. AWS_REGION)",
        )
        .opt(
            "endpoint_url",
            Ty::String,
            "another endpoint (an emulator, a VPC endpoint); default AWS_ENDPOINT_URL or AWS's",
        )
        .opt(
            "profile",
            Ty::String,
            "shared config profile to take credentials from",
        )
}

/// How a step waits for an eventually consistent change.
fn waits(schema: ObjectSchema, what: &str) -> ObjectSchema {
    schema
        .opt("wait", Ty::Boolean, what)
        .opt(
            "interval",
            Ty::Duration,
            "between checks while waiting (default 5s)",
        )
        .opt("timeout", Ty::Duration, "give up waiting after this long")
}

fn record_set() -> Ty {
    Ty::Object(
        ObjectSchema::new()
            .req("name", Ty::String, "record name, e.g. app.example.com.")
            .req(
                "type",
                Ty::one_of_strings(&["A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA", "PTR"]),
                "record type",
            )
            .opt(
                "ttl",
                Ty::int_range(0, 2_147_483_647),
                "seconds (default 60; not with alias)",
            )
            .opt("records", Ty::list(Ty::String), "the values")
            .opt(
                "alias",
                Ty::Object(
                    ObjectSchema::new()
                        .req("hosted_zone_id", Ty::String, "the target's hosted zone")
                        .req("dns_name", Ty::String, "the target's DNS name")
                        .opt("evaluate_target_health", Ty::Boolean, "default true"),
                ),
                "an alias record instead of values",
            )
            .opt(
                "set_identifier",
                Ty::String,
                "identifies this record among failover or weighted ones",
            )
            .opt(
                "failover",
                Ty::one_of_strings(&["PRIMARY", "SECONDARY"]),
                "failover routing role",
            )
            .opt("weight", Ty::int_range(0, 255), "weighted routing share")
            .opt(
                "health_check_id",
                Ty::String,
                "the health check that decides this record",
            )
            .exclusive(&["records", "alias"])
            .at_least_one(&["records", "alias"])
            .exclusive(&["failover", "weight"]),
    )
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "aws.route53.change_records",
            "UPSERT Route 53 record sets (simple, failover or weighted) and wait until INSYNC",
            // UPSERT leaves the same records however often it is sent.
            true,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req(
                        "hosted_zone_id",
                        Ty::String,
                        "the hosted zone, e.g. Z0123456789ABC",
                    )
                    .req("changes", Ty::list(record_set()), "record sets to upsert")
                    .opt("comment", Ty::String, "the change batch's comment"),
                "wait until Route 53 says INSYNC (default true)",
            ),
        ),
        spec(
            "aws.route53.health_check_status",
            "What Route 53's health checkers report for a health check; optionally wait for a verdict",
            true,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("health_check_id", Ty::String, "the health check's id")
                    .opt(
                        "expect",
                        Ty::one_of_strings(&["healthy", "unhealthy"]),
                        "fail (retryably) until the checkers say this",
                    ),
                "with `expect`: wait for it instead of failing at once (default false)",
            ),
        ),
        spec(
            "aws.rds.promote_read_replica",
            "Promote an RDS read replica to a standalone instance and wait until it is available",
            // Never repeated blindly: after a crash, reconcile looks whether the instance
            // still has a source.
            false,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("db_instance_identifier", Ty::String, "the read replica")
                    .opt(
                        "backup_retention_period",
                        Ty::int_range(0, 35),
                        "days of automated backups after promotion",
                    ),
                "wait until the instance is available (default true)",
            ),
        ),
        spec(
            "aws.rds.failover_cluster",
            "Fail an Aurora or Multi-AZ DB cluster over to another instance",
            // A second failover moves the writer again: reconcile reads who writes now.
            false,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("db_cluster_identifier", Ty::String, "the cluster")
                    .opt(
                        "target_db_instance_identifier",
                        Ty::String,
                        "the instance to promote to writer (needed to reconcile after a crash)",
                    ),
                "wait until the cluster is available again (default true)",
            ),
        ),
        spec(
            "aws.rds.restore_to_point_in_time",
            "Restore an RDS instance to a point in time as a new instance",
            false,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req(
                        "source_db_instance_identifier",
                        Ty::String,
                        "the instance to restore from",
                    )
                    .req(
                        "target_db_instance_identifier",
                        Ty::String,
                        "the new instance (must not exist)",
                    )
                    .opt("restore_time", Ty::String, "RFC 3339 time to restore to")
                    .opt(
                        "use_latest_restorable_time",
                        Ty::Boolean,
                        "restore to the latest time possible",
                    )
                    .opt(
                        "db_instance_class",
                        Ty::String,
                        "class of the new instance (default the source's)",
                    )
                    .opt(
                        "db_subnet_group_name",
                        Ty::String,
                        "subnet group of the new instance",
                    )
                    .exclusive(&["restore_time", "use_latest_restorable_time"])
                    .at_least_one(&["restore_time", "use_latest_restorable_time"]),
                "wait until the new instance is available (default true)",
            ),
        ),
        spec(
            "aws.rds.wait_available",
            "Wait until an RDS instance or cluster is available",
            true,
            Reconcile::Supported,
            conn(ObjectSchema::new())
                .opt("db_instance_identifier", Ty::String, "an instance")
                .opt("db_cluster_identifier", Ty::String, "a cluster")
                .opt("interval", Ty::Duration, "between checks (default 5s)")
                .opt(
                    "timeout",
                    Ty::Duration,
                    "give up after this long (default 30m)",
                )
                .exclusive(&["db_instance_identifier", "db_cluster_identifier"])
                .at_least_one(&["db_instance_identifier", "db_cluster_identifier"]),
        ),
        spec(
            "aws.autoscaling.set_desired_capacity",
            "Set an Auto Scaling group's desired capacity (e.g. scale the standby region up)",
            true,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("auto_scaling_group_name", Ty::String, "the group")
                    .req("desired_capacity", Ty::int_min(0), "instances wanted")
                    .opt(
                        "honor_cooldown",
                        Ty::Boolean,
                        "respect the group's cooldown (default false)",
                    ),
                "wait until that many instances are InService (default false)",
            ),
        ),
        spec(
            "aws.kms.rotate",
            "Rotate a KMS key's material now (RotateKeyOnDemand); returns rotation counts, never material",
            // AWS allows a key few on-demand rotations: after a crash, reconcile counts them.
            false,
            Reconcile::Supported,
            conn(ObjectSchema::new())
                .req("key_id", Ty::String, "key id, ARN or alias/NAME")
                .opt(
                    "if_rotations",
                    Ty::int_min(0),
                    "rotate only if the key has had this many rotations; more counts as rotated \
                     (safe to repeat, and how a crash is reconciled)",
                ),
        ),
        spec(
            "aws.kms.enable_rotation",
            "Turn on automatic yearly (or every N days) rotation of a KMS key",
            true,
            Reconcile::Supported,
            conn(ObjectSchema::new())
                .req("key_id", Ty::String, "key id, ARN or alias/NAME")
                .opt(
                    "rotation_period_in_days",
                    Ty::int_range(90, 2560),
                    "rotation period",
                ),
        ),
        spec(
            "aws.kms.re_encrypt",
            "Re-encrypt ciphertexts under a KMS key (its current material) without exposing plaintext",
            true,
            Reconcile::Supported,
            conn(ObjectSchema::new())
                .req(
                    "ciphertexts",
                    Ty::list(Ty::String),
                    "base64 ciphertext blobs",
                )
                .req("destination_key_id", Ty::String, "key to re-encrypt under")
                .opt(
                    "source_key_id",
                    Ty::String,
                    "key they were made with (needed for asymmetric keys)",
                ),
        ),
        spec(
            "aws.kms.update_alias",
            "Point a KMS alias at another key",
            true,
            Reconcile::Supported,
            conn(ObjectSchema::new())
                .req("alias_name", Ty::String, "alias/NAME")
                .req("target_key_id", Ty::String, "the key the alias should name"),
        ),
        spec(
            "aws.secretsmanager.put_secret_value",
            "Store a new version of a Secrets Manager secret; returns its version id, never the value",
            // The client request token is derived from the run, step and item: a retry
            // sends the same token and AWS stores the version once.
            true,
            Reconcile::Supported,
            conn(ObjectSchema::new())
                .req("secret_id", Ty::String, "name or ARN")
                .req_secret(
                    "secret_string",
                    Ty::String,
                    "the new value; take it from `secrets`",
                )
                .opt(
                    "version_stages",
                    Ty::list(Ty::String),
                    "stages of the new version (default AWSCURRENT)",
                ),
        ),
        spec(
            "aws.secretsmanager.rotate",
            "Start a rotation of a Secrets Manager secret (its rotation function makes the new version)",
            true,
            Reconcile::Supported,
            conn(ObjectSchema::new())
                .req("secret_id", Ty::String, "name or ARN")
                .opt(
                    "rotation_lambda_arn",
                    Ty::String,
                    "rotation function (default: the one configured)",
                )
                .opt(
                    "rotate_immediately",
                    Ty::Boolean,
                    "rotate now rather than at the next window (default true)",
                )
                .opt(
                    "automatically_after_days",
                    Ty::int_range(1, 1000),
                    "set the rotation schedule too",
                ),
        ),
        spec(
            "aws.secretsmanager.update_version_stage",
            "Move a staging label (AWSCURRENT, AWSPREVIOUS...) to another version of a secret",
            true,
            Reconcile::Supported,
            conn(ObjectSchema::new())
                .req("secret_id", Ty::String, "name or ARN")
                .req("version_stage", Ty::String, "the label, e.g. AWSCURRENT")
                .req("move_to_version_id", Ty::String, "the version that gets it")
                .opt(
                    "remove_from_version_id",
                    Ty::String,
                    "the version that has it now (default: looked up)",
                ),
        ),
    ]
}
