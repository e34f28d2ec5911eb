//! X Account Activity API and X Activity API samples through the X adapter.

use rapport_events::{Channel::*, Direction::*, Kind, Modifier, Platform};
use rapport_ingest::{normalize, Endpoint, IngestError};
use serde_json::json;

use crate::common::*;

const X: &Endpoint = &Endpoint::X;

#[test]
fn the_brand_replying_in_its_own_thread_is_an_outbound_post_with_a_parent() {
    let e = one(X, "x-tweet-reply-outbound.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Post,
            modifier: Modifier::None,
            direction: Outbound,
            channel: Public,
            user: "",
            // id_str, not the rounded numeric id 1296887316556980200.
            object: "1296887316556980230",
            parent: Some("1296887091901718529"),
            root: None,
            // No timestamp_ms: created_at "Fri Aug 21 19:10:05 +0000 2020".
            occurred_at: 1_598_037_005_000,
        }
    );
    assert_eq!(e.platform, Platform::X);
    assert_eq!(e.actor.handle.as_deref(), Some("XDevelopers"));
    assert_eq!(e.actor.followers, Some(512_292));
    assert!(e
        .text
        .as_deref()
        .unwrap()
        .starts_with("See how @PennMedCDH"));
    assert_eq!(e.source, "x.tweet_create.post");
}

#[test]
fn a_brand_reply_to_a_user_is_an_outbound_reply_addressed_to_that_user() {
    let mut body = sample_json("x-tweet-reply-outbound.json");
    let t = &mut body["tweet_create_events"][0];
    t["in_reply_to_status_id_str"] = json!("1296890000000000001");
    t["in_reply_to_user_id_str"] = json!("3001969357");
    t["in_reply_to_screen_name"] = json!("furiouscamper");
    let events = normalize(X, body.to_string().as_bytes(), RECEIVED_AT, &directory()).unwrap();
    let e = &events[0];
    assert_eq!(
        (e.kind, e.direction, e.user_id()),
        (Kind::Reply, Outbound, "3001969357")
    );
    assert_eq!(
        e.addressed.as_ref().unwrap().handle.as_deref(),
        Some("furiouscamper")
    );
    assert_eq!(e.parent_id.as_deref(), Some("1296890000000000001"));
}

#[test]
fn an_inbound_reply_uses_timestamp_ms() {
    let e = one(X, "x-tweet-reply-inbound.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Reply,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "3001969357",
            object: "1296890000000000001",
            parent: Some("1296887091901718529"),
            root: None,
            occurred_at: 1_598_037_605_123,
        }
    );
    assert_eq!(e.actor.handle.as_deref(), Some("furiouscamper"));
    assert_eq!(e.actor.followers, Some(22));
    assert_eq!(e.text.as_deref(), Some("@XDevelopers Does this cover CRC?"));
    assert_eq!(e.source, "x.tweet_create.reply");
}

#[test]
fn mentions_and_retweets() {
    let m = one(X, "x-mention.json");
    assert_eq!(
        core(&m),
        Core {
            kind: Kind::Mention,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "3001969357",
            object: "1296890000000000002",
            parent: None,
            root: Some("1296890000000000002"),
            occurred_at: 1_598_037_905_123,
        }
    );
    assert_eq!(
        m.text.as_deref(),
        Some("Loving the new docs from @XDevelopers")
    );

    // The retweet also lists the brand in user_mentions; it is still a share.
    let rt = one(X, "x-retweet.json");
    assert_eq!(
        core(&rt),
        Core {
            kind: Kind::Share,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "3001969357",
            object: "1296890000000000003",
            parent: Some("1296887091901718529"),
            root: None,
            occurred_at: 1_598_038_205_123,
        }
    );
}

#[test]
fn a_quote_of_the_brand_is_an_inbound_share() {
    let mut body = sample_json("x-mention.json");
    let brand_tweet =
        sample_json("x-retweet.json")["tweet_create_events"][0]["retweeted_status"].clone();
    let t = &mut body["tweet_create_events"][0];
    t["is_quote_status"] = json!(true);
    t["quoted_status_id_str"] = json!("1296887091901718529");
    t["quoted_status"] = brand_tweet;
    let events = normalize(X, body.to_string().as_bytes(), RECEIVED_AT, &directory()).unwrap();
    assert_eq!(
        (events[0].kind, events[0].direction),
        (Kind::Share, Inbound)
    );
    assert_eq!(events[0].parent_id.as_deref(), Some("1296887091901718529"));
}

#[test]
fn a_favorite_of_a_brand_tweet_is_an_inbound_like_with_a_numeric_ms_time() {
    let e = one(X, "x-favorite.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Reaction,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "3001969357",
            object: "1296887091901718529:3001969357",
            parent: Some("1296887091901718529"),
            root: None,
            occurred_at: 1_522_082_006_140,
        }
    );
    assert_eq!(e.reaction.as_deref(), Some("like"));
    assert_eq!(e.actor.followers, Some(22));
}

#[test]
fn follow_and_unfollow_events() {
    let f = one(X, "x-follow.json");
    assert_eq!(
        core(&f),
        Core {
            kind: Kind::Follow,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "3001969357",
            object: "3001969357:2244994945",
            parent: None,
            root: None,
            occurred_at: 1_517_588_749_178,
        }
    );
    assert_eq!(f.actor.followers, Some(22));

    let u = one(X, "x-unfollow.json");
    assert_eq!(
        core(&u),
        Core {
            kind: Kind::Unfollow,
            modifier: Modifier::None,
            direction: Outbound,
            channel: Public,
            user: "3001969357",
            object: "2244994945:3001969357",
            parent: None,
            root: None,
            occurred_at: 1_517_588_749_178,
        }
    );
    assert_eq!(
        u.addressed.as_ref().unwrap().handle.as_deref(),
        Some("furiouscamper")
    );
}

#[test]
fn an_inbound_dm_takes_the_sender_from_the_users_map() {
    let e = one(X, "x-dm.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::DirectMessage,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Private,
            user: "3001969357",
            object: "954491830116155396",
            parent: None,
            root: None,
            occurred_at: 1_516_403_560_557,
        }
    );
    assert_eq!(e.brand_id, "x-dm");
    assert_eq!(e.actor.handle.as_deref(), Some("furiouscamper"));
    assert_eq!(e.actor.followers, Some(22));
    assert_eq!(e.text.as_deref(), Some("Hello World!"));
    assert!(!e.automated);
}

#[test]
fn an_outbound_dm_from_an_automation_app_is_automated() {
    let mut body = sample_json("x-dm.json");
    body["for_user_id"] = json!("2244994945");
    let mc = &mut body["direct_message_events"][0]["message_create"];
    mc["sender_id"] = json!("2244994945");
    mc["target"]["recipient_id"] = json!("3001969357");
    mc["source_app_id"] = json!("263902037430900");
    let events = normalize(X, body.to_string().as_bytes(), RECEIVED_AT, &directory()).unwrap();
    let e = &events[0];
    assert_eq!(
        (e.direction, e.user_id(), e.automated),
        (Outbound, "3001969357", true)
    );
    assert_eq!(
        e.addressed.as_ref().unwrap().handle.as_deref(),
        Some("furiouscamper")
    );
}

#[test]
fn a_tweet_delete_is_a_deletion_of_the_status_id() {
    let e = one(X, "x-tweet-delete.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Other,
            modifier: Modifier::Deleted,
            direction: Outbound,
            channel: Public,
            user: "",
            object: "1045405559317569537",
            parent: None,
            root: None,
            occurred_at: 1_432_228_155_593,
        }
    );
}

#[test]
fn a_revoked_authorization_yields_nothing() {
    assert_eq!(run(X, "x-user-event-revoke.json"), vec![]);
}

#[test]
fn activity_api_dm_received() {
    let e = one(X, "x-activity-dm-received.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::DirectMessage,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Private,
            user: "2222222222222222222",
            object: "2080765901528535096",
            parent: None,
            root: None,
            occurred_at: 1_784_928_224_372,
        }
    );
    assert_eq!(e.brand_id, "xaa");
    assert_eq!(e.actor.handle.as_deref(), Some("OtherUser"));
    assert_eq!(e.actor.followers, Some(97));
    assert_eq!(e.text.as_deref(), Some("hello!"));
}

#[test]
fn activity_api_follow_by_the_brand_is_outbound() {
    let e = one(X, "x-activity-follow-follow.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Follow,
            modifier: Modifier::None,
            direction: Outbound,
            channel: Public,
            user: "4444444444444444444",
            object: "1111111111111111111:4444444444444444444",
            parent: None,
            root: None,
            // The payload has no time: the receipt time stands in.
            occurred_at: RECEIVED_AT,
        }
    );
    let target = e.addressed.as_ref().unwrap();
    assert_eq!(
        (target.handle.as_deref(), target.followers),
        (Some("AnotherUser"), Some(4_934_564))
    );
    assert_eq!(e.source, "x.activity.follow");
}

#[test]
fn activity_api_outbound_like_addresses_the_liked_author() {
    let e = one(X, "x-activity-like-create.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Reaction,
            modifier: Modifier::None,
            direction: Outbound,
            channel: Public,
            user: "3333333333333333333",
            object: "2079814480427442556:1111111111111111111",
            parent: Some("2079814480427442556"),
            root: None,
            occurred_at: 1_784_927_565_236,
        }
    );
    assert_eq!(e.addressed.as_ref().unwrap().followers, Some(26_972));
}

#[test]
fn activity_api_mention_and_reply_posts_use_rfc3339_and_conversation_ids() {
    let m = one(X, "x-activity-post-mention-create.json");
    assert_eq!(
        core(&m),
        Core {
            kind: Kind::Mention,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "2222222222222222222",
            object: "2080765813578191303",
            parent: None,
            root: Some("2080765813578191303"),
            occurred_at: 1_784_928_203_000,
        }
    );
    assert_eq!(m.actor.followers, Some(97));
    assert_eq!(m.text.as_deref(), Some("hey @ExampleUser"));
    assert_eq!(m.source, "x.activity.post.mention.create.mention");

    let r = one(X, "x-activity-post-reply-create.json");
    assert_eq!(
        core(&r),
        Core {
            kind: Kind::Reply,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "2222222222222222222",
            object: "2090000000000000001",
            parent: Some("2080761390344937796"),
            root: Some("2080761390344937796"),
            occurred_at: 1_786_557_600_000,
        }
    );
    assert_eq!(
        r.text.as_deref(),
        Some("@ExampleUser Great post \u{2014} thanks for sharing!")
    );
}

#[test]
fn the_same_tweet_for_two_brands_gets_two_ids_and_a_retry_the_same_one() {
    let mention = one(X, "x-mention.json");
    let mut other = sample_json("x-mention.json");
    other["for_user_id"] = json!("1111111111111111111");
    other["tweet_create_events"][0]["entities"]["user_mentions"][0]["id_str"] =
        json!("1111111111111111111");
    let for_other = normalize(X, other.to_string().as_bytes(), RECEIVED_AT, &directory()).unwrap();
    assert_eq!(for_other[0].object_id, mention.object_id);
    assert_ne!(for_other[0].event_id, mention.event_id);
    assert_eq!(one(X, "x-mention.json").event_id, mention.event_id);
}

#[test]
fn several_tweets_in_one_delivery_all_come_out() {
    let mut body = sample_json("x-mention.json");
    let reply = sample_json("x-tweet-reply-inbound.json")["tweet_create_events"][0].clone();
    body["tweet_create_events"]
        .as_array_mut()
        .unwrap()
        .push(reply);
    let events = normalize(X, body.to_string().as_bytes(), RECEIVED_AT, &directory()).unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Mention, Kind::Reply]);
}

#[test]
fn unknown_accounts_and_missing_users_are_typed_errors() {
    let mut body = sample_json("x-follow.json");
    body["for_user_id"] = json!("42");
    assert_eq!(
        normalize(X, body.to_string().as_bytes(), RECEIVED_AT, &directory()),
        Err(IngestError::UnknownAccount {
            platform: Platform::X,
            account_id: "42".into()
        })
    );
    // The signature example's favorite has no favorited_status.
    let sig = sample_json("x-signature-example.json");
    let err = normalize(
        X,
        sig["body"].as_str().unwrap().as_bytes(),
        RECEIVED_AT,
        &directory(),
    )
    .unwrap_err();
    assert_eq!(err.dead_letter_reason(), Some("malformed"), "{err}");
}
