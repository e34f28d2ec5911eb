//! A broker (tansu) and a ClickHouse of a test's own, for the fault tests that stop, kill or
//! restart them: doing that to the shared stack would break every other test. Each lives in its
//! own temporary state folder on ports chosen free at run time, started the way
//! `deploy/local/up` starts the shared one, and keeps its data across [`PrivateBroker::stop`]
//! and a later start (tansu's SQLite file, ClickHouse's data folder), as a real restart does.
//!
//! Dropping one kills its process (even during a panic) and removes its folder; after a failed
//! test the folder is kept so its logs can be read.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rapport_runtime::config::{ClickHouseConfig, KafkaConfig};

use crate::child::ChildProcess;
use crate::{kafka_config, poll_until, unique_name};

/// How long a private service may take to start or to stop after SIGTERM.
const START_WAIT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A loopback port nobody listens on right now (the OS picks it for a throwaway listener).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Whether something accepts connections on the loopback `port`.
pub async fn port_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// The cache folder of the local stack's tools (`RAPPORT_CACHE`, as in `deploy/local/lib.sh`).
fn cache_dir() -> PathBuf {
    std::env::var("RAPPORT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/var/cache/rapport"))
}

/// The tansu binary `deploy/local/install` puts in the cache (`TANSU_BIN` wins).
pub fn tansu_bin() -> PathBuf {
    let candidates = std::env::var("TANSU_BIN")
        .map(PathBuf::from)
        .ok()
        .into_iter()
        .chain([cache_dir().join("tansu-0.6.0/bin/tansu")]);
    let tried: Vec<PathBuf> = candidates.collect();
    tried
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!("no tansu binary at {tried:?} (set TANSU_BIN); `deploy/local/install` builds it")
        })
}

/// A fresh state folder under the temp dir.
fn state_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(&format!("rapport-test-{what}")));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn remove_state(dir: &Path) {
    if std::thread::panicking() {
        eprintln!("keeping {} for its logs", dir.display());
    } else if let Err(e) = std::fs::remove_dir_all(dir) {
        eprintln!("cannot remove {}: {e}", dir.display());
    }
}

/// A tansu broker with SQLite storage in its own folder.
pub struct PrivateBroker {
    port: u16,
    dir: PathBuf,
    process: Option<ChildProcess>,
}

impl PrivateBroker {
    /// Start a broker on a free port and wait until it accepts connections.
    pub async fn start() -> PrivateBroker {
        let mut broker = PrivateBroker {
            port: free_port(),
            dir: state_dir("tansu"),
            process: None,
        };
        broker.start_again().await;
        broker
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The tests' Kafka settings ([`kafka_config`]) pointed at this broker, with librdkafka's
    /// idempotent producer off. After an outage (records timed out, or answered with an error
    /// while the broker shut down) an idempotent producer bumps its epoch by itself, and
    /// tansu 0.6.0 cannot take that: its storage task panics on the unknown epoch ("more or less
    /// than one row" in `idempotent_message_check`) and every later request fails until the
    /// broker is restarted. `acks=all` and ingest's 2xx-after-ack stay as they are; what is lost
    /// is only librdkafka's own duplicate suppression, and duplicates are allowed (and counted).
    pub fn kafka_config(&self) -> KafkaConfig {
        let mut kafka = KafkaConfig {
            brokers: self.brokers(),
            ..kafka_config()
        };
        kafka
            .properties
            .insert("enable.idempotence".into(), "false".into());
        kafka
    }

    /// Start the broker (again) on the same port with the same storage, and wait until it
    /// accepts connections.
    pub async fn start_again(&mut self) {
        assert!(self.process.is_none(), "the broker is already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(tansu_bin());
        cmd.args(["broker", "--kafka-cluster-id", "rapport-test"])
            .args([
                "--kafka-listener-url",
                &url,
                "--kafka-advertised-listener-url",
                &url,
            ])
            // tansu resolves the SQLite path against its working directory (as deploy/local/up
            // relies on), so the broker runs inside its own folder.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&self.dir);
        let mut process = ChildProcess::spawn("tansu", cmd, self.dir.join("tansu.log"));
        process.wait_listening(self.port, START_WAIT).await;
        self.process = Some(process);
    }

    /// Stop the broker (SIGTERM, SIGKILL after a grace period) and wait until it is gone.
    pub async fn stop(&mut self) {
        let mut process = self.process.take().expect("the broker is running");
        process.terminate(STOP_GRACE).await;
    }

    /// Kill the broker with SIGKILL.
    pub fn kill(&mut self) {
        self.process.take().expect("the broker is running").kill9();
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        drop(self.process.take());
        remove_state(&self.dir);
    }
}

/// A ClickHouse server (the system's `clickhouse-server`, or `CLICKHOUSE_SERVER_BIN`) with
/// `deploy/local/clickhouse/config.xml` and its data in its own folder.
pub struct PrivateClickHouse {
    http_port: u16,
    dir: PathBuf,
    process: Option<ChildProcess>,
}

impl PrivateClickHouse {
    /// Start a server on free ports and wait until it answers queries.
    pub async fn start() -> PrivateClickHouse {
        let dir = state_dir("clickhouse");
        for sub in [
            "logs",
            "clickhouse/data",
            "clickhouse/tmp",
            "clickhouse/user_files",
            "clickhouse/format_schemas",
        ] {
            std::fs::create_dir_all(dir.join(sub)).expect("ClickHouse folders");
        }
        let (http_port, tcp_port) = (free_port(), free_port());
        let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/clickhouse");
        let template = std::fs::read_to_string(local.join("config.xml"))
            .expect("deploy/local/clickhouse/config.xml");
        // The template names exactly these ports (no interserver or other listeners), so
        // nothing else of the server can collide with the shared stack.
        let config = template
            .replace("@STATE@", &dir.to_string_lossy())
            .replace("@HTTP_PORT@", &http_port.to_string())
            .replace("@TCP_PORT@", &tcp_port.to_string());
        std::fs::write(dir.join("clickhouse/config.xml"), config).expect("write config.xml");
        std::fs::copy(local.join("users.xml"), dir.join("clickhouse/users.xml"))
            .expect("copy users.xml");
        let mut server = PrivateClickHouse {
            http_port,
            dir,
            process: None,
        };
        server.start_again().await;
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Settings for a fresh database (not created yet) on this server.
    pub fn config(&self, test: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.url(),
            ..crate::clickhouse_config(test)
        }
    }

    /// Whether the server answers `SELECT 1`.
    pub async fn answers(&self) -> bool {
        let addr = ([127, 0, 0, 1], self.http_port).into();
        match crate::http::get(addr, "/?query=SELECT%201").await {
            Ok(reply) => reply.status == 200 && reply.text().trim() == "1",
            Err(_) => false,
        }
    }

    /// Start the server (again) with the same data and ports; wait until it answers queries.
    pub async fn start_again(&mut self) {
        assert!(self.process.is_none(), "ClickHouse is already running");
        let bin =
            std::env::var("CLICKHOUSE_SERVER_BIN").unwrap_or_else(|_| "clickhouse-server".into());
        let mut cmd = Command::new(bin);
        cmd.arg(format!(
            "--config-file={}",
            self.dir.join("clickhouse/config.xml").display()
        ))
        .current_dir(&self.dir);
        let mut process = ChildProcess::spawn(
            "clickhouse",
            cmd,
            self.dir.join("logs/clickhouse.stdout.log"),
        );
        let start = Instant::now();
        while !self.answers().await {
            if process.exited().is_some() {
                let err = std::fs::read_to_string(self.dir.join("logs/clickhouse.err.log"))
                    .unwrap_or_default();
                let tail: Vec<&str> = err.lines().rev().take(20).collect();
                panic!(
                    "ClickHouse exited at start; clickhouse.err.log tail:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            assert!(
                start.elapsed() < START_WAIT,
                "ClickHouse did not answer on {} within {START_WAIT:?}",
                self.http_port
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.process = Some(process);
    }

    /// Kill the server with SIGKILL: gone at once, inserts under way cut off.
    pub async fn kill(&mut self) {
        self.process.take().expect("ClickHouse is running").kill9();
        self.wait_port_closed().await;
    }

    /// The port must be closed: a test that stopped ClickHouse relies on it.
    async fn wait_port_closed(&self) {
        let port = self.http_port;
        poll_until("ClickHouse's port to close", START_WAIT, || async move {
            (!port_open(port).await).then_some(())
        })
        .await;
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        drop(self.process.take());
        remove_state(&self.dir);
    }
}
