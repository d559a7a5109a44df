//! Running the binary the way the e2e tests need it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The OS user the tests run as (the passwd name of the real uid, as drctl reads it).
pub(crate) fn os_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "unknown".into(), |u| u.name)
}

/// Writes a configuration into a fresh directory of its own (not writable by anyone but
/// its owner, as drctl requires of a file that grants privileges) and returns its path.
pub(crate) fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drctl-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("drctl.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A configuration that lets the tests' OS user act as anyone, so that each test can
/// play several people with `--as`.
pub(crate) fn act_as_anyone() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let text = format!("[identity]\nact_as = {{ {} = [\"*\"] }}\n", os_user());
        config_file("anyone", &text)
    })
}

/// drctl with its database in `dir` (and `dir` as working directory), acting as `user`
/// (`--as`, allowed by `act_as_anyone` unless the caller names another configuration),
/// without colour.
pub(crate) fn drctl_in(dir: &Path, user: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drctl"));
    cmd.current_dir(dir)
        .env("DRCTL_DB", dir.join("runs.db"))
        .env("NO_COLOR", "1")
        .env("DRCTL_CONFIG", act_as_anyone())
        .env_remove("DRCTL_FAULT");
    if user != os_user() {
        cmd.args(["--as", user]);
    }
    cmd
}

/// Runs it to the end: the exit code and everything it printed, stdout then stderr.
pub(crate) fn finish(cmd: &mut Command) -> (i32, String) {
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

/// Waits (up to 30 s) until `file` holds one of `any`, and returns its text: what a
/// background drctl printed so far.
pub(crate) fn wait_for_text(file: &Path, any: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let got = std::fs::read_to_string(file).unwrap_or_default();
        if any.iter().any(|t| got.contains(t)) {
            return got;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "none of {any:?} in {}:\n{got}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
