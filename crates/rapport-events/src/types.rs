//! The Rust mirror of the Avro records. Field order and enum symbol order follow the `.avsc`
//! files exactly (Avro encodes enums by position); `tests/schema_agreement.rs` checks it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

macro_rules! avro_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $symbol:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $symbol)] $variant),+
        }

        impl $name {
            /// Every symbol, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The Avro symbol (also the name used in ClickHouse and in metrics labels).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $symbol),+ }
            }

            /// Position of the symbol in the schema (its Avro encoding).
            pub fn index(self) -> u32 {
                self as u32
            }

            /// The variant at schema position `index`.
            pub fn from_index(index: u32) -> Option<Self> {
                Self::ALL.get(index as usize).copied()
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownSymbol;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($symbol => Ok($name::$variant),)+
                    _ => Err(UnknownSymbol { kind: stringify!($name), symbol: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A string that names no symbol of an enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{symbol}`")]
pub struct UnknownSymbol {
    pub kind: &'static str,
    pub symbol: String,
}

avro_enum!(
    /// Social platform. Facebook Pages and Messenger share `Facebook`.
    Platform {
        Facebook => "facebook",
        Instagram => "instagram",
        X => "x",
        Mastodon => "mastodon",
        Bluesky => "bluesky",
        Linkedin => "linkedin",
        Tiktok => "tiktok",
        Youtube => "youtube",
        Other => "other",
    }
);

avro_enum!(
    /// What happened.
    Kind {
        Comment => "comment",
        Reply => "reply",
        Mention => "mention",
        DirectMessage => "direct_message",
        Reaction => "reaction",
        Share => "share",
        Post => "post",
        Follow => "follow",
        Unfollow => "unfollow",
        ProfileSnapshot => "profile_snapshot",
        Other => "other",
    }
);

avro_enum!(
    /// Edits, deletions and un-reactions of an earlier item.
    Modifier {
        None => "none",
        Edited => "edited",
        Deleted => "deleted",
        Unreacted => "unreacted",
        Hidden => "hidden",
    }
);

avro_enum!(
    /// Who acted: someone toward the brand (`Inbound`) or the brand itself (`Outbound`).
    Direction {
        Inbound => "inbound",
        Outbound => "outbound",
    }
);

avro_enum!(
    /// Public (comments, posts, mentions) or private (direct messages).
    Channel {
        Public => "public",
        Private => "private",
    }
);

avro_enum!(
    /// Which service wrote a dead letter.
    Stage {
        Ingest => "ingest",
        Process => "process",
    }
);

// Written by hand because the variants come from `avro_enum!`, where `#[default]` cannot be
// attached to one of them.
#[allow(clippy::derivable_impls)]
impl Default for Modifier {
    /// The schema default of the `modifier` field.
    fn default() -> Self {
        Modifier::None
    }
}

impl Kind {
    /// Comments, replies, mentions and DMs: the items that open, join and answer threads
    /// (METRICS.md §1).
    pub fn is_conversational(self) -> bool {
        matches!(
            self,
            Kind::Comment | Kind::Reply | Kind::Mention | Kind::DirectMessage
        )
    }
}

/// An account on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Party {
    pub id: String,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub followers: Option<i64>,
}

/// Counts carried by a profile snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileCounts {
    pub followers: i64,
    pub following: i64,
    pub posts: Option<i64>,
}

/// One normalized interaction (schema `rapport.v1.InteractionEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionEvent {
    pub event_id: String,
    pub platform: Platform,
    pub brand_id: String,
    pub brand_account_id: String,
    pub kind: Kind,
    #[serde(default)]
    pub modifier: Modifier,
    pub direction: Direction,
    pub channel: Channel,
    pub actor: Party,
    #[serde(default)]
    pub addressed: Option<Party>,
    pub object_id: String,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub root_id: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub reaction: Option<String>,
    #[serde(default)]
    pub automated: bool,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    /// Milliseconds since the Unix epoch, UTC.
    pub received_at: i64,
    #[serde(default)]
    pub profile: Option<ProfileCounts>,
    #[serde(default)]
    pub source: String,
}

impl InteractionEvent {
    /// The non-brand party (METRICS.md §1): the actor of an inbound item, the addressed person
    /// of an outbound one; empty for brand items that address nobody (original posts).
    pub fn user_id(&self) -> &str {
        match self.direction {
            Direction::Inbound => &self.actor.id,
            Direction::Outbound => self.addressed.as_ref().map_or("", |p| p.id.as_str()),
        }
    }

    /// The Kafka key: every item between one user and one brand lands in one partition.
    pub fn partition_key(&self) -> String {
        self.partition_key_parts().concat()
    }

    /// Append the bytes of [`partition_key`](Self::partition_key) to `buf`, for a producer that
    /// lays out every record of a delivery in one reused buffer.
    pub fn write_partition_key(&self, buf: &mut Vec<u8>) {
        for part in self.partition_key_parts() {
            buf.extend_from_slice(part.as_bytes());
        }
    }

    /// The key's layout, in one place: `brand_id:user_id`.
    fn partition_key_parts(&self) -> [&str; 3] {
        [&self.brand_id, ":", self.user_id()]
    }
}

/// Something that could not be processed, kept whole (schema `rapport.v1.DeadLetter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub dead_letter_id: String,
    pub stage: Stage,
    pub reason: String,
    #[serde(default)]
    pub detail: String,
    pub source: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    #[serde(default)]
    pub partition: Option<i32>,
    #[serde(default)]
    pub offset: Option<i64>,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
}
