//! Sample loading and the brand directory that owns every account the samples mention.

use rapport_events::{Channel, Direction, InteractionEvent, Kind, Modifier};
use rapport_ingest::{normalize, AccountDirectory, BrandAccounts, BrandConfig, Endpoint};

pub const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/platforms/samples/"
);

/// 2026-09-01T00:00:00Z: after every sample, so no sample is "in the future".
pub const RECEIVED_AT: i64 = 1_788_220_800_000;

pub fn sample(name: &str) -> Vec<u8> {
    let path = format!("{SAMPLES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

pub fn sample_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&sample(name)).unwrap()
}

fn brand(id: &str, accounts: BrandAccounts, automation: &[&str]) -> BrandConfig {
    BrandConfig {
        id: id.into(),
        accounts,
        automation_app_ids: automation.iter().map(|s| s.to_string()).collect(),
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// One brand per distinct brand account in the samples (a brand has one account per platform).
pub fn directory() -> AccountDirectory {
    let none = BrandAccounts::default;
    AccountDirectory::new([
        brand(
            "capture",
            BrandAccounts {
                facebook: some("103149398319188"),
                ..none()
            },
            &[],
        ),
        brand(
            "bottender",
            BrandAccounts {
                facebook: some("137542570280222"),
                ..none()
            },
            &[],
        ),
        brand(
            "bottender-page",
            BrandAccounts {
                facebook: some("137542570280111"),
                ..none()
            },
            &[],
        ),
        brand(
            "bot-echo",
            BrandAccounts {
                facebook: some("1134713619900975"),
                ..none()
            },
            &["1821152484774199"],
        ),
        brand(
            "acme",
            BrandAccounts {
                facebook: some("102938475610293"),
                instagram: some("17841400000000001"),
                x: some("2244994945"),
                mastodon: some("109348677773283527"),
            },
            &["263902037430900"],
        ),
        brand(
            "ig-docs",
            BrandAccounts {
                instagram: some("17841405726653026"),
                ..none()
            },
            &[],
        ),
        brand(
            "x-delete",
            BrandAccounts {
                x: some("930524282358325248"),
                ..none()
            },
            &[],
        ),
        brand(
            "x-dm",
            BrandAccounts {
                x: some("4337869213"),
                ..none()
            },
            &[],
        ),
        brand(
            "xaa",
            BrandAccounts {
                x: some("1111111111111111111"),
                ..none()
            },
            &[],
        ),
        brand(
            "masto-docs",
            BrandAccounts {
                mastodon: some("14715"),
                ..none()
            },
            &[],
        ),
    ])
    .unwrap()
}

pub fn run(endpoint: &Endpoint, name: &str) -> Vec<InteractionEvent> {
    normalize(endpoint, &sample(name), RECEIVED_AT, &directory())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn one(endpoint: &Endpoint, name: &str) -> InteractionEvent {
    let mut events = run(endpoint, name);
    assert_eq!(events.len(), 1, "{name}: {events:#?}");
    events.remove(0)
}

/// The fields every test checks, in one comparable tuple.
#[derive(Debug, PartialEq, Eq)]
pub struct Core<'a> {
    pub kind: Kind,
    pub modifier: Modifier,
    pub direction: Direction,
    pub channel: Channel,
    pub user: &'a str,
    pub object: &'a str,
    pub parent: Option<&'a str>,
    pub root: Option<&'a str>,
    pub occurred_at: i64,
}

pub fn core(e: &InteractionEvent) -> Core<'_> {
    assert_eq!(e.received_at, RECEIVED_AT);
    assert_eq!(e.event_id.len(), 32, "event ids are 128-bit hex");
    Core {
        kind: e.kind,
        modifier: e.modifier,
        direction: e.direction,
        channel: e.channel,
        user: e.user_id(),
        object: &e.object_id,
        parent: e.parent_id.as_deref(),
        root: e.root_id.as_deref(),
        occurred_at: e.occurred_at,
    }
}
