//! Who drives a run: `host@pidns:pid:nonce`. A lease names its owner, so that a new
//! process that sees the same processes (same host, same pid namespace) can tell at once
//! that the owner died (its pid is gone) and take the run over, instead of waiting for
//! the lease to expire.
//!
//! The pid namespace matters: two containers (or a `hostNetwork` pod and the host) can
//! share a hostname and each have a pid 9 of its own; a pid that one cannot see is not a
//! dead owner there. An owner from another namespace, another host, or an older drctl
//! whose id has no namespace is never taken for dead: its lease decides.

/// This host's name, as the kernel knows it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// Where this process's pids mean something: `hostname@pidns`, the pid namespace as its
/// inode (`pid:[4026531836]` read from `/proc/self/ns/pid`). Read once: a scan asks it
/// for every run it looks at.
pub fn process_space() -> String {
    static SPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SPACE
        .get_or_init(|| {
            let ns = std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .and_then(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("pid:[")?.strip_suffix(']')?.to_owned())
                })
                .unwrap_or_else(|| "unknown".to_owned());
            format!("{}@{ns}", hostname())
        })
        .clone()
}

/// A new owner id for this process.
pub fn worker_id() -> String {
    format!(
        "{}:{}:{:08x}",
        process_space(),
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Whether `owner` is a process of this host and pid namespace that no longer runs:
/// gone, or a zombie (dead, waiting for its parent to collect its exit status).
pub fn is_dead_local(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (_nonce, pid, space) = (parts.next(), parts.next(), parts.next());
    match (space, pid.and_then(|p| p.parse::<u32>().ok())) {
        (Some(space), Some(pid))
            if !space.ends_with("@unknown")
                && space == process_space()
                && pid != std::process::id() =>
        {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                // `pid (comm) S ...`: the state follows the last `)` (comm may hold any).
                Ok(stat) => stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .is_some_and(|state| state == "Z" || state == "X"),
                Err(_) => true,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_local_owners_are_recognised() {
        let me = worker_id();
        assert!(!is_dead_local(&me), "this process is alive");
        assert!(
            is_dead_local(&format!("{}:{}:0", process_space(), u32::MAX - 7)),
            "no such pid"
        );
        assert!(!is_dead_local("elsewhere:1:0"), "another host: cannot tell");
        assert!(
            !is_dead_local(&format!("{}@1:{}:0", hostname(), u32::MAX - 7)),
            "another pid namespace of this host: cannot tell"
        );
        assert!(
            !is_dead_local(&format!("{}:{}:0", hostname(), u32::MAX - 7)),
            "an owner id without a namespace: cannot tell"
        );
        // A child that exited and was not waited for is a zombie: dead.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let owner = format!("{}:{}:0", process_space(), child.id());
        let start = std::time::Instant::now();
        while !is_dead_local(&owner) {
            assert!(start.elapsed().as_secs() < 10, "the zombie counts as dead");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.wait().unwrap();
        assert!(is_dead_local(&owner));
        assert!(!is_dead_local("garbage"));
    }
}
