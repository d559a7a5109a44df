//! A private copy of the DR lab (`scripts/lab`) for one test binary: its own directory
//! and port range, taken down when the guard drops, also when a test panics.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Lab {
    pub dir: PathBuf,
    ports: String,
    env: HashMap<String, String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("scripts/lab").is_file())
        .expect("scripts/lab above the crate")
        .join("scripts/lab")
}

impl Lab {
    /// Starts the lab on ports `PPP00`-`PPP99`. Panics with the script's output if it fails.
    pub fn up(ports: &str) -> Lab {
        let dir = std::env::temp_dir().join(format!("drctl-lab-{ports}-{}", std::process::id()));
        let mut lab = Lab {
            dir,
            ports: ports.to_owned(),
            env: HashMap::new(),
        };
        // A lab left behind by a killed test would hold the ports.
        lab.script(&["down"]);
        let out = lab.script(&["up"]);
        assert!(out.0, "scripts/lab up failed:\n{}", out.1);
        let env = std::fs::read_to_string(lab.dir.join("env")).expect("the lab's env file");
        lab.env = env
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        lab
    }

    /// A value of the lab's env file (`DRCTL_LAB_PG_A`...).
    pub fn get(&self, key: &str) -> String {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} is not in the lab's env"))
            .clone()
    }

    /// The environment a drctl process needs to reach this lab.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut vars: Vec<_> = self.env.clone().into_iter().collect();
        vars.push(("DRCTL_LAB_PORTS".into(), self.ports.clone()));
        vars
    }

    /// Runs `scripts/lab ARGS` on this lab; returns success and the combined output.
    pub fn script(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .env("DRCTL_LAB_DIR", &self.dir)
            .env("DRCTL_LAB_PORTS", &self.ports)
            .output()
            .expect("bash runs scripts/lab");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Like `script`, panicking on failure.
    pub fn must(&self, args: &[&str]) -> String {
        let (ok, text) = self.script(args);
        assert!(ok, "scripts/lab {args:?} failed:\n{text}");
        text
    }

    /// Stops a process the lab started, by its pid file under the lab directory, and
    /// waits until it is gone.
    pub fn kill(&self, pidfile: &str) {
        let pid = std::fs::read_to_string(self.dir.join(pidfile)).expect("pid file");
        let pid = pid.trim();
        let status = Command::new("kill").arg(pid).status().expect("kill");
        assert!(status.success(), "kill {pidfile}");
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{pidfile} ({pid}) still runs 5 s after kill");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let (ok, text) = self.script(&["down"]);
        // A lab that does not go down fails the test (unless it is failing already).
        assert!(
            ok || std::thread::panicking(),
            "scripts/lab down failed:\n{text}"
        );
    }
}
