//! What the HTTP handlers read on every request, built once from the validated `Config` at
//! boot: the signing secrets of each enabled endpoint in the pure core's form, the account
//! directory, and the limits (body size, ack timeout, in-flight deliveries).
//!
//! It owns the translation from the runtime's configuration types to the ingest core's types
//! and the rules that only matter to this service (an endpoint without a secret is disabled).
//! It does not load or validate the file itself; `rapport_runtime::Config` does that.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderName;

use rapport_ingest::signature::GENERIC_TOLERANCE_SECS;
use rapport_ingest::{AccountDirectory, BrandAccounts, BrandConfig, DirectoryError, Secrets};
use rapport_runtime::config::{Config, IngestConfig, RateLimitConfig};

use crate::serve::HeaderLimits;

/// librdkafka's default `message.max.bytes`: the largest record the producer sends.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;
/// Room left in a dead-letter record for everything but the payload (Avro envelope, source,
/// detail, kept headers, Kafka record overhead); all of those are small and bounded.
const DEAD_LETTER_ENVELOPE_BYTES: usize = 64 * 1024;
/// The smallest payload prefix a dead letter keeps, whatever the producer settings say.
const MIN_DEAD_LETTER_PAYLOAD: usize = 4 * 1024;

/// A configuration this service cannot run with (on top of what `Config::validate` checks).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("the [[brands]] accounts cannot be indexed")]
    Directory(#[from] DirectoryError),
    #[error(
        "ingest.generic.tolerance is {configured:?}, but the generic signature check uses a \
         fixed window of {fixed_secs} s; remove the key or set it to \"5m\""
    )]
    GenericTolerance {
        configured: Duration,
        fixed_secs: i64,
    },
    #[error("ingest.rate_limit.client_ip_header `{0}` is not a valid header name")]
    ClientIpHeader(String),
}

/// The secrets of the endpoints that are enabled; `None` means the endpoint answers 404.
#[derive(Debug, Default)]
pub struct EndpointSecrets {
    pub meta: Option<Secrets>,
    /// `hub.verify_token` of the Meta GET handshake; without it every handshake is refused.
    pub meta_verify_token: Option<Secrets>,
    pub x: Option<Secrets>,
    pub mastodon: Option<Secrets>,
    pub generic: Option<Secrets>,
}

/// Everything the request path needs, immutable after boot.
#[derive(Debug)]
pub struct Settings {
    pub secrets: EndpointSecrets,
    pub directory: AccountDirectory,
    pub max_body_bytes: usize,
    pub ack_timeout: Duration,
    pub max_in_flight: usize,
    pub keep_text: bool,
    pub interactions_topic: String,
    pub deadletter_topic: String,
    pub header_limits: HeaderLimits,
    pub rate_limit: RateLimitConfig,
    /// The header naming the client IP (last entry wins), instead of the TCP peer.
    pub client_ip_header: Option<HeaderName>,
    /// Generic event ids remembered against replays.
    pub replay_cache: usize,
    /// Longest payload a dead letter keeps; longer bodies are stored as a prefix with their
    /// length and hash, so the record always fits the producer's `message.max.bytes`.
    pub dead_letter_payload_max: usize,
    /// The producer's `message.max.bytes` (librdkafka's default unless set in
    /// `[kafka.properties]`).
    pub max_record_bytes: usize,
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Settings, SettingsError> {
        let ingest = &config.ingest;
        let fixed = Duration::from_secs(GENERIC_TOLERANCE_SECS.unsigned_abs());
        if ingest.generic.tolerance != fixed {
            return Err(SettingsError::GenericTolerance {
                configured: ingest.generic.tolerance,
                fixed_secs: GENERIC_TOLERANCE_SECS,
            });
        }
        let directory = AccountDirectory::new(config.brands.iter().map(directory_entry))?;
        let client_ip_header = match &ingest.rate_limit.client_ip_header {
            Some(name) => Some(
                HeaderName::try_from(name.as_str())
                    .map_err(|_| SettingsError::ClientIpHeader(name.clone()))?,
            ),
            None => None,
        };
        let message_max = config
            .kafka
            .properties
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        Ok(Settings {
            secrets: endpoint_secrets(ingest),
            directory,
            max_body_bytes: ingest.max_body_bytes,
            ack_timeout: ingest.ack_timeout,
            max_in_flight: ingest.max_in_flight,
            keep_text: ingest.keep_text,
            interactions_topic: config.kafka.interactions_topic.clone(),
            deadletter_topic: config.kafka.deadletter_topic.clone(),
            header_limits: HeaderLimits {
                max_count: ingest.max_header_count,
                max_bytes: ingest.max_header_bytes,
            },
            rate_limit: ingest.rate_limit.clone(),
            client_ip_header,
            replay_cache: ingest.generic.replay_cache,
            dead_letter_payload_max: message_max
                .saturating_sub(DEAD_LETTER_ENVELOPE_BYTES)
                .max(MIN_DEAD_LETTER_PAYLOAD),
            max_record_bytes: message_max,
            tls: ingest.tls_cert.clone().zip(ingest.tls_key.clone()),
        })
    }
}

fn endpoint_secrets(ingest: &IngestConfig) -> EndpointSecrets {
    EndpointSecrets {
        meta: core_secrets(&ingest.meta.app_secret),
        meta_verify_token: ingest
            .meta
            .verify_token
            .as_ref()
            .map(|t| Secrets::new(t.expose())),
        x: core_secrets(&ingest.x.consumer_secret),
        mastodon: core_secrets(&ingest.mastodon.secret),
        generic: core_secrets(&ingest.generic.secret),
    }
}

/// The runtime keeps up to two secrets (validated at load); the core takes a current value and
/// an optional rotation partner.
fn core_secrets(secrets: &rapport_runtime::Secrets) -> Option<Secrets> {
    let mut values = secrets.iter();
    let current = Secrets::new(values.next()?.expose());
    Some(match values.next() {
        Some(other) => current.with_other(other.expose()),
        None => current,
    })
}

/// The directory's view of a configured brand: its own account per platform the adapters know.
/// Accounts on other platforms (Bluesky, LinkedIn, ...) arrive through the generic endpoint,
/// which names the brand itself.
fn directory_entry(brand: &rapport_runtime::config::BrandConfig) -> BrandConfig {
    let account = |platform: &str| brand.accounts.get(platform).cloned();
    BrandConfig {
        id: brand.id.clone(),
        accounts: BrandAccounts {
            facebook: account("facebook"),
            instagram: account("instagram"),
            x: account("x"),
            mastodon: account("mastodon"),
        },
        automation_app_ids: brand.automation_app_ids.clone(),
    }
}

#[cfg(test)]
mod tests {
    use rapport_events::Platform;
    use rapport_runtime::Secret;

    use super::*;

    fn config_with(toml_text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!(
            "rapport-ingest-service-settings-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(format!("{}.toml", toml_text.len()));
        std::fs::write(&path, toml_text).expect("write config");
        Config::load_with_env(Some(&path), Vec::new()).expect("valid config")
    }

    #[test]
    fn endpoints_without_secrets_are_disabled_and_rotations_keep_both_values() {
        let mut config = Config::default();
        config.ingest.meta.app_secret =
            rapport_runtime::Secrets::new(vec![Secret::new("old"), Secret::new("new")])
                .expect("two secrets");
        let settings = Settings::from_config(&config).expect("settings");
        let meta = settings.secrets.meta.expect("meta enabled");
        assert_eq!(meta.current(), b"old");
        assert!(settings.secrets.x.is_none() && settings.secrets.mastodon.is_none());
        assert!(settings.secrets.generic.is_none() && settings.secrets.meta_verify_token.is_none());
    }

    #[test]
    fn brands_become_directory_entries_and_a_custom_generic_tolerance_is_refused() {
        let config = config_with(
            "[[brands]]\nid = \"acme\"\naccounts = { facebook = \"1\", x = 2, bluesky = \"did:plc:a\" }\n",
        );
        let settings = Settings::from_config(&config).expect("settings");
        assert_eq!(
            settings
                .directory
                .lookup(Platform::X, "2")
                .expect("x account")
                .brand_id,
            "acme"
        );
        assert!(settings.directory.find(Platform::Facebook, "2").is_none());

        let mut config = Config::default();
        config.ingest.generic.tolerance = Duration::from_secs(60);
        assert!(matches!(
            Settings::from_config(&config),
            Err(SettingsError::GenericTolerance { .. })
        ));
    }

    #[test]
    fn dead_letters_fit_the_producers_largest_record() {
        let mut config = Config::default();
        let settings = Settings::from_config(&config).expect("settings");
        // The default body limit (1 MiB) is above librdkafka's default record limit (1 MB).
        assert!(settings.max_body_bytes > DEFAULT_MESSAGE_MAX_BYTES);
        assert_eq!(
            settings.dead_letter_payload_max,
            DEFAULT_MESSAGE_MAX_BYTES - DEAD_LETTER_ENVELOPE_BYTES
        );
        config
            .kafka
            .properties
            .insert("message.max.bytes".into(), "200000".into());
        let settings = Settings::from_config(&config).expect("settings");
        assert_eq!(
            settings.dead_letter_payload_max,
            200_000 - DEAD_LETTER_ENVELOPE_BYTES
        );
        config.ingest.rate_limit.client_ip_header = Some("bad header".into());
        assert!(matches!(
            Settings::from_config(&config),
            Err(SettingsError::ClientIpHeader(_))
        ));
    }
}
