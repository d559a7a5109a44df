//! Evidence: what a run did, and proof that the record of it is the one that was made.
//!
//! - [`report`]: run reports against their objectives, and trends.
//! - [`audit`]: exports of whole runs with their hash chains, and checking them and the
//!   store.
//!
//! Audit evidence that holds against whoever can write the database:
//!
//! The hash chains and the ledger (`drctl-store`) are unkeyed: anyone who can write the
//! database file can rewrite a run and recompute every hash after it. A server holding an
//! Ed25519 key signs each ledger entry as it appears; the signatures are stored (and can
//! be published elsewhere), and a rewritten history no longer matches them.
//!
//! - [`keys`]: the signing key file, the public key, fingerprints, signing and checking
//!   one head.
//! - [`heads`]: checking a ledger against its signed heads, naming the first run whose
//!   history no longer matches.

pub mod audit;
pub mod heads;
pub mod keys;
pub mod report;

pub use heads::{Checked, Mismatch, check, sign};
pub use keys::{KeyError, PublicKey, SigningKey};
