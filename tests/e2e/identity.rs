//! Nobody approves as someone else: the OS identity is the real uid's passwd name (never
//! `USER`), and the configuration that grants groups and `act_as` is one the invoking
//! user cannot write. Run as root, these tests play the unprivileged user `nobody`
//! (uid 65534) with its own copy of the binary.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::{config_file, drctl_in, finish, os_user, wait_for_text};

const NOBODY: u32 = 65534;

const GATE: &str = r#"runbook: guarded
steps:
  - id: gate
    approval: { approvers: [group:sre, group:dba], min: 2, distinct_groups: true, timeout: 10m }
  - { id: promote, needs: [gate], action: log, with: { message: promoted } }
"#;

struct Place {
    /// Writable by nobody: the database, the runbook, nobody's working directory.
    dir: PathBuf,
    /// Root's configuration: groups, and root may act as anyone.
    config: PathBuf,
    /// A copy of drctl that nobody may execute.
    bin: PathBuf,
}

impl Place {
    fn new(name: &str) -> Option<Self> {
        if !nix::unistd::getuid().is_root() {
            // Only root can become `nobody`; CI runs as root.
            println!("skipped: playing another user needs root");
            return None;
        }
        let dir =
            std::env::temp_dir().join(format!("drctl-identity-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.join("gate.yaml"), GATE).unwrap();
        let bin_dir = std::env::temp_dir().join(format!("drctl-bin-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&bin_dir).unwrap();
        let bin = bin_dir.join("drctl");
        std::fs::copy(env!("CARGO_BIN_EXE_drctl"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = config_file(
            &format!("identity-{name}"),
            &format!(
                "[groups]\nsre = [\"alice\", \"bob\"]\ndba = [\"carol\"]\n\n[identity]\nact_as = {{ {} = [\"*\"] }}\n",
                os_user()
            ),
        );
        Some(Self { dir, config, bin })
    }

    /// drctl as the OS user `nobody`, with `USER` saying alice.
    fn nobody(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.uid(NOBODY)
            .gid(NOBODY)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.dir)
            .env("USER", "alice")
            .env("LOGNAME", "alice")
            .env("NO_COLOR", "1")
            .env("DRCTL_DB", self.dir.join("runs.db"))
            .env("DRCTL_CONFIG", &self.config)
            .args(args);
        cmd
    }

    /// drctl as root acting as `who` under the root-owned configuration.
    fn root_as(&self, who: &str, args: &[&str]) -> (i32, String) {
        finish(
            drctl_in(&self.dir, who)
                .env("DRCTL_CONFIG", &self.config)
                .args(args),
        )
    }

    fn start_run(&self) -> (Child, String) {
        let out = std::fs::File::create(self.dir.join("run.out")).unwrap();
        std::fs::set_permissions(
            self.dir.join("run.out"),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        let child = self
            .nobody(&["run", "gate.yaml"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let id = self.wait_for_gate();
        (child, id)
    }

    /// The run's id, once its gate waits.
    fn wait_for_gate(&self) -> String {
        let text = wait_for_text(&self.dir.join("run.out"), &["waits for approval"]);
        text.split_whitespace().nth(1).unwrap().to_owned()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        for p in [&self.config, &self.bin] {
            if let Some(dir) = p.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

fn output(cmd: &mut Command) -> (i32, String) {
    finish(cmd)
}

#[test]
fn user_in_the_environment_is_not_an_identity() {
    let Some(place) = Place::new("env") else {
        return;
    };
    let (mut run, id) = place.start_run();

    // USER=alice, but the process is nobody's: nobody is in no approver group.
    let (code, said) = output(&mut place.nobody(&["approve", &id, "gate", "-m", "ok"]));
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("nobody is not among the approvers"), "{said}");
    // And nobody may not claim to be alice either.
    let (code, said) =
        output(&mut place.nobody(&["--as", "alice", "approve", &id, "gate", "-m", "ok"]));
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("nobody may not act as alice"), "{said}");

    // Entitled people decide; the run goes on.
    let (code, said) = place.root_as("bob", &["approve", &id, "gate", "-m", "lag 0"]);
    assert_eq!(code, 0, "{said}");
    let (code, said) = place.root_as("carol", &["approve", &id, "gate", "-m", "dba ok"]);
    assert_eq!(code, 0, "{said}");
    assert_eq!(run.wait().unwrap().code(), Some(0));
    let (_, logs) = place.root_as("bob", &["logs", &id]);
    assert!(
        logs.contains("bob approved gate") && logs.contains("carol approved gate"),
        "{logs}"
    );
    assert!(
        !logs.contains("alice approved") && !logs.contains("nobody approved"),
        "{logs}"
    );
    let (_, shown) = place.root_as("bob", &["ls"]);
    assert!(
        shown.contains("nobody"),
        "the run is nobody's, whatever USER said: {shown}"
    );
}

#[test]
fn a_configuration_the_user_can_write_grants_nothing() {
    let Some(place) = Place::new("writable") else {
        return;
    };
    let (mut run, id) = place.start_run();
    let mine = place.dir.join("drctl.toml");
    std::fs::write(
        &mine,
        "[groups]\nsre = [\"nobody\"]\ndba = [\"nobody\"]\n\n[identity]\nact_as = { nobody = [\"*\"] }\n",
    )
    .unwrap();
    std::os::unix::fs::chown(&mine, Some(NOBODY), Some(NOBODY)).unwrap();

    // In the working directory: not read at all, and said so.
    let (code, said) = output(
        place
            .nobody(&["--as", "alice", "approve", &id, "gate", "-m", "ok"])
            .env_remove("DRCTL_CONFIG"),
    );
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("./drctl.toml is not read"), "{said}");
    assert!(said.contains("nobody may not act as alice"), "{said}");
    // Named explicitly: refused, with why.
    let (code, said) = output(
        place
            .nobody(&["approve", &id, "gate", "-m", "ok"])
            .env("DRCTL_CONFIG", &mine),
    );
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("grants [groups], [identity] act_as") && said.contains("you own"),
        "{said}"
    );
    // Even root does not trust a file everyone may write.
    std::fs::set_permissions(&place.config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, said) = place.root_as("bob", &["approve", &id, "gate", "-m", "ok"]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("writable by its group or by everyone"),
        "{said}"
    );
    std::fs::set_permissions(&place.config, std::fs::Permissions::from_mode(0o644)).unwrap();

    // Nothing was recorded: the gate still waits for two people.
    let (_, list) = place.root_as("bob", &["approvals"]);
    assert!(list.contains("0 of 2 approvals"), "{list}");
    let (code, said) = place.root_as("bob", &["cancel", &id]);
    assert_eq!(code, 0, "{said}");
    assert_eq!(run.wait().unwrap().code(), Some(1));
    assert!(Path::new(&place.dir).exists());
}
