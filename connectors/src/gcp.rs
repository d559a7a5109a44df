//! GCP: the specs of the actions `drctl-gcp` implements through Google's official Rust
//! client libraries (Cloud SQL Admin, Memorystore for Redis, Compute Engine backend
//! services, Cloud DNS, Cloud KMS).
//!
//! The specs live here, not in `drctl-gcp`, so that every build validates and plans
//! runbooks that call GCP; a build without the `gcp` feature knows them but cannot run
//! them. Every action takes `project` and, for a private endpoint or a test double,
//! `endpoint`. Credentials are Application Default Credentials, or the access token in
//! `GOOGLE_OAUTH_ACCESS_TOKEN` when it is set (e.g. from `gcloud auth print-access-token`).

use drctl_core::{ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// Connection settings common to every GCP action.
fn conn(schema: ObjectSchema) -> ObjectSchema {
    schema
        .req("project", Ty::String, "the project id, e.g. shop-prod")
        .opt(
            "endpoint",
            Ty::String,
            "another API root (a private endpoint, a test double); default Google's",
        )
}

/// How a step waits for a long-running operation or an eventually consistent state.
fn waits(schema: ObjectSchema, what: &str) -> ObjectSchema {
    schema
        .opt("wait", Ty::Boolean, what)
        .opt(
            "interval",
            Ty::Duration,
            "between polls while waiting (default 5s)",
        )
        .opt("timeout", Ty::Duration, "give up waiting after this long")
}

/// A Cloud KMS key: project, location, key ring and key.
fn key(schema: ObjectSchema) -> ObjectSchema {
    conn(schema)
        .req(
            "location",
            Ty::String,
            "the key ring's location, e.g. global",
        )
        .req("key_ring", Ty::String, "the key ring")
        .req("key", Ty::String, "the crypto key")
}

fn record_set() -> Ty {
    Ty::Object(
        ObjectSchema::new()
            .req("name", Ty::String, "fully qualified, e.g. app.example.com.")
            .req(
                "type",
                Ty::one_of_strings(&["A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA", "PTR"]),
                "record type",
            )
            .opt(
                "ttl",
                Ty::int_range(0, 2_147_483_647),
                "seconds (default 60)",
            )
            .req("rrdatas", Ty::list(Ty::String), "the values")
            .opt(
                "expect",
                Ty::list(Ty::String),
                "only change it if its values are these now (or already the new ones); [] = absent",
            ),
    )
}

fn backend() -> Ty {
    Ty::Object(
        ObjectSchema::new()
            .req(
                "group",
                Ty::String,
                "the backend's instance group or NEG: its URL, or the part from `projects/` or `regions/`/`zones/` on",
            )
            .opt(
                "capacity_scaler",
                Ty::number_range(0.0, 1.0),
                "share of the backend's capacity to use: 0 drains it, else 0.1 to 1",
            )
            .opt(
                "max_rate_per_instance",
                Ty::number_range(0.0, 1.0e9),
                "requests per second per instance (RATE balancing)",
            )
            .opt(
                "max_utilization",
                Ty::number_range(0.0, 1.0),
                "target CPU utilization (UTILIZATION balancing)",
            )
            .at_least_one(&["capacity_scaler", "max_rate_per_instance", "max_utilization"]),
    )
}

fn kms_version(summary: &str, name: &str, idempotent: bool) -> ActionSpec {
    spec(
        name,
        summary,
        idempotent,
        Reconcile::Supported,
        key(ObjectSchema::new()).req(
            "version",
            Ty::OneOf(vec![Ty::int_min(1), Ty::String]),
            "the key version's number",
        ),
    )
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "gcp.sql.promote_replica",
            "Promote a Cloud SQL read replica to a standalone primary and wait for the operation",
            // Never repeated blindly: reconcile reads the instance and its operations.
            false,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new()).req("instance", Ty::String, "the read replica"),
                "wait for the operation to end (default true)",
            ),
        ),
        spec(
            "gcp.sql.failover",
            "Fail a Cloud SQL high-availability instance over to its standby zone",
            // A second failover moves it back: reconcile reads the zone and operations.
            false,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("instance", Ty::String, "the HA primary")
                    .req(
                        "from_zone",
                        Ty::String,
                        "the zone it serves from now: after a crash, a primary elsewhere means done",
                    ),
                "wait for the operation to end (default true)",
            ),
        ),
        spec(
            "gcp.sql.clone_to_time",
            "Restore a Cloud SQL instance to a point in time, as a new instance (a clone)",
            false,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("instance", Ty::String, "the source instance")
                    .req("destination", Ty::String, "the new instance's name")
                    .req(
                        "point_in_time",
                        Ty::String,
                        "RFC 3339 time to restore to, e.g. 2026-03-01T09:30:00Z",
                    ),
                "wait for the operation to end (default true)",
            ),
        ),
        spec(
            "gcp.redis.failover",
            "Fail a Memorystore for Redis (Standard tier) instance over to its replica",
            false,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("region", Ty::String, "the instance's region, e.g. europe-west1")
                    .req("instance", Ty::String, "the instance id")
                    .opt(
                        "data_protection_mode",
                        Ty::one_of_strings(&["LIMITED_DATA_LOSS", "FORCE_DATA_LOSS"]),
                        "default LIMITED_DATA_LOSS: refuse if the replica lags too far",
                    )
                    .req(
                        "from_zone",
                        Ty::String,
                        "the zone its primary serves from now: after a crash, a primary elsewhere means done",
                    ),
                "wait for the operation to end (default true)",
            ),
        ),
        spec(
            "gcp.compute.set_backends",
            "Set the capacity scaler (or rate, utilization) of a backend service's backends, and read it back",
            // The same values however often it is sent.
            true,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("backend_service", Ty::String, "the backend service's name")
                    .opt(
                        "region",
                        Ty::String,
                        "for a regional backend service (default: a global one)",
                    )
                    .req(
                        "backends",
                        Ty::list(backend()),
                        "the backends to change; the others keep their settings",
                    ),
                "wait for the operation to end (default true)",
            ),
        ),
        spec(
            "gcp.dns.change_records",
            "Replace Cloud DNS record sets, optionally only if they hold the expected values, and wait until done",
            // Replacing with the same values changes nothing.
            true,
            Reconcile::Supported,
            waits(
                conn(ObjectSchema::new())
                    .req("managed_zone", Ty::String, "the managed zone's name")
                    .req(
                        "changes",
                        Ty::list(record_set()),
                        "record sets to create or replace",
                    ),
                "wait until the change is done (default true)",
            ),
        ),
        spec(
            "gcp.kms.get_key",
            "Read a Cloud KMS key: its primary version and every version's state",
            true,
            Reconcile::Supported,
            key(ObjectSchema::new()),
        ),
        spec(
            "gcp.kms.create_version",
            "Create a new version of a Cloud KMS key and, by default, make it primary",
            // Each call adds a version: reconcile looks for one newer than `newer_than`.
            false,
            Reconcile::Supported,
            key(ObjectSchema::new())
                .opt(
                    "primary",
                    Ty::Boolean,
                    "make the new version primary (default true; symmetric keys)",
                )
                .req(
                    "newer_than",
                    Ty::OneOf(vec![Ty::int_min(1), Ty::String]),
                    "the version this rotation replaces (an existing one): after a crash, an enabled version above it means done",
                ),
        ),
        kms_version(
            "Make a Cloud KMS key version the key's primary",
            "gcp.kms.set_primary",
            true,
        ),
        kms_version(
            "Disable a Cloud KMS key version (refused for the primary)",
            "gcp.kms.disable_version",
            true,
        ),
        kms_version(
            "Schedule the destruction of a Cloud KMS key version (refused for the primary)",
            "gcp.kms.destroy_version",
            true,
        ),
        spec(
            "gcp.kms.rewrap",
            "Decrypt a ciphertext and encrypt it again with the key's primary version",
            true,
            Reconcile::Supported,
            key(ObjectSchema::new()).req(
                "ciphertext",
                Ty::String,
                "base64, as Cloud KMS returned it",
            ),
        ),
    ]
}
