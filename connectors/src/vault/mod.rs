//! Vault / OpenBao: transit keys and KV secrets through the HTTP API.
//!
//! - [`api`]: one session per call (token, or an AppRole login revoked at the end) and
//!   Vault's status codes sorted into retryable and permanent errors.
//! - [`transit`]: `vault.transit.read_key`, `rotate`, `rewrap`,
//!   `set_min_decryption_version`; outputs hold key versions, never key material.
//! - [`kv`]: `vault.kv.put`, `vault.kv.get` (KV v2); values are written, never returned.

mod api;
mod kv;
mod transit;

use std::sync::Arc;

use drctl_core::{Action, ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::core::http::Client;
use crate::spec::spec;

/// The implemented Vault actions, for the specs given.
pub(crate) fn actions(specs: &[ActionSpec], client: &Arc<Client>) -> Vec<Arc<dyn Action>> {
    let mut out: Vec<Arc<dyn Action>> = Vec::new();
    for s in specs {
        let spec = s.clone();
        let client = client.clone();
        match s.name.as_str() {
            "vault.transit.read_key" => out.push(Arc::new(transit::ReadKey { spec, client })),
            "vault.transit.rotate" => out.push(Arc::new(transit::Rotate { spec, client })),
            "vault.transit.rewrap" => out.push(Arc::new(transit::Rewrap { spec, client })),
            "vault.transit.set_min_decryption_version" => {
                out.push(Arc::new(transit::SetMinDecryption { spec, client }));
            }
            "vault.kv.put" => out.push(Arc::new(kv::Put { spec, client })),
            "vault.kv.get" => out.push(Arc::new(kv::Get { spec, client })),
            _ => {}
        }
    }
    out
}

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
        .opt(
            "auth_mount",
            Ty::String,
            "AppRole auth mount path (default approle)",
        )
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
            "vault.transit.read_key",
            "Read a transit key's versions: latest, minimum for decryption and encryption",
            true,
            Reconcile::Supported,
            transit(ObjectSchema::new()),
        ),
        spec(
            "vault.transit.rotate",
            "Rotate a transit key to a new version; returns versions, never key material",
            // A repeat would add another version: after a crash, reconcile compares the
            // key's latest version with `if_version`.
            false,
            Reconcile::Supported,
            transit(ObjectSchema::new()).opt(
                "if_version",
                Ty::int_min(1),
                "rotate only if the key is at this version; a key already past it counts as \
                 rotated (safe to repeat, and how a crash is reconciled)",
            ),
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
