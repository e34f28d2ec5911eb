//! The realistic event mix shared by the engine bench and the profiling driver.

// Each user of this file takes a different subset.
#![allow(dead_code)]

use rapport_events::{Channel, Direction, InteractionEvent, Kind, Modifier, Party, Platform};

pub const T0: i64 = 1_772_438_400_000; // 2026-03-02T08:00:00Z

pub const INBOUND: [&str; 8] = [
    "my order 55231 still hasn't arrived, it's been two weeks",
    "@acme the app keeps crashing when I open my basket",
    "love the new spring collection!! 😍",
    "is the blender dishwasher safe?",
    "I was charged twice for the same order, please help",
    "why is delivery to Norway so expensive",
    "the espresso machine leaks water from the steam wand",
    "any discount codes for students?",
];
pub const OUTBOUND: [&str; 6] = [
    "Hi! Sorry to hear that. Please DM us your order number and we'll look into it right away ^AB",
    "Thanks so much, we're thrilled you like it! 💚",
    "Hi Sam, the jug is dishwasher safe, the base is not. Enjoy your smoothies!",
    "So sorry about the double charge, a refund for order 55231 is on its way -Tom",
    "We've passed this on to our app team, an update fixing the basket crash ships this week",
    "Student discounts are on https://acme.example/students ^CD",
];

/// A deterministic pseudo-random sequence (splitmix64), so every run benches the same input.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub fn party(id: String, followers: Option<i64>) -> Party {
    Party {
        handle: Some(format!("@{id}")),
        display_name: Some("Sam Rivera".into()),
        followers,
        id,
    }
}

/// The mix of the issue: 70 % inbound conversational, 20 % outbound replies, 10 % reactions
/// and follows, over `brands × users_per_brand` brand·users, one event every `step_ms`.
pub fn realistic_events(
    n: usize,
    brands: u64,
    users_per_brand: u64,
    step_ms: i64,
) -> Vec<InteractionEvent> {
    let mut rng = Rng(42);
    (0..n)
        .map(|i| {
            let r = rng.next();
            let brand = r % brands;
            let user = (r >> 16) % users_per_brand;
            let roll = (r >> 40) % 100;
            let brand_id = format!("brand{brand}");
            let uid = format!("{}", 1_000_000_000_000 + brand * 1_000_000 + user);
            let (kind, dir, text) = match roll {
                0..=69 => (
                    [
                        Kind::Comment,
                        Kind::Reply,
                        Kind::Mention,
                        Kind::DirectMessage,
                    ][(r >> 48) as usize % 4],
                    Direction::Inbound,
                    Some(INBOUND[(r >> 52) as usize % INBOUND.len()]),
                ),
                70..=89 => (
                    Kind::Reply,
                    Direction::Outbound,
                    Some(OUTBOUND[(r >> 52) as usize % OUTBOUND.len()]),
                ),
                90..=94 => (Kind::Reaction, Direction::Outbound, None),
                95..=97 => (Kind::Follow, Direction::Inbound, None),
                _ => (Kind::Follow, Direction::Outbound, None),
            };
            let user_party = party(uid, Some(((r >> 20) % 200_000) as i64));
            let brand_party = party(format!("acct-{brand}"), None);
            let (actor, addressed) = match dir {
                Direction::Inbound => (user_party, None),
                Direction::Outbound => (brand_party, Some(user_party)),
            };
            InteractionEvent {
                event_id: format!("ev-{i}"),
                platform: Platform::X,
                brand_id,
                brand_account_id: format!("acct-{brand}"),
                kind,
                modifier: Modifier::None,
                direction: dir,
                channel: if kind == Kind::DirectMessage {
                    Channel::Private
                } else {
                    Channel::Public
                },
                actor,
                addressed,
                object_id: format!("{}", 1_850_000_000_000_000_000u64 + i as u64),
                parent_id: None,
                root_id: None,
                text: text.map(str::to_owned),
                reaction: None,
                automated: roll % 23 == 0 && dir == Direction::Outbound,
                occurred_at: T0 + i as i64 * step_ms,
                received_at: T0 + i as i64 * step_ms,
                profile: None,
                source: "bench".into(),
            }
        })
        .collect()
}
