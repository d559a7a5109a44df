//! The AWS API emulator (moto) for one test: started on a free port, seeded with the
//! environment of runbooks/aws/ (`scripts/lab.d/aws_seed.py`), killed when dropped.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A moto server of this test; killed when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    /// Starts moto; `env` for its settings (e.g. authentication on).
    pub fn start(env: &[(&str, &str)]) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // As a module of the python3 on PATH: no console script (or pyenv shim) needed.
        let mut child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with moto (pip install 'moto[server]') on PATH");
        // 30 s: a machine busy with other tests has been slow to start Python servers.
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Moto {
                    child,
                    url: format!("http://127.0.0.1:{port}"),
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("moto did not answer on {port} within 30 s");
    }

    /// The seed environment's ids (runbooks/aws/ take them as parameters).
    pub fn seed(&self) -> Value {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("scripts/lab.d/aws_seed.py"))
            .find(|p| p.is_file())
            .expect("scripts/lab.d/aws_seed.py above the crate");
        let out = Command::new("python3")
            .arg(script)
            .arg(&self.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws_seed.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
