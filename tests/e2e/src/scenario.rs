//! A deterministic, realistic stream of interaction events for the processor's fault tests:
//! a few brands with different calendars, many users who comment, mention and DM (opening
//! threads), brand replies minutes, hours or days later (some never, some automated, some
//! templated, some moving the talk to DMs), reactions, follows and follow-backs, brand posts
//! and daily profile snapshots — plus the mess real traffic has: platform retries of the same
//! `event_id`, events arriving out of order within the lateness bound, and a few beyond it.
//!
//! Same seed, same events, byte for byte: the generator uses its own SplitMix64 so no crate
//! upgrade can change the stream, which is what makes two runs comparable.

use std::collections::BTreeMap;
use std::time::Duration;

use rapport_events::{
    Channel, Direction, EventCodec, InteractionEvent, Kind, Modifier, Party, Platform,
    ProfileCounts,
};
use rapport_kafka::rdkafka::producer::FutureRecord;
use rapport_runtime::config::KafkaConfig;

use crate::STACK_HINT;

/// Monday 2026-03-02T00:00:00Z: simulated days start here (weekdays and a weekend follow).
pub const SCENARIO_START_MS: i64 = 1_772_409_600_000;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// SplitMix64: tiny, fast and fixed forever (tests must not change when a crate does).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1A4_F87D)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` = 0 gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below(u64::try_from(hi - lo).unwrap_or(0))).unwrap_or(0)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A brand of the scenario and how it is configured (`[[brands]]`).
#[derive(Debug, Clone, Copy)]
pub struct ScenarioBrand {
    pub id: &'static str,
    pub timezone: &'static str,
    /// `(day, "HH:MM-HH:MM")`; empty means always open.
    pub hours: &'static [(&'static str, &'static str)],
    pub sla: &'static str,
    pub accounts: &'static [(Platform, &'static str)],
}

pub const SCENARIO_BRANDS: &[ScenarioBrand] = &[
    ScenarioBrand {
        id: "acme",
        timezone: "Europe/Berlin",
        hours: &[
            ("mon", "09:00-17:00"),
            ("tue", "09:00-17:00"),
            ("wed", "09:00-17:00"),
            ("thu", "09:00-17:00"),
            ("fri", "09:00-17:00"),
        ],
        sla: "1h",
        accounts: &[(Platform::Facebook, "1001"), (Platform::Instagram, "1002")],
    },
    ScenarioBrand {
        id: "globex",
        timezone: "America/New_York",
        hours: &[
            ("mon", "08:00-20:00"),
            ("tue", "08:00-20:00"),
            ("wed", "08:00-20:00"),
            ("thu", "08:00-20:00"),
            ("fri", "08:00-20:00"),
            ("sat", "10:00-14:00"),
        ],
        sla: "2h",
        accounts: &[(Platform::X, "2001"), (Platform::Mastodon, "2002")],
    },
    ScenarioBrand {
        id: "initech",
        timezone: "UTC",
        hours: &[],
        sla: "4h",
        accounts: &[(Platform::Bluesky, "3001")],
    },
];

/// The `[[brands]]` tables of [`SCENARIO_BRANDS`] (brands must come from a file, not env).
pub fn scenario_brands_toml() -> String {
    let mut s = String::new();
    for b in SCENARIO_BRANDS {
        s.push_str(&format!(
            "[[brands]]\nid = \"{}\"\ntimezone = \"{}\"\nsla_target = \"{}\"\n",
            b.id, b.timezone, b.sla
        ));
        let hours: Vec<String> = b
            .hours
            .iter()
            .map(|(d, h)| format!("{d} = \"{h}\""))
            .collect();
        s.push_str(&format!("business_hours = {{ {} }}\n", hours.join(", ")));
        let accounts: Vec<String> = b
            .accounts
            .iter()
            .map(|(p, a)| format!("{} = \"{a}\"", p.as_str()))
            .collect();
        s.push_str(&format!("accounts = {{ {} }}\n\n", accounts.join(", ")));
    }
    s
}

const INBOUND_TEXTS: &[&str] = &[
    "My order {n} still has not arrived, any update?",
    "The app keeps crashing when I open the checkout page",
    "Do you ship to Portugal? Asking for a friend",
    "Love the new collection, is the green jacket back in stock?",
    "I was charged twice for the same subscription this month",
    "Why is customer support closed on weekends?",
    "Where can I find the warranty conditions for the blender?",
    "The delivery driver left my parcel in the rain, everything is soaked",
];

const TEMPLATED_REPLIES: &[&str] = &[
    "Thanks for reaching out! Please send us a DM with your order number and we will look into it.",
    "We are sorry to hear that. Our team will get back to you shortly.",
];

const MOVE_PRIVATE: &str =
    "Sorry about this! Could you send us a private message with your details so we can help?";

const AUTOMATED: &str = "Thanks for your message. We usually reply within one business day.";

/// One generated event and the instant the broker receives it (arrival order = topic order).
struct Pending {
    arrival: i64,
    seq: u64,
    event: InteractionEvent,
}

struct Gen {
    rng: Rng,
    seed: u64,
    next_id: u64,
    out: Vec<Pending>,
}

impl Gen {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}-{}", self.seed, self.next_id)
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        brand: &ScenarioBrand,
        platform: Platform,
        account: &str,
        kind: Kind,
        direction: Direction,
        channel: Channel,
        user: Option<&Party>,
        at: i64,
    ) -> InteractionEvent {
        let event_id = self.id("ev");
        let brand_party = Party {
            id: account.to_owned(),
            handle: Some(format!("@{}", brand.id)),
            display_name: Some(brand.id.to_uppercase()),
            followers: None,
        };
        let (actor, addressed) = match direction {
            Direction::Inbound => (user.cloned().unwrap_or_default(), Some(brand_party)),
            Direction::Outbound => (brand_party, user.cloned()),
        };
        InteractionEvent {
            object_id: format!("obj-{event_id}"),
            event_id,
            platform,
            brand_id: brand.id.to_owned(),
            brand_account_id: account.to_owned(),
            kind,
            modifier: Modifier::None,
            direction,
            channel,
            actor,
            addressed,
            parent_id: None,
            root_id: None,
            text: None,
            reaction: None,
            automated: false,
            occurred_at: at,
            received_at: at,
            profile: None,
            source: "scenario".into(),
        }
    }

    /// Queue `event` with a realistic delivery delay: mostly seconds, sometimes minutes
    /// (out of order but within the 5-minute lateness), rarely beyond it (late), and now and
    /// then delivered twice (a platform retry of the same `event_id`).
    fn push(&mut self, mut event: InteractionEvent) {
        let r = self.rng.below(1000);
        let delay = if r < 4 {
            self.rng.range(6 * MINUTE, 30 * MINUTE)
        } else if r < 60 {
            self.rng.range(10_000, 4 * MINUTE)
        } else {
            self.rng.range(200, 3_000)
        };
        event.received_at = event.occurred_at + delay;
        let arrival = event.received_at;
        if self.rng.chance(0.02) {
            let mut copy = event.clone();
            copy.received_at = arrival + self.rng.range(1_000, 2 * MINUTE);
            self.next_id += 1;
            self.out.push(Pending {
                arrival: copy.received_at,
                seq: self.next_id,
                event: copy,
            });
        }
        self.next_id += 1;
        self.out.push(Pending {
            arrival,
            seq: self.next_id,
            event,
        });
    }
}

fn followers(rng: &mut Rng) -> Option<i64> {
    let r = rng.below(100);
    match r {
        0..=14 => None,
        15..=74 => Some(rng.range(0, 1_000)),
        75..=91 => Some(rng.range(1_000, 10_000)),
        92..=97 => Some(rng.range(10_000, 100_000)),
        _ => Some(rng.range(100_000, 5_000_000)),
    }
}

/// `days` simulated days of traffic from `n_users` users spread over [`SCENARIO_BRANDS`],
/// in arrival order (the order to produce them in). Deterministic in its arguments.
pub fn scenario_events(seed: u64, n_users: u32, days: u32) -> Vec<InteractionEvent> {
    let mut g = Gen {
        rng: Rng::new(seed),
        seed,
        next_id: 0,
        out: Vec::new(),
    };
    let end = SCENARIO_START_MS + i64::from(days) * DAY;

    // The brands' own activity: posts through the day, one profile snapshot a day.
    for brand in SCENARIO_BRANDS {
        for &(platform, account) in brand.accounts {
            let mut followers = g.rng.range(5_000, 200_000);
            for d in 0..i64::from(days) {
                let day = SCENARIO_START_MS + d * DAY;
                let mut snap = g.event(
                    brand,
                    platform,
                    account,
                    Kind::ProfileSnapshot,
                    Direction::Outbound,
                    Channel::Public,
                    None,
                    day + 5 * MINUTE,
                );
                followers += g.rng.range(-50, 400);
                snap.profile = Some(ProfileCounts {
                    followers,
                    following: 300 + d,
                    posts: Some(1_000 + d * 3),
                });
                g.push(snap);
                for _ in 0..3 {
                    let at = day + g.rng.range(7 * HOUR, 21 * HOUR);
                    let mut post = g.event(
                        brand,
                        platform,
                        account,
                        Kind::Post,
                        Direction::Outbound,
                        Channel::Public,
                        None,
                        at,
                    );
                    post.text = Some(format!("New on {}: {}", brand.id, g.id("drop")));
                    g.push(post);
                }
            }
        }
    }

    for u in 0..n_users {
        let brand = g.rng.pick(SCENARIO_BRANDS);
        let &(platform, account) = g.rng.pick(brand.accounts);
        let user = Party {
            id: format!("u{u}"),
            handle: Some(format!("@user{u}")),
            display_name: g.rng.chance(0.5).then(|| format!("Sam{u}")),
            followers: followers(&mut g.rng),
        };
        let ev = |g: &mut Gen, kind, direction, channel, at| {
            g.event(
                brand,
                platform,
                account,
                kind,
                direction,
                channel,
                Some(&user),
                at,
            )
        };

        // Follows: some users follow the brand, the brand follows some back, a few leave.
        if g.rng.chance(0.3) {
            let at = SCENARIO_START_MS + g.rng.range(0, i64::from(days) * DAY);
            let follow = ev(
                &mut g,
                Kind::Follow,
                Direction::Inbound,
                Channel::Public,
                at,
            );
            g.push(follow);
            if g.rng.chance(0.3) {
                let back = at + g.rng.range(10 * MINUTE, 3 * DAY);
                if back < end {
                    let e = ev(
                        &mut g,
                        Kind::Follow,
                        Direction::Outbound,
                        Channel::Public,
                        back,
                    );
                    g.push(e);
                }
            }
            if g.rng.chance(0.1) {
                let gone = at + g.rng.range(HOUR, 2 * DAY);
                if gone < end {
                    let e = ev(
                        &mut g,
                        Kind::Unfollow,
                        Direction::Inbound,
                        Channel::Public,
                        gone,
                    );
                    g.push(e);
                }
            }
        }

        for d in 0..i64::from(days) {
            let day = SCENARIO_START_MS + d * DAY;
            if g.rng.chance(0.15) {
                let at = day + g.rng.range(0, DAY);
                let mut e = ev(
                    &mut g,
                    Kind::Reaction,
                    Direction::Inbound,
                    Channel::Public,
                    at,
                );
                e.reaction = Some(g.rng.pick(&["like", "love", "haha"]).to_string());
                g.push(e);
            }
            if !g.rng.chance(0.35) {
                continue;
            }
            // An episode: the user writes (1-3 items), the brand may answer.
            let (kind, channel) = match g.rng.below(100) {
                0..=44 => (Kind::Comment, Channel::Public),
                45..=64 => (Kind::Mention, Channel::Public),
                _ => (Kind::DirectMessage, Channel::Private),
            };
            let mut at = day + g.rng.range(0, DAY);
            let text = g
                .rng
                .pick(INBOUND_TEXTS)
                .replace("{n}", &g.rng.range(10_000, 99_999).to_string());
            let items = 1 + g.rng.below(3);
            let mut first_object = None;
            for i in 0..items {
                let mut e = ev(&mut g, kind, Direction::Inbound, channel, at);
                e.text = Some(if i == 0 {
                    text.clone()
                } else {
                    "Hello? Anyone there?".into()
                });
                if kind == Kind::Comment {
                    e.parent_id = Some(format!("post-{}-{d}", brand.id));
                    e.root_id = e.parent_id.clone();
                }
                first_object.get_or_insert_with(|| e.object_id.clone());
                if i == 0 && g.rng.chance(0.03) {
                    // The user edits the first item: same object, a new event.
                    let mut edit = e.clone();
                    edit.event_id = g.id("ev");
                    edit.modifier = Modifier::Edited;
                    edit.occurred_at += g.rng.range(MINUTE, 10 * MINUTE);
                    g.push(edit);
                }
                g.push(e);
                at += g.rng.range(MINUTE, 20 * MINUTE);
            }
            if !g.rng.chance(0.7) {
                continue; // never answered
            }
            let delay = match g.rng.below(100) {
                0..=59 => g.rng.range(2 * MINUTE, 90 * MINUTE),
                60..=89 => g.rng.range(2 * HOUR, 20 * HOUR),
                _ => g.rng.range(DAY, 4 * DAY),
            };
            let reply_at = at + delay;
            if reply_at >= end {
                continue;
            }
            let automated = g.rng.chance(0.05);
            let (rkind, rchannel, rtext) = if automated {
                (Kind::DirectMessage, Channel::Private, AUTOMATED.to_owned())
            } else if channel == Channel::Private {
                (
                    Kind::DirectMessage,
                    Channel::Private,
                    personal(&mut g.rng, &user, &text),
                )
            } else if g.rng.chance(0.2) {
                (Kind::Reply, Channel::Public, MOVE_PRIVATE.to_owned())
            } else if g.rng.chance(0.35) {
                (
                    Kind::Reply,
                    Channel::Public,
                    g.rng.pick(TEMPLATED_REPLIES).to_string(),
                )
            } else {
                (
                    Kind::Reply,
                    Channel::Public,
                    personal(&mut g.rng, &user, &text),
                )
            };
            let mut r = ev(&mut g, rkind, Direction::Outbound, rchannel, reply_at);
            r.text = Some(rtext);
            r.automated = automated;
            if rkind == Kind::Reply {
                r.parent_id = first_object;
            }
            g.push(r);
        }
    }

    g.out.sort_by_key(|p| (p.arrival, p.seq));
    g.out.into_iter().map(|p| p.event).collect()
}

/// A personal reply: addresses the user by name (when known) and echoes their words.
fn personal(rng: &mut Rng, user: &Party, inbound: &str) -> String {
    let name = user.display_name.as_deref().unwrap_or("there");
    let word = inbound
        .split_whitespace()
        .filter(|w| w.len() > 5)
        .nth(rng.below(2) as usize)
        .unwrap_or("issue");
    format!("Hi {name}, so sorry about the {word}. I have asked our team to check it today and will update you.")
}

/// About `n` events over `days` days (users sized to match), cut to exactly `n` in arrival
/// order. The stream stays realistic: cutting only ends it a little earlier.
pub fn scenario_events_about(seed: u64, n: usize, days: u32) -> Vec<InteractionEvent> {
    // ~0.95 events per user and day (episodes, replies, reactions, follows), plus brands.
    let users = (n as f64 / (f64::from(days) * 0.9)).ceil() as u32 + 10;
    let mut events = scenario_events(seed, users, days);
    events.truncate(n);
    events
}

/// Where produced records landed: the end offset (next offset) of every partition written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Produced {
    pub end_offsets: BTreeMap<i32, i64>,
}

impl Produced {
    pub fn total(&self) -> i64 {
        self.end_offsets.values().sum()
    }
}

/// Produce `records` as `(key, payload)` in order and wait for every ack. Returns the end
/// offset of every partition written (a fresh topic starts at 0).
pub async fn produce_raw(
    kafka: &KafkaConfig,
    topic: &str,
    records: &[(String, Vec<u8>)],
) -> Produced {
    let producer = rapport_kafka::producer(kafka).expect("producer");
    let mut produced = Produced::default();
    // Enqueue in chunks below librdkafka's queue limit; the idempotent producer keeps the
    // per-partition order of enqueueing.
    for chunk in records.chunks(20_000) {
        let mut acks = Vec::with_capacity(chunk.len());
        for (key, payload) in chunk {
            let ack = producer
                .send_result(FutureRecord::to(topic).key(key).payload(payload))
                .unwrap_or_else(|(e, _)| panic!("cannot enqueue: {e}; {STACK_HINT}"));
            acks.push(ack);
        }
        for ack in acks {
            let delivery = tokio::time::timeout(Duration::from_secs(60), ack)
                .await
                .unwrap_or_else(|_| panic!("no ack within 60 s; {STACK_HINT}"))
                .expect("delivery future")
                .unwrap_or_else(|(e, _)| panic!("broker refused a record: {e}; {STACK_HINT}"));
            let end = produced.end_offsets.entry(delivery.partition).or_insert(0);
            *end = (*end).max(delivery.offset + 1);
        }
    }
    produced
}

/// Encode `events` with [`EventCodec`], key them by `partition_key()`, produce them in order.
pub async fn produce_events(
    kafka: &KafkaConfig,
    topic: &str,
    events: &[InteractionEvent],
) -> Produced {
    let records = encode_events(events);
    produce_raw(kafka, topic, &records).await
}

/// `(partition_key, encoded)` of every event.
pub fn encode_events(events: &[InteractionEvent]) -> Vec<(String, Vec<u8>)> {
    let codec = EventCodec::new();
    events
        .iter()
        .map(|e| (e.partition_key(), codec.encode(e).expect("encodable event")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream_and_it_has_the_promised_mess() {
        let a = scenario_events(7, 400, 3);
        assert_eq!(a, scenario_events(7, 400, 3));
        assert_ne!(a, scenario_events(8, 400, 3));
        let ids: std::collections::HashSet<&str> = a.iter().map(|e| e.event_id.as_str()).collect();
        assert!(
            ids.len() < a.len(),
            "some event_ids repeat (platform retries)"
        );
        let out_of_order = a
            .windows(2)
            .filter(|w| w[1].occurred_at < w[0].occurred_at)
            .count();
        assert!(out_of_order > 0, "some events arrive out of order");
        for kind in [
            Kind::Comment,
            Kind::Reply,
            Kind::DirectMessage,
            Kind::Reaction,
            Kind::Follow,
            Kind::Post,
            Kind::ProfileSnapshot,
        ] {
            assert!(a.iter().any(|e| e.kind == kind), "{kind} present");
        }
        assert!(a.iter().any(|e| e.automated));
        assert_eq!(scenario_events_about(7, 1_000, 3).len(), 1_000);
    }
}
