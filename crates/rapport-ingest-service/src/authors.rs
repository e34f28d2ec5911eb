//! Recently seen authors, so that a brand's reply can name the person it answers when the
//! platform does not. Meta's feed webhooks (Facebook Pages, Instagram comments) give a Page
//! reply only the id of the comment it replies to; the commenter came in an earlier delivery.
//! This keeps, per ingest process, the author of the last `capacity` inbound items by
//! (platform, brand account, item id) and fills `addressed` on outbound items whose parent is
//! among them, which also routes the reply to the commenter's partition and thread.
//!
//! Not owned here: anything durable. After a restart, or with several ingest replicas behind a
//! load balancer, a reply whose parent this process did not see stays unattributed (as before).

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use rapport_events::{Direction, InteractionEvent, Kind, Party, Platform};

/// Items remembered by default: a few days of comments for a busy set of brands, ~100 bytes each.
pub const DEFAULT_CAPACITY: usize = 262_144;

pub struct RecentAuthors {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    authors: HashMap<u64, Party>,
    order: VecDeque<u64>,
}

fn key(platform: Platform, brand_account: &str, object_id: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (platform.index(), brand_account, object_id).hash(&mut h);
    h.finish()
}

/// Outcome counts of one [`RecentAuthors::attribute`] call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Attribution {
    pub attributed: usize,
    pub unknown: usize,
}

impl RecentAuthors {
    pub fn new(capacity: usize) -> RecentAuthors {
        RecentAuthors {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Remember the authors of inbound conversational items of `events`, then fill the
    /// addressed person of outbound replies and reactions that lack one and answer a
    /// remembered item.
    pub fn attribute(&self, events: &mut [InteractionEvent]) -> Attribution {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for e in events
            .iter()
            .filter(|e| e.direction == Direction::Inbound && e.kind.is_conversational())
        {
            let k = key(e.platform, &e.brand_account_id, &e.object_id);
            if inner.authors.insert(k, e.actor.clone()).is_none() {
                inner.order.push_back(k);
            }
            while inner.order.len() > self.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.authors.remove(&old);
                }
            }
        }
        let mut out = Attribution::default();
        for e in events.iter_mut() {
            let answers_someone = e.kind.is_conversational() || e.kind == Kind::Reaction;
            if e.direction != Direction::Outbound || e.addressed.is_some() || !answers_someone {
                continue;
            }
            let Some(parent) = e.parent_id.as_deref() else {
                continue;
            };
            match inner
                .authors
                .get(&key(e.platform, &e.brand_account_id, parent))
            {
                Some(author) => {
                    e.addressed = Some(author.clone());
                    out.attributed += 1;
                }
                None => out.unknown += 1,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_events::{Channel, Modifier};

    fn ev(
        id: &str,
        direction: Direction,
        kind: Kind,
        actor: &str,
        parent: Option<&str>,
    ) -> InteractionEvent {
        InteractionEvent {
            event_id: id.into(),
            platform: Platform::Facebook,
            brand_id: "acme".into(),
            brand_account_id: "page-1".into(),
            kind,
            modifier: Modifier::None,
            direction,
            channel: Channel::Public,
            actor: Party {
                id: actor.into(),
                ..Party::default()
            },
            addressed: None,
            object_id: id.into(),
            parent_id: parent.map(str::to_owned),
            root_id: None,
            text: None,
            reaction: None,
            automated: false,
            occurred_at: 0,
            received_at: 0,
            profile: None,
            source: String::new(),
        }
    }

    #[test]
    fn a_page_reply_names_the_commenter_seen_earlier() {
        let authors = RecentAuthors::new(16);
        let mut first = vec![ev(
            "c1",
            Direction::Inbound,
            Kind::Comment,
            "u1",
            Some("post"),
        )];
        assert_eq!(authors.attribute(&mut first), Attribution::default());
        let mut later = vec![
            ev("r1", Direction::Outbound, Kind::Reply, "page-1", Some("c1")),
            ev(
                "l1",
                Direction::Outbound,
                Kind::Reaction,
                "page-1",
                Some("c1"),
            ),
            ev(
                "r2",
                Direction::Outbound,
                Kind::Reply,
                "page-1",
                Some("never-seen"),
            ),
            ev("p1", Direction::Outbound, Kind::Post, "page-1", None),
        ];
        assert_eq!(
            authors.attribute(&mut later),
            Attribution {
                attributed: 2,
                unknown: 1
            }
        );
        assert_eq!(later[0].user_id(), "u1");
        assert_eq!(later[0].partition_key(), "acme:u1");
        assert_eq!(later[1].user_id(), "u1");
        assert_eq!(later[2].user_id(), "");
        assert_eq!(later[3].user_id(), "", "posts address nobody");
    }

    #[test]
    fn items_of_the_same_delivery_count_and_other_accounts_do_not_match() {
        let authors = RecentAuthors::new(16);
        let mut other = ev("c9", Direction::Inbound, Kind::Comment, "u9", None);
        other.brand_account_id = "page-2".into();
        let mut batch = vec![
            other,
            ev("c1", Direction::Inbound, Kind::Comment, "u1", None),
            ev("r1", Direction::Outbound, Kind::Reply, "page-1", Some("c1")),
            ev("r9", Direction::Outbound, Kind::Reply, "page-1", Some("c9")),
        ];
        assert_eq!(
            authors.attribute(&mut batch),
            Attribution {
                attributed: 1,
                unknown: 1
            }
        );
        assert_eq!(batch[2].user_id(), "u1");
    }

    #[test]
    fn the_oldest_items_are_forgotten_beyond_the_capacity() {
        let authors = RecentAuthors::new(2);
        for (id, user) in [("c1", "u1"), ("c2", "u2"), ("c3", "u3")] {
            authors.attribute(&mut [ev(id, Direction::Inbound, Kind::Comment, user, None)]);
        }
        let mut replies = vec![
            ev("r1", Direction::Outbound, Kind::Reply, "page-1", Some("c1")),
            ev("r3", Direction::Outbound, Kind::Reply, "page-1", Some("c3")),
        ];
        assert_eq!(
            authors.attribute(&mut replies),
            Attribution {
                attributed: 1,
                unknown: 1
            }
        );
        assert_eq!(replies[1].user_id(), "u3");
    }
}
