//! The server's Ed25519 key.
//!
//! Files are one line of text, so they can be read, copied and compared by people:
//! - the signing key: `drctl-ed25519-secret <base64 of its PKCS#8 document>`; it stays on
//!   the server, readable by its owner alone;
//! - the public key: `drctl-ed25519 <base64 of the 32 key bytes>`; auditors hold it.
//!
//! A fingerprint (`sha256:` and 16 hex digits of the public key's SHA-256) names a key in
//! stored signatures and exports without repeating it.
//!
//! What is signed for a ledger entry is `drctl-ledger-head/1\n{seq}\n{run}\n{hash}\n`: the
//! entry's number, run and hash, which (through the chain) vouch for every entry and every
//! run head before it.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

const SECRET_TAG: &str = "drctl-ed25519-secret";
const PUBLIC_TAG: &str = "drctl-ed25519";

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Malformed(String),
    #[error("cannot make a key: {0}")]
    Generate(String),
    #[error("{0}")]
    Exposed(String),
}

/// The signing half, held by a server.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.public.fingerprint())
            .finish_non_exhaustive()
    }
}

/// The checking half, held by auditors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl SigningKey {
    /// A new key, and its file's text.
    pub fn generate() -> Result<(Self, String), KeyError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let text = format!("{SECRET_TAG} {}\n", STANDARD.encode(doc.as_ref()));
        Ok((Self::parse(&text)?, text))
    }

    /// A key from its file's text.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_TAG)
            .map(str::trim)
            .ok_or_else(|| {
                KeyError::Malformed(format!(
                    "not a drctl signing key (it starts `{SECRET_TAG} `; make one with `drctl key create`)"
                ))
            })?;
        let doc = STANDARD
            .decode(encoded)
            .map_err(|_| KeyError::Malformed("the signing key is not valid base64".into()))?;
        let pair = Ed25519KeyPair::from_pkcs8(&doc)
            .map_err(|_| KeyError::Malformed("the signing key is not an Ed25519 key".into()))?;
        let bytes: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| KeyError::Malformed("the public key is not 32 bytes".into()))?;
        Ok(Self {
            pair,
            public: PublicKey(bytes),
        })
    }

    /// The key in `path`, which nobody but its owner may read or write (whoever reads it
    /// can sign a forged history).
    pub fn load(path: &std::path::Path) -> Result<Self, KeyError> {
        use std::os::unix::fs::PermissionsExt as _;
        let unreadable =
            |e: std::io::Error| KeyError::Malformed(format!("cannot read {}: {e}", path.display()));
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyError::Exposed(format!(
                "{} may be read or written by others (mode {:o}): `chmod 600` it",
                path.display(),
                meta.permissions().mode() & 0o777
            )));
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        Self::parse(&text).map_err(|e| KeyError::Malformed(format!("{}: {e}", path.display())))
    }

    /// Writes a new key to `path` (which must not exist), readable by its owner alone.
    pub fn create(path: &std::path::Path) -> Result<Self, KeyError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let (key, text) = Self::generate()?;
        let cannot = |e: std::io::Error| KeyError::Generate(format!("{}: {e}", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(cannot)?;
        file.write_all(text.as_bytes()).map_err(cannot)?;
        file.sync_all().map_err(cannot)?;
        Ok(key)
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The signature (base64) of a ledger entry's head: its number, its run, its hash.
    pub fn sign_head(&self, seq: u64, run: &str, hash: &str) -> String {
        STANDARD.encode(self.pair.sign(&message(seq, run, hash)).as_ref())
    }
}

impl PublicKey {
    /// A public key from its text (`drctl-ed25519 <base64>`).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let encoded = text
            .trim()
            .strip_prefix(PUBLIC_TAG)
            .filter(|rest| rest.starts_with(' '))
            .map(str::trim)
            .ok_or_else(|| {
                KeyError::Malformed(format!(
                    "not a drctl public key (it reads `{PUBLIC_TAG} <base64>`, as `drctl key create` prints)"
                ))
            })?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| KeyError::Malformed("the public key is not valid base64".into()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Malformed("the public key is not 32 bytes".into()))?;
        Ok(Self(bytes))
    }

    /// The key as text, for a file.
    pub fn text(&self) -> String {
        format!("{PUBLIC_TAG} {}", STANDARD.encode(self.0))
    }

    /// `sha256:` and 16 hex digits.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0);
        format!("sha256:{}", hex::encode(&digest[..8]))
    }

    /// Whether `signature` (base64) is this key's over the head.
    pub fn verifies(&self, seq: u64, run: &str, hash: &str, signature: &str) -> bool {
        let Ok(sig) = STANDARD.decode(signature.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, self.0)
            .verify(&message(seq, run, hash), &sig)
            .is_ok()
    }
}

fn message(seq: u64, run: &str, hash: &str) -> Vec<u8> {
    format!("drctl-ledger-head/1\n{seq}\n{run}\n{hash}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_head_only() {
        let (key, text) = SigningKey::generate().unwrap();
        let again = SigningKey::parse(&text).unwrap();
        assert_eq!(key.public(), again.public());
        let public = PublicKey::parse(&key.public().text()).unwrap();
        let sig = key.sign_head(7, "run_a", "abc");
        assert!(public.verifies(7, "run_a", "abc", &sig));
        assert!(!public.verifies(8, "run_a", "abc", &sig));
        assert!(!public.verifies(7, "run_b", "abc", &sig));
        assert!(!public.verifies(7, "run_a", "abd", &sig));
        assert!(!public.verifies(7, "run_a", "abc", "bm90IGEgc2lnbmF0dXJl"));
        let (other, _) = SigningKey::generate().unwrap();
        assert!(!other.public().verifies(7, "run_a", "abc", &sig));
        assert_ne!(other.public().fingerprint(), public.fingerprint());
        assert!(!format!("{key:?}").contains(text.split(' ').nth(1).unwrap().trim()));
    }

    #[test]
    fn malformed_keys_are_refused_with_what_was_expected() {
        for bad in [
            "",
            "drctl-ed25519",
            "drctl-ed25519 !!",
            "drctl-ed25519 AAAA",
            "ssh-ed25519 AAAA",
        ] {
            let e = PublicKey::parse(bad).unwrap_err().to_string();
            assert!(e.contains("public key"), "{bad}: {e}");
        }
        for bad in [
            "",
            "drctl-ed25519-secret",
            "drctl-ed25519-secret AAAA",
            "drctl-ed25519 AAAA",
        ] {
            let e = SigningKey::parse(bad).unwrap_err().to_string();
            assert!(e.contains("signing key"), "{bad}: {e}");
        }
    }
}
