//! Shared test helpers: an event builder with readable timestamps, and the "final table"
//! view of emitted rows (what a ReplacingMergeTree holds after merges: the highest version
//! per key).
#![allow(dead_code)]

use std::collections::BTreeMap;

use rapport_engine::{BandDailyRow, DailyRow, Output, PersonalTouchRow, ThreadRow};
use rapport_events::{Channel, Direction, InteractionEvent, Kind, Modifier, Party, Platform};

pub fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid timestamp in test")
        .timestamp_millis()
}

pub fn secs(rfc3339: &str) -> u32 {
    (ms(rfc3339) / 1000) as u32
}

/// Builds one event for brand `acme` on X unless changed.
pub struct Ev(pub InteractionEvent);

impl Ev {
    fn base(id: &str, at: &str, kind: Kind, dir: Direction) -> Self {
        let channel = if kind == Kind::DirectMessage {
            Channel::Private
        } else {
            Channel::Public
        };
        Ev(InteractionEvent {
            event_id: id.to_owned(),
            platform: Platform::X,
            brand_id: "acme".into(),
            brand_account_id: "acme-x".into(),
            kind,
            modifier: Modifier::None,
            direction: dir,
            channel,
            actor: Party {
                id: "acme-x".into(),
                ..Party::default()
            },
            addressed: None,
            object_id: format!("obj-{id}"),
            parent_id: None,
            root_id: None,
            text: None,
            reaction: None,
            automated: false,
            occurred_at: ms(at),
            received_at: ms(at),
            profile: None,
            source: "test".into(),
        })
    }

    /// `user` acting toward the brand.
    pub fn inbound(id: &str, at: &str, kind: Kind, user: &str) -> Self {
        let mut e = Self::base(id, at, kind, Direction::Inbound);
        e.0.actor = Party {
            id: user.into(),
            handle: Some(format!("@{user}")),
            display_name: None,
            followers: None,
        };
        e
    }

    /// The brand acting toward `user` (empty user: an original post).
    pub fn outbound(id: &str, at: &str, kind: Kind, user: &str) -> Self {
        let mut e = Self::base(id, at, kind, Direction::Outbound);
        if !user.is_empty() {
            e.0.addressed = Some(Party {
                id: user.into(),
                handle: Some(format!("@{user}")),
                display_name: None,
                followers: None,
            });
        }
        e
    }

    pub fn channel(mut self, c: Channel) -> Self {
        self.0.channel = c;
        self
    }

    pub fn text(mut self, t: &str) -> Self {
        self.0.text = Some(t.into());
        self
    }

    pub fn followers(mut self, n: i64) -> Self {
        match self.0.direction {
            Direction::Inbound => self.0.actor.followers = Some(n),
            Direction::Outbound => {
                if let Some(a) = self.0.addressed.as_mut() {
                    a.followers = Some(n)
                }
            }
        }
        self
    }

    pub fn display_name(mut self, n: &str) -> Self {
        match self.0.direction {
            Direction::Inbound => self.0.actor.display_name = Some(n.into()),
            Direction::Outbound => {
                if let Some(a) = self.0.addressed.as_mut() {
                    a.display_name = Some(n.into())
                }
            }
        }
        self
    }

    pub fn automated(mut self) -> Self {
        self.0.automated = true;
        self
    }

    pub fn brand(mut self, b: &str) -> Self {
        self.0.brand_id = b.into();
        self
    }

    pub fn platform(mut self, p: Platform) -> Self {
        self.0.platform = p;
        self
    }
}

/// Final table contents after applying every emitted row in order (highest version wins;
/// an equal version must carry identical content, or the table would be ambiguous).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tables {
    pub threads: BTreeMap<u64, ThreadRow>,
    pub daily: BTreeMap<(String, String, u16), DailyRow>,
    pub bands: BTreeMap<(String, String, u16, String), BandDailyRow>,
    pub touch: BTreeMap<(String, String, String), PersonalTouchRow>,
    pub follow_edges: usize,
    pub profiles: usize,
}

fn put<K: Ord, V: PartialEq + std::fmt::Debug>(
    m: &mut BTreeMap<K, V>,
    k: K,
    v: V,
    ver: impl Fn(&V) -> u64,
) {
    match m.get(&k) {
        Some(old) if ver(old) > ver(&v) => {}
        Some(old) if ver(old) == ver(&v) => {
            assert_eq!(old, &v, "two rows with one key and one version differ")
        }
        _ => {
            m.insert(k, v);
        }
    }
}

impl Tables {
    pub fn apply(&mut self, out: Output) {
        for r in out.threads {
            put(&mut self.threads, r.thread_id, r, |r| r.version);
        }
        for r in out.daily {
            let k = (r.brand_id.clone(), r.platform.to_string(), r.day);
            put(&mut self.daily, k, r, |r| r.version);
        }
        for r in out.daily_bands {
            let k = (
                r.brand_id.clone(),
                r.platform.to_string(),
                r.day,
                r.follower_band.as_str().to_owned(),
            );
            put(&mut self.bands, k, r, |r| r.version);
        }
        for r in out.personal_touch {
            let k = (
                r.brand_id.to_string(),
                r.platform.to_string(),
                r.item_id.to_string(),
            );
            put(&mut self.touch, k, r, |r| r.version);
        }
        self.follow_edges += out.follow_edges.len();
        self.profiles += out.profile_snapshots.len();
    }

    pub fn thread_of(&self, user: &str) -> Vec<&ThreadRow> {
        self.threads
            .values()
            .filter(|t| t.user_id == user)
            .collect()
    }

    pub fn day(&self, brand: &str, day: u16) -> &DailyRow {
        self.daily
            .iter()
            .find(|((b, _, d), _)| b == brand && *d == day)
            .map(|(_, r)| r)
            .unwrap_or_else(|| panic!("no daily row for {brand} day {day}"))
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn day(date: &str) -> u16 {
    (ms(&format!("{date}T00:00:00Z")) / 86_400_000) as u16
}

/// Human-readable differences between two final tables (for assertion messages).
pub fn diff(a: &Tables, b: &Tables) -> String {
    fn side<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
        name: &str,
        a: &BTreeMap<K, V>,
        b: &BTreeMap<K, V>,
        out: &mut String,
    ) {
        for (k, v) in a {
            match b.get(k) {
                None => out.push_str(&format!("{name} {k:?} only left: {v:?}\n")),
                Some(w) if w != v => {
                    out.push_str(&format!("{name} {k:?}\n  left  {v:?}\n  right {w:?}\n"))
                }
                _ => {}
            }
        }
        for (k, v) in b {
            if !a.contains_key(k) {
                out.push_str(&format!("{name} {k:?} only right: {v:?}\n"));
            }
        }
    }
    let mut out = String::new();
    side("thread", &a.threads, &b.threads, &mut out);
    side("daily", &a.daily, &b.daily, &mut out);
    side("band", &a.bands, &b.bands, &mut out);
    side("touch", &a.touch, &b.touch, &mut out);
    if a.follow_edges != b.follow_edges || a.profiles != b.profiles {
        out.push_str("follow/profile row counts differ\n");
    }
    out
}
