//! Running the binary the way the e2e tests need it.

use std::path::Path;
use std::process::Command;

/// drctl with its database in `dir` (and `dir` as working directory), as OS user `user`,
/// without colour and without a configuration file from the machine.
pub(crate) fn drctl_in(dir: &Path, user: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drctl"));
    cmd.current_dir(dir)
        .env("DRCTL_DB", dir.join("runs.db"))
        .env("NO_COLOR", "1")
        .env("USER", user)
        .env_remove("DRCTL_CONFIG");
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
