//! Azure: the specs of the actions `drctl-azure` implements. Azure's Rust SDK covers the
//! data planes only, so these management calls are Azure Resource Manager REST requests
//! with the documented `api-version`, sent through the shared HTTP client with tokens
//! from `azure_identity`: Traffic Manager endpoints, a Cosmos DB account's failover
//! priorities, and the promotion of an Azure Database for PostgreSQL flexible server
//! replica. Key Vault keys (read the versions, rotate) go through Azure's own data-plane
//! crate, `azure_security_keyvault_keys`, to the vault's URL.
//!
//! The specs live here, not in `drctl-azure`, so that every build validates and plans
//! runbooks that call Azure; a build without the `azure` feature knows them but cannot
//! run them. Every action takes `subscription_id` and `resource_group`, and `endpoint`
//! for another Resource Manager (a sovereign cloud, a test double).

use drctl_core::{ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// Where a resource is: subscription, resource group, and the Resource Manager.
fn arm(schema: ObjectSchema) -> ObjectSchema {
    schema
        .req("subscription_id", Ty::String, "the subscription's id")
        .req("resource_group", Ty::String, "the resource group")
        .opt(
            "endpoint",
            Ty::String,
            "another Resource Manager (a sovereign cloud, a test double); default https://management.azure.com",
        )
}

/// A key of a Key Vault.
fn vault_key(schema: ObjectSchema) -> ObjectSchema {
    schema
        .req(
            "vault_url",
            Ty::String,
            "the vault, e.g. https://mantissa-kv.vault.azure.net",
        )
        .req("key", Ty::String, "the key's name")
}

fn waits(schema: ObjectSchema, what: &str) -> ObjectSchema {
    schema
        .opt("wait", Ty::Boolean, what)
        .opt(
            "interval",
            Ty::Duration,
            "between polls when Azure sends no Retry-After (default 5s)",
        )
        .opt("timeout", Ty::Duration, "give up waiting after this long")
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "azure.trafficmanager.set_endpoint",
            "Enable or disable a Traffic Manager endpoint, or set its weight or priority, and read it back",
            // The same values however often they are sent.
            true,
            Reconcile::Supported,
            arm(ObjectSchema::new())
                .req("profile", Ty::String, "the Traffic Manager profile")
                .req("endpoint_name", Ty::String, "the endpoint's name")
                .opt(
                    "endpoint_type",
                    Ty::one_of_strings(&["AzureEndpoints", "ExternalEndpoints", "NestedEndpoints"]),
                    "default AzureEndpoints",
                )
                .opt(
                    "status",
                    Ty::one_of_strings(&["Enabled", "Disabled"]),
                    "the endpoint's status",
                )
                .opt("weight", Ty::int_range(1, 1000), "weighted routing share")
                .opt(
                    "priority",
                    Ty::int_range(1, 1000),
                    "priority routing order (1 first)",
                )
                .at_least_one(&["status", "weight", "priority"]),
        ),
        spec(
            "azure.cosmosdb.failover_priority_change",
            "Change a Cosmos DB account's failover priorities (priority 0 takes the writes) and wait until the account settles",
            // Sets the whole list: sending it again changes nothing.
            true,
            Reconcile::Supported,
            waits(
                arm(ObjectSchema::new())
                    .req("account", Ty::String, "the database account")
                    .req(
                        "failover_policies",
                        Ty::list(Ty::Object(
                            ObjectSchema::new()
                                .req("location_name", Ty::String, "a region, e.g. West US 2")
                                .req(
                                    "failover_priority",
                                    Ty::int_range(0, 100),
                                    "0 is the write region",
                                ),
                        )),
                        "every region of the account with its new priority",
                    ),
                "wait for the operation and the account (default true)",
            ),
        ),
        spec(
            "azure.postgres.promote_replica",
            "Promote an Azure Database for PostgreSQL flexible server read replica to a standalone server",
            // Never repeated blindly: reconcile reads the server's replication role.
            false,
            Reconcile::Supported,
            waits(
                arm(ObjectSchema::new())
                    .req("server", Ty::String, "the replica server")
                    .opt(
                        "promote_option",
                        Ty::one_of_strings(&["planned", "forced"]),
                        "planned (default: waits for the replica to catch up) or forced",
                    ),
                "wait for the operation to end (default true)",
            ),
        ),
        spec(
            "azure.keyvault.get_key",
            "Read a Key Vault key: its current version and every version with its state",
            true,
            Reconcile::Supported,
            vault_key(ObjectSchema::new()),
        ),
        spec(
            "azure.keyvault.rotate_key",
            "Rotate a Key Vault key (a new version becomes current), only while `from_version` is still current",
            // Each call adds a version: reconcile looks for one newer than `from_version`.
            false,
            Reconcile::Supported,
            vault_key(ObjectSchema::new()).req(
                "from_version",
                Ty::String,
                "the key's current version, which this rotation replaces: after a crash, a newer current version means done",
            ),
        ),
    ]
}
