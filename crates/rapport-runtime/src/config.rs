//! The configuration: one TOML file (`rapport.toml`, documented in `rapport.example.toml`)
//! overlaid with `RAPPORT_<SECTION>__<KEY>` environment variables, deserialized into typed
//! sections with defaults, and validated once at boot. A service refuses to start on any error.
//!
//! Every section lives here, even those only one service reads, so that one file configures
//! the whole pipeline and a typo anywhere is caught by `rapport config check`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::secret::{Secret, Secrets};

/// Prefix of environment overrides; `__` separates nested keys:
/// `RAPPORT_KAFKA__BROKERS=host:9092` sets `kafka.brokers`.
pub const ENV_PREFIX: &str = "RAPPORT_";

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML")]
    Syntax {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("environment override {var} cannot be applied: {reason}")]
    Env { var: String, reason: String },
    #[error("invalid configuration")]
    Invalid(#[source] Box<toml::de::Error>),
    #[error("invalid configuration: {0}")]
    Rule(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    pub ingest: IngestConfig,
    pub process: ProcessConfig,
    pub brands: Vec<BrandConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter directive; `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// `/metrics` and `/health/*`. Loopback by default: never expose it by accident.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated bootstrap servers.
    pub brokers: String,
    pub client_id: String,
    pub interactions_topic: String,
    pub deadletter_topic: String,
    /// Partitions used when rapport creates its topics.
    pub partitions: i32,
    pub replication_factor: i32,
    /// SASL credentials, when the cluster needs them. Both take `env:`/`file:` references.
    #[serde(deserialize_with = "de_opt_reference")]
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Extra librdkafka properties (e.g. `"security.protocol" = "SASL_SSL"`).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            client_id: "rapport".into(),
            interactions_topic: "rapport.interactions.v1".into(),
            deadletter_topic: "rapport.deadletter.v1".into(),
            partitions: 8,
            replication_factor: 1,
            username: None,
            password: None,
            properties: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    pub database: String,
    /// A literal or an `env:`/`file:` reference, like the password.
    #[serde(deserialize_with = "de_reference")]
    pub user: String,
    pub password: Option<Secret>,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "rapport".into(),
            user: "default".into(),
            password: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Public webhook port.
    pub listen: SocketAddr,
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
    /// How long a delivery waits for broker acks before it gets 503 (platforms retry).
    #[serde(deserialize_with = "de_duration")]
    pub ack_timeout: Duration,
    /// Deliveries being verified or produced at once; more wait (backpressure, bounded memory).
    pub max_in_flight: usize,
    /// Keep message text in events (needed for personal-touch metrics). `false` drops it at
    /// the edge for privacy-sensitive deployments.
    pub keep_text: bool,
    /// Most request header fields; more get 431.
    pub max_header_count: usize,
    /// Most bytes of header names and values together; more get 431.
    pub max_header_bytes: usize,
    /// PEM certificate chain and private key: with both set the public port speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub rate_limit: RateLimitConfig,
    pub meta: MetaSecrets,
    pub x: XSecrets,
    pub mastodon: MastodonSecrets,
    pub generic: GenericSecrets,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_body_bytes: 1024 * 1024,
            ack_timeout: Duration::from_secs(5),
            max_in_flight: 1024,
            keep_text: true,
            max_header_count: 64,
            max_header_bytes: 16 * 1024,
            tls_cert: None,
            tls_key: None,
            rate_limit: RateLimitConfig::default(),
            meta: MetaSecrets::default(),
            x: XSecrets::default(),
            mastodon: MastodonSecrets::default(),
            generic: GenericSecrets::default(),
        }
    }
}

/// Token buckets in front of the webhook endpoints: one per endpoint family and one per client
/// IP. A request over either gets 429 with `Retry-After`. A rate of 0 turns that bucket off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per endpoint family (meta, x, mastodon, generic).
    pub per_platform: f64,
    /// Requests an endpoint family may send at once above its sustained rate.
    pub platform_burst: u32,
    /// Sustained requests per second per client IP.
    pub per_ip: f64,
    pub ip_burst: u32,
    /// Client IPs tracked at once; idle ones are forgotten first (bounded memory).
    pub max_tracked_ips: usize,
    /// Take the client IP from the last entry of this header (e.g. `x-forwarded-for`) instead
    /// of the TCP peer; only behind a proxy that sets it.
    pub client_ip_header: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_platform: 10_000.0,
            platform_burst: 20_000,
            per_ip: 2_000.0,
            ip_burst: 4_000,
            max_tracked_ips: 50_000,
            client_ip_header: None,
        }
    }
}

/// Meta (Facebook Pages, Messenger, Instagram). An endpoint without secrets is disabled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetaSecrets {
    pub app_secret: Secrets,
    pub verify_token: Option<Secret>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XSecrets {
    pub consumer_secret: Secrets,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MastodonSecrets {
    pub secret: Secrets,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenericSecrets {
    pub secret: Secrets,
    #[serde(deserialize_with = "de_duration")]
    pub tolerance: Duration,
    /// Event ids remembered to refuse replays inside the signature window (bounded memory).
    pub replay_cache: usize,
}

impl Default for GenericSecrets {
    fn default() -> Self {
        GenericSecrets {
            secret: Secrets::default(),
            tolerance: Duration::from_secs(300),
            replay_cache: 100_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessConfig {
    pub group_id: String,
    /// Event-time lateness the engine waits for (METRICS.md watermark).
    #[serde(deserialize_with = "de_duration")]
    pub allowed_lateness: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub thread_gap: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub max_pending: Duration,
    /// Rows buffered before an insert is cut.
    pub batch_rows: usize,
    /// Longest time rows wait before an insert is cut.
    #[serde(deserialize_with = "de_duration")]
    pub flush_interval: Duration,
    /// How often each partition's state is saved (with the offset it covers); work since the
    /// last checkpoint is replayed after a crash.
    #[serde(deserialize_with = "de_duration")]
    pub checkpoint_interval: Duration,
    /// Budget for finishing in-flight work of a revoked partition; below the session timeout.
    #[serde(deserialize_with = "de_duration")]
    pub drain_timeout: Duration,
    /// A partition without new records for this long applies the events it still holds back
    /// for lateness, so the last minutes of traffic show up without waiting for more.
    #[serde(deserialize_with = "de_duration")]
    pub idle_advance: Duration,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            group_id: "rapport-process".into(),
            allowed_lateness: Duration::from_secs(5 * 60),
            thread_gap: Duration::from_secs(24 * 3600),
            max_pending: Duration::from_secs(7 * 24 * 3600),
            batch_rows: 50_000,
            flush_interval: Duration::from_secs(1),
            checkpoint_interval: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            idle_advance: Duration::from_secs(30),
        }
    }
}

/// One brand (tenant) and its accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// IANA timezone of the brand's business hours.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Weekly schedule, e.g. `{ mon = "09:00-17:00", sat = "10:00-14:00" }`; days left out
    /// are closed. An empty table means always open.
    #[serde(default)]
    pub business_hours: BTreeMap<String, String>,
    /// Closed days (`YYYY-MM-DD`, in the brand's timezone).
    #[serde(default)]
    pub holidays: Vec<String>,
    /// First-response target in business time.
    #[serde(default = "default_sla", deserialize_with = "de_duration")]
    pub sla_target: Duration,
    /// Account id per platform: Page id (`facebook`), IG user id (`instagram`), X user id
    /// (`x`), Mastodon account id (`mastodon`).
    #[serde(default, deserialize_with = "de_string_map")]
    pub accounts: BTreeMap<String, String>,
    /// App ids whose messages are automation (bots, auto-replies): never responses.
    #[serde(default, deserialize_with = "de_string_list")]
    pub automation_app_ids: Vec<String>,
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_sla() -> Duration {
    Duration::from_secs(3600)
}

const PLATFORMS: &[&str] = &[
    "facebook",
    "instagram",
    "x",
    "mastodon",
    "bluesky",
    "linkedin",
    "tiktok",
    "youtube",
    "other",
];

impl Config {
    /// Load `path` (if given) and apply `RAPPORT_*` overrides from the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`Config::load`], with the environment given explicitly (tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax {
                        path: path.to_owned(),
                        source: Box::new(e),
                    })?
            }
            None => toml::Table::new(),
        };
        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
            .collect();
        overrides.sort();
        for (var, raw) in overrides {
            apply_override(&mut table, &var, &raw)?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Rules that the types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rule = |msg: String| Err(ConfigError::Rule(msg));
        if self.kafka.brokers.trim().is_empty() {
            return rule("kafka.brokers is empty".into());
        }
        if self.kafka.partitions < 1 {
            return rule("kafka.partitions must be at least 1".into());
        }
        if self.ingest.max_body_bytes == 0 || self.ingest.max_in_flight == 0 {
            return rule("ingest.max_body_bytes and ingest.max_in_flight must be positive".into());
        }
        if self.ingest.max_header_count == 0 || self.ingest.max_header_bytes == 0 {
            return rule(
                "ingest.max_header_count and ingest.max_header_bytes must be positive".into(),
            );
        }
        if self.ingest.tls_cert.is_some() != self.ingest.tls_key.is_some() {
            return rule(
                "ingest.tls_cert and ingest.tls_key go together: set both or neither".into(),
            );
        }
        let limits = &self.ingest.rate_limit;
        let valid_rate = |r: f64| r.is_finite() && r >= 0.0;
        if !valid_rate(limits.per_platform) || !valid_rate(limits.per_ip) {
            return rule("ingest.rate_limit rates must be 0 (off) or a positive number".into());
        }
        if (limits.per_platform > 0.0 && limits.platform_burst == 0)
            || (limits.per_ip > 0.0 && (limits.ip_burst == 0 || limits.max_tracked_ips == 0))
        {
            return rule(
                "ingest.rate_limit: an enabled bucket needs a burst of at least 1 (and per_ip a \
                 max_tracked_ips of at least 1)"
                    .into(),
            );
        }
        if self.process.allowed_lateness >= self.process.thread_gap {
            return rule("process.allowed_lateness must be shorter than process.thread_gap".into());
        }
        let mut ids = HashSet::new();
        let mut accounts = HashSet::new();
        for brand in &self.brands {
            if brand.id.is_empty() || brand.id.contains(':') {
                return rule(format!(
                    "brand id `{}` must be non-empty and contain no `:`",
                    brand.id
                ));
            }
            if !ids.insert(brand.id.as_str()) {
                return rule(format!("brand id `{}` appears twice", brand.id));
            }
            for (platform, account) in &brand.accounts {
                if !PLATFORMS.contains(&platform.as_str()) {
                    return rule(format!(
                        "brand `{}`: unknown platform `{platform}` in accounts",
                        brand.id
                    ));
                }
                if !accounts.insert((platform.as_str(), account.as_str())) {
                    return rule(format!(
                        "{platform} account `{account}` belongs to two brands"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn apply_override(table: &mut toml::Table, var: &str, raw: &str) -> Result<(), ConfigError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    let err = |reason: &str| ConfigError::Env {
        var: var.to_owned(),
        reason: reason.to_owned(),
    };
    if path.iter().any(String::is_empty) {
        return Err(err("empty key segment"));
    }
    let (leaf, parents) = path.split_last().ok_or_else(|| err("no key"))?;
    let mut node = table;
    for key in parents {
        let entry = node
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| err("a parent key is not a table"))?;
    }
    node.insert(leaf.clone(), parse_env_value(raw));
    Ok(())
}

/// Numbers, booleans and arrays are read as TOML; anything else is a string. Quote a value
/// (`'"8080"'`) to force a string.
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Parse `90s`, `5m`, `24h`, `7d`, `250ms`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 5m, 24h, 7d"))?;
    let secs = |mult: u64| n.checked_mul(mult).map(Duration::from_secs);
    let d = match unit.trim() {
        "" | "s" => secs(1),
        "ms" => Some(Duration::from_millis(n)),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{text}` (use ms, s, m, h, d)"
            ))
        }
    };
    d.ok_or_else(|| format!("duration `{text}` is too large"))
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

/// A non-secret value that may still live in the environment or a mounted file (a SASL or
/// ClickHouse user name next to its password): resolved like a [`Secret`] reference.
fn de_reference<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let reference = String::deserialize(d)?;
    Secret::resolve(&reference)
        .map(|s| s.expose().to_owned())
        .map_err(serde::de::Error::custom)
}

fn de_opt_reference<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    de_reference(d).map(Some)
}

/// Account ids are opaque strings, but TOML users (and env overrides) write big numbers bare.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringLike {
    S(String),
    I(i64),
}

impl From<StringLike> for String {
    fn from(v: StringLike) -> String {
        match v {
            StringLike::S(s) => s,
            StringLike::I(i) => i.to_string(),
        }
    }
}

fn de_string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, StringLike>::deserialize(d)?;
    Ok(raw.into_iter().map(|(k, v)| (k, v.into())).collect())
}

fn de_string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<StringLike>::deserialize(d)?
        .into_iter()
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_file_gives_the_documented_defaults() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(c.admin.listen.to_string(), "127.0.0.1:9464");
        assert_eq!(c.ingest.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.ingest.max_body_bytes, 1 << 20);
        assert_eq!(c.process.thread_gap, Duration::from_secs(86_400));
        assert_eq!(c.kafka.interactions_topic, "rapport.interactions.v1");
    }

    #[test]
    fn the_committed_example_file_is_valid_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rapport.example.toml");
        // Secrets resolve from the process environment, like in production.
        std::env::set_var("EXAMPLE_META_APP_SECRET", "example");
        let c = Config::load_with_env(Some(&path), env(&[])).unwrap();
        let d = Config::default();
        assert_eq!(c.admin.listen, d.admin.listen);
        assert_eq!(c.ingest.listen, d.ingest.listen);
        assert_eq!(c.ingest.max_body_bytes, d.ingest.max_body_bytes);
        assert_eq!(c.ingest.ack_timeout, d.ingest.ack_timeout);
        assert_eq!(c.ingest.max_header_count, d.ingest.max_header_count);
        assert_eq!(c.ingest.max_header_bytes, d.ingest.max_header_bytes);
        assert_eq!((&c.ingest.tls_cert, &c.ingest.tls_key), (&None, &None));
        let (rl, drl) = (&c.ingest.rate_limit, &d.ingest.rate_limit);
        assert_eq!(
            (rl.per_platform, rl.platform_burst, rl.per_ip, rl.ip_burst),
            (
                drl.per_platform,
                drl.platform_burst,
                drl.per_ip,
                drl.ip_burst
            )
        );
        assert_eq!(rl.max_tracked_ips, drl.max_tracked_ips);
        assert_eq!(rl.client_ip_header, drl.client_ip_header);
        assert_eq!(c.ingest.generic.replay_cache, d.ingest.generic.replay_cache);
        assert_eq!(c.ingest.generic.tolerance, d.ingest.generic.tolerance);
        assert_eq!(c.process.allowed_lateness, d.process.allowed_lateness);
        assert_eq!(c.process.max_pending, d.process.max_pending);
        assert_eq!(c.kafka.brokers, d.kafka.brokers);
        assert_eq!(c.clickhouse.database, d.clickhouse.database);
        assert!(!c.brands.is_empty());
    }

    #[test]
    fn env_overrides_nested_keys_with_typed_values() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("RAPPORT_KAFKA__BROKERS", "kafka-1:9092,kafka-2:9092"),
                ("RAPPORT_KAFKA__PARTITIONS", "12"),
                ("RAPPORT_INGEST__KEEP_TEXT", "false"),
                ("RAPPORT_PROCESS__THREAD_GAP", "12h"),
                ("RAPPORT_CLICKHOUSE__PASSWORD", "s3cret"),
                ("RAPPORT_UNRELATED", "ignored: no nesting"),
            ]),
        )
        .unwrap();
        assert_eq!(c.kafka.brokers, "kafka-1:9092,kafka-2:9092");
        assert_eq!(c.kafka.partitions, 12);
        assert!(!c.ingest.keep_text);
        assert_eq!(c.process.thread_gap, Duration::from_secs(12 * 3600));
        assert_eq!(c.clickhouse.password.unwrap().expose(), "s3cret");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.toml");
        std::fs::write(&p, "[kafka]\nbrokerz = \"x\"\n").unwrap();
        assert!(matches!(
            Config::load_with_env(Some(&p), env(&[])),
            Err(ConfigError::Invalid(_))
        ));
        std::fs::write(&p, "[process]\nthread_gap = \"24 fortnights\"\n").unwrap();
        assert!(Config::load_with_env(Some(&p), env(&[])).is_err());
        std::fs::write(&p, "[[brands]]\nid = \"a\"\n[[brands]]\nid = \"a\"\n").unwrap();
        assert!(matches!(
            Config::load_with_env(Some(&p), env(&[])),
            Err(ConfigError::Rule(_))
        ));
        std::fs::write(&p, "[[brands]]\nid = \"a\"\naccounts = { facebook = 1 }\n[[brands]]\nid = \"b\"\naccounts = { facebook = \"1\" }\n").unwrap();
        let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err();
        assert!(err.to_string().contains("two brands"), "{err}");
    }

    #[test]
    fn kafka_and_clickhouse_credentials_come_from_env_and_file_references() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("ch-password");
        std::fs::write(&password, "ch-secret-from-file\n").unwrap();
        let user = dir.path().join("ch-user");
        std::fs::write(&user, "reporting\n").unwrap();
        std::env::set_var("RAPPORT_TEST_SASL_USER", "svc-rapport");
        std::env::set_var("RAPPORT_TEST_SASL_PASSWORD", "sasl-secret-from-env");
        let p = dir.path().join("r.toml");
        std::fs::write(
            &p,
            format!(
                "[kafka]\nusername = \"env:RAPPORT_TEST_SASL_USER\"\n\
                 password = \"env:RAPPORT_TEST_SASL_PASSWORD\"\n\
                 [clickhouse]\nuser = \"file:{}\"\npassword = \"file:{}\"\n",
                user.display(),
                password.display()
            ),
        )
        .unwrap();
        let c = Config::load_with_env(Some(&p), env(&[])).unwrap();
        assert_eq!(c.kafka.username.as_deref(), Some("svc-rapport"));
        assert_eq!(
            c.kafka.password.as_ref().map(Secret::expose),
            Some("sasl-secret-from-env")
        );
        assert_eq!(c.clickhouse.user, "reporting");
        assert_eq!(
            c.clickhouse.password.as_ref().map(Secret::expose),
            Some("ch-secret-from-file")
        );
        // The resolved config prints no password.
        let shown = format!("{c:?}");
        assert!(!shown.contains("sasl-secret-from-env") && !shown.contains("ch-secret-from-file"));
        // A reference that cannot be resolved refuses the whole file.
        std::fs::write(
            &p,
            "[kafka]\nusername = \"env:RAPPORT_TEST_SURELY_UNSET_USER\"\n",
        )
        .unwrap();
        let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err();
        assert!(
            format!("{:?}", err).contains("RAPPORT_TEST_SURELY_UNSET_USER"),
            "{err:?}"
        );
        // Literals stay literals.
        let c = Config::load_with_env(None, env(&[("RAPPORT_KAFKA__USERNAME", "plain")])).unwrap();
        assert_eq!(c.kafka.username.as_deref(), Some("plain"));
        assert_eq!(c.clickhouse.user, "default");
    }

    #[test]
    fn the_admin_port_is_loopback_unless_configured_otherwise() {
        let c = Config::default();
        assert!(c.admin.listen.ip().is_loopback(), "{}", c.admin.listen);
        let c =
            Config::load_with_env(None, env(&[("RAPPORT_ADMIN__LISTEN", "0.0.0.0:9464")])).unwrap();
        assert!(!c.admin.listen.ip().is_loopback());
    }

    #[test]
    fn ingest_limits_tls_and_rate_limits_are_validated() {
        let bad = [
            ("RAPPORT_INGEST__MAX_HEADER_COUNT", "0"),
            ("RAPPORT_INGEST__TLS_CERT", "/etc/rapport/cert.pem"),
            ("RAPPORT_INGEST__RATE_LIMIT__PER_IP", "-1"),
            ("RAPPORT_INGEST__RATE_LIMIT__IP_BURST", "0"),
        ];
        for (var, value) in bad {
            let err = Config::load_with_env(None, env(&[(var, value)])).unwrap_err();
            assert!(matches!(err, ConfigError::Rule(_)), "{var}: {err:?}");
        }
        let c = Config::load_with_env(
            None,
            env(&[
                ("RAPPORT_INGEST__TLS_CERT", "/etc/rapport/cert.pem"),
                ("RAPPORT_INGEST__TLS_KEY", "/etc/rapport/key.pem"),
                ("RAPPORT_INGEST__RATE_LIMIT__PER_IP", "0"),
                ("RAPPORT_INGEST__RATE_LIMIT__IP_BURST", "0"),
                ("RAPPORT_INGEST__RATE_LIMIT__PER_PLATFORM", "2.5"),
            ]),
        )
        .unwrap();
        assert_eq!(c.ingest.rate_limit.per_platform, 2.5);
        assert_eq!(c.ingest.rate_limit.per_ip, 0.0);
        assert!(c.ingest.tls_key.is_some());
    }

    #[test]
    fn durations_parse_in_every_documented_unit() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
    }
}
