//! What is simulated: the brands (id, persona, timezone, account id per platform, bot app id),
//! the webhook secrets, the window of time and the traffic volume — and the matching rapport
//! configuration (`[[brands]]` and `[ingest.*]` TOML, or an [`AccountDirectory`]) so that the
//! ingest service accepts exactly the traffic generated from it.
//!
//! Account ids and secrets depend on the brand's position only, never on the seed: a demo
//! writes `rapport.toml` once and can then replay any seed against it.

use chrono::{DateTime, Utc};
use rapport_ingest::{AccountDirectory, BrandAccounts, BrandConfig, DirectoryError, Endpoint};

use crate::SimError;

/// How a brand behaves toward the people who talk to it (the ground truth the metrics must
/// recover). See the crate documentation for the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Persona {
    /// Many posts, answers ~7 % of threads and slowly, follows almost nobody back.
    Broadcaster,
    /// Answers > 90 % of threads within an hour while its care team is staffed (extended
    /// hours, weekends too), by first name.
    Responsive,
    /// Answers ~80 % fast, with near-identical canned replies.
    Templated,
    /// Answers accounts with ≥ 10k followers quickly and mostly ignores small ones.
    InfluencerFavouring,
}

impl Persona {
    /// Brands cycle through the personas in this order, so any 4 consecutive brands cover all.
    pub const ALL: [Persona; 4] = [
        Persona::Broadcaster,
        Persona::Responsive,
        Persona::Templated,
        Persona::InfluencerFavouring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Persona::Broadcaster => "broadcaster",
            Persona::Responsive => "responsive",
            Persona::Templated => "templated",
            Persona::InfluencerFavouring => "influencer-favouring",
        }
    }
}

/// The brand's own account id per platform. LinkedIn has no native adapter: its items travel
/// through the generic endpoint with the brand id, so it is not part of `[[brands]].accounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAccounts {
    pub facebook: String,
    pub instagram: String,
    pub x: String,
    pub mastodon: String,
    pub linkedin: String,
}

/// One simulated brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandSpec {
    pub id: String,
    pub name: String,
    pub persona: Persona,
    /// IANA timezone of its business hours (Mon–Fri 09:00–17:00).
    pub timezone: chrono_tz::Tz,
    pub accounts: SimAccounts,
    /// Messenger/Instagram app id of the brand's away-message bot (listed as automation).
    pub bot_app_id: String,
    /// App id of the inbox the brand's people answer from (not automation).
    pub inbox_app_id: String,
    /// Profile counts on X at the start of the window (followers, following, posts).
    pub profile: (u64, u64, u64),
}

/// The webhook secrets, as the platforms and rapport's generic senders would hold them.
#[derive(Clone, PartialEq, Eq)]
pub struct SimSecrets {
    pub meta_app_secret: String,
    pub x_consumer_secret: String,
    pub mastodon_secret: String,
    pub generic_secret: String,
}

impl std::fmt::Debug for SimSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimSecrets(..)")
    }
}

impl Default for SimSecrets {
    fn default() -> Self {
        // Fixed, obviously-not-production values: the simulator and the generated rapport.toml
        // must agree, and a demo config is shared in plain text anyway.
        SimSecrets {
            meta_app_secret: "simulate-meta-app-secret".into(),
            x_consumer_secret: "simulate-x-consumer-secret".into(),
            mastodon_secret: "simulate-mastodon-secret".into(),
            generic_secret: "simulate-generic-secret".into(),
        }
    }
}

impl SimSecrets {
    /// The secret ingest checks for deliveries to `endpoint`.
    pub fn for_endpoint(&self, endpoint: &Endpoint) -> &str {
        match endpoint {
            Endpoint::Meta => &self.meta_app_secret,
            Endpoint::X => &self.x_consumer_secret,
            Endpoint::Mastodon { .. } => &self.mastodon_secret,
            Endpoint::Generic => &self.generic_secret,
        }
    }
}

/// Everything the generator needs; same config and seed ⇒ same bytes.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub brands: Vec<BrandSpec>,
    pub secrets: SimSecrets,
    /// Length of the window in days; it ends at `end_ms`.
    pub days: u32,
    /// End of the simulated window, epoch ms (default: now).
    pub end_ms: i64,
    /// Inbound threads per brand per day at the weekly mean (the diurnal and weekly shape
    /// moves it around).
    pub threads_per_day: f64,
    /// Size of the shared pool of users.
    pub users: u32,
}

const BRAND_NAMES: [&str; 8] = [
    "northwind",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "soylent",
    "stark",
    "wonka",
];

const TIMEZONES: [chrono_tz::Tz; 5] = [
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::America::Los_Angeles,
    chrono_tz::Asia::Tokyo,
];

impl SimConfig {
    /// `brands` brands (personas cycling broadcaster, responsive, templated,
    /// influencer-favouring) over the `days` days before `end`.
    pub fn new(brands: usize, days: u32, seed: u64, end: DateTime<Utc>) -> Result<Self, SimError> {
        if brands == 0 || brands > 1000 {
            return Err(SimError::Config(format!(
                "brands must be 1..=1000, not {brands}"
            )));
        }
        if days == 0 || days > 366 {
            return Err(SimError::Config(format!(
                "days must be 1..=366, not {days}"
            )));
        }
        let brands = (0..brands).map(brand_spec).collect();
        Ok(SimConfig {
            seed,
            brands,
            secrets: SimSecrets::default(),
            days,
            end_ms: end.timestamp_millis(),
            threads_per_day: 24.0,
            users: 4000,
        })
    }

    pub fn start_ms(&self) -> i64 {
        self.end_ms - i64::from(self.days) * DAY_MS
    }

    /// The account directory ingest builds from the generated `[[brands]]`.
    pub fn directory(&self) -> Result<AccountDirectory, DirectoryError> {
        AccountDirectory::new(self.brands.iter().map(|b| BrandConfig {
            id: b.id.clone(),
            accounts: BrandAccounts {
                facebook: Some(b.accounts.facebook.clone()),
                instagram: Some(b.accounts.instagram.clone()),
                x: Some(b.accounts.x.clone()),
                mastodon: Some(b.accounts.mastodon.clone()),
            },
            automation_app_ids: vec![b.bot_app_id.clone()],
        }))
    }

    /// The `[ingest.*]` secrets and `[[brands]]` blocks of a rapport.toml that accepts this
    /// simulation (append to, or start, a configuration file).
    pub fn to_toml(&self) -> String {
        let s = &self.secrets;
        let mut out = String::new();
        out.push_str(
            "# Generated by `rapport simulate --print-config`: the accounts and secrets of the\n\
             # simulated brands. Personas are ground truth for the metrics, not configuration.\n\n",
        );
        out += &format!("[ingest.meta]\napp_secret = [{:?}]\n", s.meta_app_secret);
        out += &format!("[ingest.x]\nconsumer_secret = {:?}\n", s.x_consumer_secret);
        out += &format!("[ingest.mastodon]\nsecret = {:?}\n", s.mastodon_secret);
        out += &format!(
            "[ingest.generic]\nsecret = [{:?}]\ntolerance = \"5m\"\n",
            s.generic_secret
        );
        for b in &self.brands {
            let a = &b.accounts;
            out += &format!(
                "# persona: {persona}\n[[brands]]\nid = {id:?}\nname = {name:?}\ntimezone = {tz:?}\n\
                 business_hours = {{ mon = \"09:00-17:00\", tue = \"09:00-17:00\", wed = \"09:00-17:00\", thu = \"09:00-17:00\", fri = \"09:00-17:00\" }}\n\
                 sla_target = \"1h\"\n\
                 accounts = {{ facebook = {fb:?}, instagram = {ig:?}, x = {x:?}, mastodon = {m:?} }}\n\
                 automation_app_ids = [{bot:?}]\n",
                persona = b.persona.as_str(),
                id = b.id,
                name = b.name,
                tz = b.timezone.name(),
                fb = a.facebook,
                ig = a.instagram,
                x = a.x,
                m = a.mastodon,
                bot = b.bot_app_id,
            );
        }
        out
    }
}

pub(crate) const DAY_MS: i64 = 86_400_000;

fn brand_spec(i: usize) -> BrandSpec {
    let base = BRAND_NAMES[i % BRAND_NAMES.len()];
    let id = if i < BRAND_NAMES.len() {
        base.to_owned()
    } else {
        format!("{base}-{i}")
    };
    let persona = Persona::ALL[i % Persona::ALL.len()];
    let n = i as u64;
    let profile = match persona {
        // The classic picture from METRICS.md: a big audience, almost nobody followed back.
        Persona::Broadcaster => (32_000, 422, 3_634),
        Persona::Responsive => (12_400, 8_900, 2_210),
        Persona::Templated => (85_000, 1_200, 5_120),
        Persona::InfluencerFavouring => (250_000, 310, 1_980),
    };
    let mut name = String::with_capacity(base.len());
    let mut chars = base.chars();
    if let Some(first) = chars.next() {
        name.extend(first.to_uppercase());
        name.push_str(chars.as_str());
    }
    BrandSpec {
        name,
        persona,
        timezone: TIMEZONES[i % TIMEZONES.len()],
        accounts: SimAccounts {
            facebook: (104_000_000_000_000 + n * 1_000_003).to_string(),
            instagram: (17_841_400_000_000_000 + n * 1_000_003).to_string(),
            x: (2_244_000_000 + n * 10_007).to_string(),
            mastodon: (109_302_436_716_000_000 + n * 1_000_003).to_string(),
            linkedin: format!("urn:li:organization:{}", 2_414_000 + n),
        },
        bot_app_id: (263_902_037_430_000 + n).to_string(),
        inbox_app_id: (1_217_981_644_879_000 + n).to_string(),
        profile,
        id,
    }
}
