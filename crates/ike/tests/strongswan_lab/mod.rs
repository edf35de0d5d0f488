//! The strongSwan lab (../shared/lab/strongswan) for the IKEv1 and IKEv2 interop tests:
//! network namespaces and charon instances driven through `peer.sh`, torn down however
//! the test ends.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

/// The strongSwan lab's directory. `$L2SEC_LAB_DIR`, when set, names either the lab root
/// (holding `strongswan/`) or the strongSwan lab itself; otherwise
/// `../shared/lab/strongswan` beside the workspace.
pub fn lab_dir() -> PathBuf {
    match std::env::var_os("L2SEC_LAB_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            let sub = dir.join("strongswan");
            if sub.join("peer.sh").exists() { sub } else { dir }
        }
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/lab/strongswan")),
    }
}

/// The lab for one test.
pub struct Lab {
    pub name: &'static str,
    pub peer: PathBuf,
    pub state: PathBuf,
    /// Set in the environment of the test process re-run inside a namespace.
    inner_env: &'static str,
}

impl Lab {
    /// Checks the peer is installed, then brings up the direct topology under `name`.
    /// `inner_env` is the variable that tells a re-run test it is the inner half.
    pub fn up(name: &'static str, inner_env: &'static str) -> Self {
        let peer = lab_dir().join("peer.sh");
        assert!(peer.exists(), "lab script missing: {}", peer.display());
        for bin in ["/usr/lib/ipsec/charon", "/usr/sbin/swanctl"] {
            assert!(
                std::path::Path::new(bin).exists(),
                "strongSwan is not installed ({bin} missing): run .ci/install-peers.sh"
            );
        }
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
        let state = std::env::temp_dir().join(format!("{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&state).unwrap();
        let lab = Self { name, peer, state, inner_env };
        let _ = lab.cmd().arg("net-down").output();
        lab.run(&["net-up", "direct"]);
        lab
    }

    /// `peer.sh` with this lab's name and state.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("bash");
        c.arg(&self.peer)
            .env("LAB", self.name)
            .env("LAB_STATE", &self.state)
            .env("STATE_ROOT", self.state.join("ss"));
        c
    }

    /// Runs `peer.sh args`, which must succeed.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_env(args, &[])
    }

    /// Runs `peer.sh args` with extra environment, which must succeed.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let out = self
            .cmd()
            .envs(env.iter().copied())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("peer.sh {args:?}: {e}"));
        assert!(
            out.status.success(),
            "peer.sh {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs this test binary's test `test` again inside namespace `ns` (a or b).
    pub fn spawn_inner(&self, ns: &str, test: &str) -> std::process::Child {
        self.cmd()
            .args(["exec", ns])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", test, "--ignored", "--nocapture"])
            .env(self.inner_env, "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The whole log of charon instance `name`.
    pub fn charon_log_full(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.join("ss").join(name).join("charon.log")).unwrap_or_default()
    }

    /// The last `lines` lines of charon instance `name`'s log.
    pub fn charon_log(&self, name: &str, lines: usize) -> String {
        let log = self.charon_log_full(name);
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.cmd().arg("net-down").output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
