//! Vault / OpenBao: transit keys and KV secrets through the HTTP API.

use drctl_core::{ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// Address and authentication, common to every Vault action: a token, or AppRole.
fn auth(schema: ObjectSchema) -> ObjectSchema {
    schema
        .req(
            "address",
            Ty::String,
            "Vault address, e.g. https://vault:8200",
        )
        .opt_secret("token", Ty::String, "token auth")
        .opt("role_id", Ty::String, "AppRole auth: role id")
        .opt_secret("secret_id", Ty::String, "AppRole auth: secret id")
        .opt("namespace", Ty::String, "Vault namespace")
        .exclusive(&["token", "role_id"])
        .at_least_one(&["token", "role_id"])
}

fn transit(schema: ObjectSchema) -> ObjectSchema {
    auth(schema)
        .opt("mount", Ty::String, "transit mount path (default transit)")
        .req("key", Ty::String, "transit key name")
}

fn kv(schema: ObjectSchema) -> ObjectSchema {
    auth(schema)
        .opt("mount", Ty::String, "KV v2 mount path (default secret)")
        .req("path", Ty::String, "secret path under the mount")
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "vault.transit.rotate",
            "Rotate a transit key to a new version; returns versions, never key material",
            false,
            Reconcile::Supported,
            transit(ObjectSchema::new()),
        ),
        spec(
            "vault.transit.rewrap",
            "Rewrap ciphertexts to the key's latest version without exposing plaintext",
            true,
            Reconcile::Supported,
            transit(ObjectSchema::new())
                .req(
                    "ciphertexts",
                    Ty::list(Ty::String),
                    "vault:vN:... ciphertexts",
                )
                .opt(
                    "key_version",
                    Ty::int_min(1),
                    "target version (default latest)",
                ),
        ),
        spec(
            "vault.transit.set_min_decryption_version",
            "Refuse decryption with key versions older than this",
            true,
            Reconcile::Supported,
            transit(ObjectSchema::new()).req(
                "min_decryption_version",
                Ty::int_min(1),
                "oldest version still accepted",
            ),
        ),
        spec(
            "vault.kv.put",
            "Write a new version of a KV v2 secret",
            false,
            Reconcile::Unsupported,
            kv(ObjectSchema::new())
                .req(
                    "data",
                    Ty::map(Ty::Any),
                    "the secret's fields; take values from `secrets`",
                )
                .opt(
                    "cas",
                    Ty::int_min(0),
                    "check-and-set: write only if the current version is this",
                ),
        ),
        spec(
            "vault.kv.get",
            "Read a KV v2 secret's metadata and field names (values stay masked)",
            true,
            Reconcile::Supported,
            kv(ObjectSchema::new()).opt("version", Ty::int_min(1), "a specific version"),
        ),
    ]
}
