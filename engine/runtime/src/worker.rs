//! Who drives a run: `host:pid:nonce`. A lease names its owner, so that a new process on
//! the same host can tell at once that the owner died (its pid is gone) and take the run
//! over, instead of waiting for the lease to expire.

/// This host's name, as the kernel knows it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// A new owner id for this process.
pub fn worker_id() -> String {
    format!(
        "{}:{}:{:08x}",
        hostname(),
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Whether `owner` is a process of this host that no longer runs: gone, or a zombie
/// (dead, waiting for its parent to collect its exit status).
pub fn is_dead_local(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (_nonce, pid, host) = (parts.next(), parts.next(), parts.next());
    match (host, pid.and_then(|p| p.parse::<u32>().ok())) {
        (Some(host), Some(pid)) if host == hostname() && pid != std::process::id() => {
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
            is_dead_local(&format!("{}:{}:0", hostname(), u32::MAX - 7)),
            "no such pid"
        );
        assert!(!is_dead_local("elsewhere:1:0"), "another host: cannot tell");
        // A child that exited and was not waited for is a zombie: dead.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let owner = format!("{}:{}:0", hostname(), child.id());
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
