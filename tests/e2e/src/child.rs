//! Child processes of the end-to-end tests: the real `rapport` binary and the services of a
//! private stack. Each child writes its output to a log file, is killed (SIGKILL) and reaped on
//! drop so that a failing test never leaves a process behind, and prints its log tail when the
//! test panics.
//!
//! Finding the binary: an integration test cannot get `CARGO_BIN_EXE_rapport` for a binary of
//! another package (that needs unstable artifact dependencies), so the first [`rapport_bin`]
//! call in a test process runs `cargo build -p rapport-cli` into the target directory the test
//! executable was built in (found from its own path, so `CARGO_TARGET_DIR` and the profile are
//! honoured) — a no-op when the binary is fresh, and never a stale binary.
//! `RAPPORT_TEST_BIN=/path/to/rapport` skips the build (a cross-compiled target layout, or a
//! release binary under test).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::unique_name;

/// The `rapport` binary, built once per test process (see the module docs).
pub fn rapport_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("RAPPORT_TEST_BIN") {
            return PathBuf::from(bin);
        }
        // The test executable is <target>/<profile>/deps/it-<hash>.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable lives in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("<target>/<profile>");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => panic!("cannot tell the profile from {}", exe.display()),
        };
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "rapport-cli", "--bin", "rapport"])
            .args(["--profile", profile])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(&workspace)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p rapport-cli failed");
        let bin = profile_dir.join("rapport");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

/// Resident memory of process `pid` (`VmRSS` of `/proc/<pid>/status`), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// Samples a process's resident memory in the background until stopped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    /// Read the RSS of `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    samples.push(kib);
                }
                tokio::time::sleep(every).await;
            }
            samples
        });
        RssSampler { stop, task }
    }

    /// Stop and return every sample, in KiB.
    pub async fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("RSS sampler")
    }
}

/// A running child process with its output in a log file.
pub struct ChildProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ChildProcess {
    /// Start `cmd` with stdin closed and stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> ChildProcess {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log fd"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        ChildProcess {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// `rapport --config <config> <subcommand>`, logging to a fresh file in `log_dir`. Only the
    /// file configures the run: `RAPPORT_*` overrides of the test's environment are dropped.
    pub fn rapport(name: &str, subcommand: &str, config: &Path, log_dir: &Path) -> ChildProcess {
        let mut cmd = Command::new(rapport_bin());
        cmd.arg("--config").arg(config).arg(subcommand);
        for (k, _) in std::env::vars() {
            if k.starts_with("RAPPORT_") {
                cmd.env_remove(k);
            }
        }
        let log = log_dir.join(format!("{}.log", unique_name(name)));
        ChildProcess::spawn(name, cmd, log)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The exit status if the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Fail fast (with the log) if the child exited on its own.
    pub fn check_alive(&mut self) {
        if let Some(status) = self.exited() {
            panic!(
                "{} exited on its own ({status}); log tail:\n{}",
                self.name,
                self.log_tail(40)
            );
        }
    }

    /// Wait until the child accepts connections on loopback `port`; panics (with its log) if it
    /// exits first or takes longer than `within`.
    pub async fn wait_listening(&mut self, port: u16, within: Duration) {
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            self.check_alive();
            assert!(
                start.elapsed() < within,
                "{} did not listen on {port} within {within:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resident memory of the child in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }

    /// SIGKILL and reap; the child must still have been running.
    pub fn kill9(mut self) {
        self.check_alive();
        self.child.kill().expect("SIGKILL the child");
        self.child.wait().expect("reap the child");
    }

    /// SIGTERM, and SIGKILL if it has not exited within `grace`; returns how it ended.
    pub async fn terminate(&mut self, grace: Duration) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        // Only the child this test started, by its pid.
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {} failed", self.pid());
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if start.elapsed() >= grace {
                eprintln!("{} ignored SIGTERM for {grace:?}; SIGKILL", self.name);
                self.child.kill().expect("SIGKILL the child");
                return self.child.wait().expect("reap the child");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM and require a clean exit within 60 s (a drain, then exit code 0).
    pub async fn terminate_cleanly(mut self) {
        self.check_alive();
        let status = self.terminate(Duration::from_secs(60)).await;
        assert!(
            status.success(),
            "{} exited with {status} after SIGTERM; log tail:\n{}",
            self.name,
            self.log_tail(40)
        );
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Only the child this test started, by its handle.
            if self.child.kill().is_ok() && self.child.wait().is_err() {
                eprintln!("could not reap {}", self.name);
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- log tail of {} ({}) ---\n{}",
                self.name,
                self.log.display(),
                self.log_tail(60)
            );
        }
    }
}
