//! Engine and brand settings as the service loads them from TOML (`serde::Deserialize`), with
//! METRICS.md defaults. Validation of brand calendars happens in `calendar.rs`, once, when the
//! engine is built; this module only owns the shapes and the defaults.

use serde::{Deserialize, Serialize};

pub const SECOND_MS: i64 = 1_000;
pub const HOUR_MS: i64 = 3_600 * SECOND_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Engine-wide knobs. Every duration is in seconds, as written in `rapport.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Silence that splits threads (METRICS.md §2), default 24 h.
    pub thread_gap_seconds: u32,
    /// Longest an unanswered thread stays `awaiting_brand`, default 7 d.
    pub max_pending_seconds: u32,
    /// Watermark lag behind the newest `occurred_at`, default 5 min.
    pub allowed_lateness_seconds: u32,
    /// How long an `event_id` is remembered for de-duplication, default 24 h.
    pub dedup_horizon_seconds: u32,
    /// Trailing window of replies a new reply is compared with for templating, default 30 d.
    pub template_window_seconds: u32,
    /// Near-duplicates needed to call a reply templated, default 4.
    pub template_min_matches: u32,
    /// Window in which a user's next inbound item counts as a return, default 30 d.
    pub return_window_seconds: u32,
    /// Window in which the brand must follow a new follower back, default 7 d.
    pub follow_back_window_seconds: u32,
    /// Event-time interval between housekeeping sweeps (expiry of idle state), default 1 h.
    pub housekeeping_interval_seconds: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            thread_gap_seconds: 24 * 3600,
            max_pending_seconds: 7 * 24 * 3600,
            allowed_lateness_seconds: 300,
            dedup_horizon_seconds: 24 * 3600,
            template_window_seconds: 30 * 24 * 3600,
            template_min_matches: 4,
            return_window_seconds: 30 * 24 * 3600,
            follow_back_window_seconds: 7 * 24 * 3600,
            housekeeping_interval_seconds: 3600,
        }
    }
}

impl EngineConfig {
    pub(crate) fn validate(&self) -> Result<(), crate::ConfigError> {
        let bad = |m: &str| Err(crate::ConfigError::Invalid(m.to_owned()));
        if self.thread_gap_seconds == 0 || self.max_pending_seconds == 0 {
            return bad("thread_gap_seconds and max_pending_seconds must be positive");
        }
        if self.housekeeping_interval_seconds == 0 {
            return bad("housekeeping_interval_seconds must be positive");
        }
        // Thread bookkeeping keeps response and acknowledgement offsets in u32 milliseconds.
        if i64::from(self.max_pending_seconds) * SECOND_MS >= i64::from(u32::MAX) {
            return bad("max_pending_seconds must be below 49 days");
        }
        if self.return_window_seconds < self.max_pending_seconds {
            return bad("return_window_seconds must be at least max_pending_seconds");
        }
        Ok(())
    }

    pub(crate) fn ms(secs: u32) -> i64 {
        i64::from(secs) * SECOND_MS
    }
}

/// One brand's responsiveness settings (`[[brands]]` in `rapport.toml`).
///
/// ```toml
/// brand_id = "acme"
/// timezone = "Europe/Berlin"
/// business_hours = { mon = "09:00-17:00", tue = "09:00-17:00", fri = "09:00-12:00,13:00-16:00" }
/// holidays = ["2026-12-25"]
/// sla_target_seconds = 3600
/// ```
///
/// Without `business_hours` the brand is open around the clock; with it, days not listed are
/// closed. `"00:00-24:00"` is a whole day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandSettings {
    pub brand_id: String,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub business_hours: Option<WeeklyHours>,
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default = "default_sla")]
    pub sla_target_seconds: u32,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

fn default_sla() -> u32 {
    3600
}

impl BrandSettings {
    /// Settings used for a brand that appears in events but not in the configuration:
    /// UTC, always open, 1 h SLA.
    pub fn with_defaults(brand_id: impl Into<String>) -> Self {
        BrandSettings {
            brand_id: brand_id.into(),
            timezone: default_timezone(),
            business_hours: None,
            holidays: Vec::new(),
            sla_target_seconds: default_sla(),
        }
    }
}

/// Opening hours per weekday, each `"HH:MM-HH:MM"` or several separated by commas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyHours {
    pub mon: Option<String>,
    pub tue: Option<String>,
    pub wed: Option<String>,
    pub thu: Option<String>,
    pub fri: Option<String>,
    pub sat: Option<String>,
    pub sun: Option<String>,
}

impl WeeklyHours {
    /// Monday first, as `chrono::Weekday::num_days_from_monday`.
    pub(crate) fn days(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("mon", self.mon.as_deref()),
            ("tue", self.tue.as_deref()),
            ("wed", self.wed.as_deref()),
            ("thu", self.thu.as_deref()),
            ("fri", self.fri.as_deref()),
            ("sat", self.sat.as_deref()),
            ("sun", self.sun.as_deref()),
        ]
    }

    /// The same hours Monday to Friday, weekend closed.
    pub fn weekdays(spec: &str) -> Self {
        let s = Some(spec.to_owned());
        WeeklyHours {
            mon: s.clone(),
            tue: s.clone(),
            wed: s.clone(),
            thu: s.clone(),
            fri: s,
            sat: None,
            sun: None,
        }
    }
}
