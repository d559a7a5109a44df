//! Whether a configuration may grant privileges. `[groups]`, `[identity] act_as`,
//! `[[approval_policy]]`, `[[serve.token]]` and `[serve] runbooks` decide who may approve a
//! failover, who may act as whom, and what the API may run, so a
//! file that grants them is only as trustworthy as the people who can change it: the
//! invoking user must not be able to write it, nor replace it (write a directory on its
//! path), and neither may its group or everyone else. The check reads permissions, not
//! intentions: root can write anything, so for root only the group and other bits count.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, access, getuid};

/// Why `path` cannot be trusted to grant privileges, or `Ok` when it can.
pub(crate) fn check(path: &Path) -> Result<(), String> {
    let real = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    let mut seen = Vec::new();
    // The path as given (a symlink in a writable directory can be pointed elsewhere) and
    // the file it resolves to, each with every directory above it.
    for start in [absolute(path), real] {
        let mut below: Option<u32> = None;
        for p in start.ancestors() {
            let owner = std::fs::symlink_metadata(p).ok().map(|m| m.uid());
            if !seen.iter().any(|s: &PathBuf| s == p) {
                seen.push(p.to_path_buf());
                why_untrusted(p, below)?;
            }
            below = owner;
        }
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
}

/// One component of the path: its owner and mode (not following a symlink). `below` is
/// the owner of the component under it: in a sticky directory (`/tmp`), only a file's
/// owner can replace it, so writing the directory matters only for one's own entries.
fn why_untrusted(p: &Path, below: Option<u32>) -> Result<(), String> {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        // `..` and the like: the canonical walk covers what exists.
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        // Its target is walked too; who may change the link is its directory's question.
        return Ok(());
    }
    let me = getuid();
    let shown = p.display();
    let mode = meta.permissions().mode();
    let sticky = meta.is_dir() && mode & 0o1000 != 0;
    if !me.is_root() {
        if meta.uid() == me.as_raw() {
            return Err(format!("you own {shown}"));
        }
        let guarded = sticky && below != Some(me.as_raw());
        if !guarded && access(p, AccessFlags::W_OK).is_ok() {
            return Err(format!("you can write to {shown}"));
        }
    }
    let shared_write = mode & 0o022 != 0;
    if shared_write && !sticky {
        return Err(format!(
            "{shown} is writable by its group or by everyone (mode {:o})",
            mode & 0o7777
        ));
    }
    Ok(())
}
