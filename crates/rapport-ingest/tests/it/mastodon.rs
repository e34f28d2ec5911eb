//! Mastodon notification, streaming-frame and admin-webhook samples through the Mastodon adapter.

use rapport_events::{Channel::*, Direction::*, Kind, Modifier, Platform};
use rapport_ingest::{
    normalize, AccountDirectory, BrandAccounts, BrandConfig, Endpoint, IngestError,
};
use serde_json::json;

use crate::common::*;

const INFER: &Endpoint = &Endpoint::Mastodon { account_id: None };

fn brand_endpoint() -> Endpoint {
    Endpoint::Mastodon {
        account_id: Some("109348677773283527".into()),
    }
}

#[test]
fn the_documented_mention_finds_its_brand_among_the_mentioned_accounts() {
    let e = one(INFER, "mastodon-mention-notification.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Mention,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "108892712797543112",
            object: "108914343542683797",
            parent: None,
            root: None,
            occurred_at: 1_661_900_992_359, // the status's created_at, ms precision
        }
    );
    assert_eq!(e.platform, Platform::Mastodon);
    assert_eq!(e.brand_id, "masto-docs");
    assert_eq!(e.actor.handle.as_deref(), Some("a@pl.nulled.red"));
    assert_eq!(e.actor.followers, Some(0));
    assert_eq!(e.text.as_deref(), Some("@trwnh test"));
    assert_eq!(e.source, "mastodon.notification.mention");
}

#[test]
fn a_websocket_frame_is_the_same_notification_with_the_same_event_id() {
    let frame = one(INFER, "mastodon-streaming-websocket-frame.json");
    let plain = one(INFER, "mastodon-mention-notification.json");
    assert_eq!(frame, plain);
}

#[test]
fn a_mention_answering_the_brand_is_a_reply_and_a_direct_one_a_dm() {
    let reply = one(
        &brand_endpoint(),
        "mastodon-reply-mention-notification.json",
    );
    assert_eq!(
        core(&reply),
        Core {
            kind: Kind::Reply,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "108892712797543112",
            object: "111000000000000099",
            parent: Some("111000000000000001"),
            root: None,
            occurred_at: 1_709_287_680_000,
        }
    );
    assert_eq!(reply.text.as_deref(), Some("@brand when does it ship?"));
    assert_eq!(reply.brand_id, "acme");

    let dm = one(INFER, "mastodon-direct-mention-notification.json");
    assert_eq!(
        core(&dm),
        Core {
            kind: Kind::DirectMessage,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Private,
            user: "108892712797543112",
            object: "111000000000000100",
            parent: None,
            root: None,
            occurred_at: 1_709_287_680_000,
        }
    );
    assert_eq!(
        dm.text.as_deref(),
        Some("@brand private question about my order")
    );
}

#[test]
fn favourites_and_reblogs_point_at_the_brand_status_and_use_the_notification_time() {
    let fav = one(INFER, "mastodon-favourite-notification.json");
    assert_eq!(
        core(&fav),
        Core {
            kind: Kind::Reaction,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "108892712797543112",
            object: "111000000000000001:108892712797543112",
            parent: Some("111000000000000001"),
            root: None,
            occurred_at: 1_709_287_500_123,
        }
    );
    assert_eq!(fav.reaction.as_deref(), Some("favourite"));
    assert_eq!(
        fav.text, None,
        "the status is the brand's, not the actor's text"
    );

    let boost = one(INFER, "mastodon-reblog-notification.json");
    assert_eq!((boost.kind, boost.direction), (Kind::Share, Inbound));
    assert_eq!(boost.parent_id.as_deref(), Some("111000000000000001"));
    assert_eq!(boost.occurred_at, 1_709_287_560_456);
}

#[test]
fn a_follow_needs_the_receiving_account() {
    let e = one(&brand_endpoint(), "mastodon-follow-notification.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Follow,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "108892712797543112",
            object: "108892712797543112:109348677773283527",
            parent: None,
            root: None,
            occurred_at: 1_709_287_620_789,
        }
    );
    let err = normalize(
        INFER,
        &sample("mastodon-follow-notification.json"),
        RECEIVED_AT,
        &directory(),
    )
    .unwrap_err();
    assert_eq!(err.status_code(), 400, "{err}");
    let elsewhere = Endpoint::Mastodon {
        account_id: Some("1".into()),
    };
    assert_eq!(
        normalize(
            &elsewhere,
            &sample("mastodon-follow-notification.json"),
            RECEIVED_AT,
            &directory()
        ),
        Err(IngestError::UnknownAccount {
            platform: Platform::Mastodon,
            account_id: "1".into()
        })
    );
}

#[test]
fn admin_webhooks_yield_only_brand_authored_statuses() {
    assert_eq!(
        run(INFER, "mastodon-admin-webhook-report-created.json"),
        vec![]
    );
    // The status is by an account no brand owns: server noise.
    assert_eq!(
        run(INFER, "mastodon-admin-webhook-status-created.json"),
        vec![]
    );

    let author_is_brand = AccountDirectory::new([BrandConfig {
        id: "pl".into(),
        accounts: BrandAccounts {
            mastodon: Some("108892712797543112".into()),
            ..Default::default()
        },
        automation_app_ids: vec![],
    }])
    .unwrap();
    let events = normalize(
        INFER,
        &sample("mastodon-admin-webhook-status-created.json"),
        RECEIVED_AT,
        &author_is_brand,
    )
    .unwrap();
    assert_eq!(
        core(&events[0]),
        Core {
            kind: Kind::Post,
            modifier: Modifier::None,
            direction: Outbound,
            channel: Public,
            user: "",
            object: "111000000000000200",
            parent: None,
            root: Some("111000000000000200"),
            occurred_at: 1_709_287_200_000,
        }
    );
    assert_eq!(events[0].text.as_deref(), Some("hello"));
}

#[test]
fn a_brand_reply_on_the_stream_addresses_the_replied_to_account() {
    let mut status = sample_json("mastodon-reply-mention-notification.json")["status"].clone();
    status["account"] = json!({"id": "109348677773283527", "acct": "brand"});
    status["in_reply_to_id"] = json!("111000000000000099");
    status["in_reply_to_account_id"] = json!("108892712797543112");
    status["mentions"] = json!([{"id": "108892712797543112", "acct": "a@pl.nulled.red"}]);
    status["content"] = json!("<p>@a tomorrow!</p>");
    let frame = json!({"stream": ["user"], "event": "update", "payload": status.to_string()});
    let events = normalize(
        &brand_endpoint(),
        frame.to_string().as_bytes(),
        RECEIVED_AT,
        &directory(),
    )
    .unwrap();
    let e = &events[0];
    assert_eq!(
        (e.kind, e.direction, e.user_id()),
        (Kind::Reply, Outbound, "108892712797543112")
    );
    assert_eq!(
        e.addressed.as_ref().unwrap().handle.as_deref(),
        Some("a@pl.nulled.red")
    );
    assert_eq!(e.parent_id.as_deref(), Some("111000000000000099"));
    assert_eq!(e.text.as_deref(), Some("@a tomorrow!"));
}

#[test]
fn a_polled_page_of_notifications_yields_each_one_and_skips_unmeasured_types() {
    let mut poll = sample_json("mastodon-favourite-notification.json");
    poll["type"] = json!("poll");
    let body = json!([
        sample_json("mastodon-favourite-notification.json"),
        sample_json("mastodon-reblog-notification.json"),
        poll,
    ]);
    let events = normalize(
        &brand_endpoint(),
        body.to_string().as_bytes(),
        RECEIVED_AT,
        &directory(),
    )
    .unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Reaction, Kind::Share]);
}
