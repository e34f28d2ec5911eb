//! Facebook Page feed, Page mentions, Messenger and Instagram samples through the Meta adapter.

use rapport_events::{Channel::*, Direction::*, Kind, Modifier, Platform};
use rapport_ingest::{normalize, AccountDirectory, Endpoint, IngestError};
use serde_json::json;

use crate::common::*;

const M: &Endpoint = &Endpoint::Meta;

#[test]
fn page_comment_capture_is_an_inbound_top_level_comment_in_seconds() {
    let e = one(M, "meta-page-feed-comment.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Comment,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "3450420000000001",
            object: "407298303721936_408074750310958",
            parent: Some("103149398319188_407298303721936"),
            root: Some("103149398319188_407298303721936"),
            occurred_at: 1_608_952_523_000, // created_time (seconds), not entry.time
        }
    );
    assert_eq!(e.platform, Platform::Facebook);
    assert_eq!(
        (e.brand_id.as_str(), e.brand_account_id.as_str()),
        ("capture", "103149398319188")
    );
    assert_eq!(e.actor.display_name.as_deref(), Some("Jane Doe"));
    // The wire body escapes the emoji as a surrogate pair; the text holds the character.
    assert_eq!(e.text.as_deref(), Some("\u{1f64f}"));
    assert_eq!(e.addressed, None);
    assert!(!e.automated);
    assert_eq!(e.source, "meta.feed.comment");
}

#[test]
fn page_reactions_target_the_post_and_carry_their_type() {
    let e = one(M, "meta-page-feed-reaction.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Reaction,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "3550530000000001",
            object: "103149398319188_208770550911373:3550530000000001",
            parent: Some("103149398319188_208770550911373"),
            root: Some("103149398319188_208770550911373"),
            occurred_at: 1_608_952_690_000,
        }
    );
    assert_eq!(e.reaction.as_deref(), Some("love"));
    assert_eq!(e.text, None);
    assert_eq!(e.source, "meta.feed.reaction");

    let edit = one(M, "meta-page-feed-reaction-edit.json");
    assert_eq!(
        (edit.kind, edit.modifier),
        (Kind::Reaction, Modifier::Edited)
    );
    assert_eq!(edit.reaction.as_deref(), Some("love"));
    assert_eq!(edit.occurred_at, 1_608_952_440_000);
    assert_eq!(
        edit.object_id,
        "103149398319188_407298303721936:3450420000000001"
    );
}

#[test]
fn a_reaction_with_comment_id_targets_the_comment() {
    let e = one(M, "meta-page-feed-reaction-on-comment.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Reaction,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "139560936744123",
            object: "139560936744456_139597090074707:139560936744123",
            parent: Some("139560936744456_139597090074707"),
            root: Some("137542570280222_139560936744456"),
            occurred_at: 1_511_948_636_000,
        }
    );
    assert_eq!(e.reaction.as_deref(), Some("like"));
}

#[test]
fn a_comment_whose_parent_is_a_comment_is_a_reply() {
    let e = one(M, "meta-page-feed-reply.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Reply,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "139560936744123",
            object: "139560936744456_139620233405726",
            parent: Some("139560936744456_139562213411528"),
            root: Some("137542570280222_139560936744456"),
            occurred_at: 1_511_951_015_000,
        }
    );
    assert_eq!(e.text.as_deref(), Some("Good"));
}

#[test]
fn the_page_commenting_as_itself_is_outbound_with_the_addressee_left_to_the_processor() {
    let e = one(M, "meta-page-feed-comment-by-page.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Reply,
            modifier: Modifier::None,
            direction: Outbound,
            channel: Public,
            // Meta does not name the author of the parent comment.
            user: "",
            object: "139560936755999_140077616693321",
            parent: Some("139560936755999_140077593359990"),
            root: Some("137542570280111_139560936755999"),
            occurred_at: 1_512_121_727_000,
        }
    );
    assert_eq!(e.actor.id, "137542570280111");
    assert_eq!(e.actor.display_name.as_deref(), Some("Bottender"));
    assert_eq!(e.text.as_deref(), Some("Public reply!"));
    assert_eq!(e.brand_id, "bottender-page");
}

#[test]
fn edits_and_removals_are_modifiers_of_the_same_comment() {
    let edited = one(M, "meta-page-feed-comment-edited.json");
    let removed = one(M, "meta-page-feed-comment-remove.json");
    assert_eq!(
        core(&edited),
        Core {
            kind: Kind::Comment,
            modifier: Modifier::Edited,
            direction: Inbound,
            channel: Public,
            user: "139560936744123",
            object: "139560936744456_139597043408045",
            parent: Some("137542570280222_139560936744456"),
            root: Some("137542570280222_139560936744456"),
            occurred_at: 1_511_948_891_000,
        }
    );
    assert_eq!(edited.text.as_deref(), Some("Great"));
    assert_eq!(
        (removed.kind, removed.modifier),
        (Kind::Comment, Modifier::Deleted)
    );
    assert_eq!(removed.object_id, edited.object_id);
    assert_eq!(removed.text, None);
    assert_eq!(removed.actor.display_name, None);
    assert_eq!(removed.occurred_at, 1_511_948_944_000);
    assert_ne!(removed.event_id, edited.event_id);
}

#[test]
fn a_visitor_status_is_an_inbound_post_and_a_share_is_a_share() {
    let post = one(M, "meta-page-feed-status-post.json");
    assert_eq!(
        core(&post),
        Core {
            kind: Kind::Post,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "139560936744123",
            object: "137542570280222_139610053406744",
            parent: None,
            root: Some("137542570280222_139610053406744"),
            occurred_at: 1_511_949_030_000,
        }
    );
    assert_eq!(post.text.as_deref(), Some("test"));
    assert_eq!(post.source, "meta.feed.status");

    let share = one(M, "meta-page-feed-share.json");
    assert_eq!(
        core(&share),
        Core {
            kind: Kind::Share,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "5550001112223334",
            object: "5550001112223334_789012345678901",
            parent: None,
            root: None,
            occurred_at: 1_700_000_099_000,
        }
    );
    assert_eq!(share.text.as_deref(), Some("Worth a read"));
}

#[test]
fn a_page_mention_names_its_sender_and_thread() {
    let e = one(M, "meta-page-mention.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Mention,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "5550001112223334",
            object: "789012345678901_111222333444555",
            parent: Some("5550001112223334_789012345678901"),
            root: Some("5550001112223334_789012345678901"),
            occurred_at: 1_700_000_199_000,
        }
    );
    assert_eq!(e.actor.display_name.as_deref(), Some("Jane Doe"));
    assert_eq!(
        e.text.as_deref(),
        Some("@Example Page do you ship to Canada?")
    );
    assert_eq!(e.source, "meta.mention.comment");
}

#[test]
fn messenger_messages_are_private_with_millisecond_times() {
    let e = one(M, "meta-messenger-message.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::DirectMessage,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Private,
            user: "3424692677644577",
            object: "m_ABt4i4wZIOP21KTsxMwTaHlgf8qsN5F1_pYhFwXvsac2EfSPOAzvt8s8WqxZHjsJUT4OHm8W49PFJtBJ3ITjIg",
            parent: None,
            root: None,
            occurred_at: 1_609_656_118_099, // `timestamp` is already ms
        }
    );
    assert_eq!(e.text.as_deref(), Some("aa"));
    assert_eq!(e.platform, Platform::Facebook);
    assert_eq!(e.source, "meta.messaging.message");

    let reply = one(M, "meta-messenger-message-reply-to.json");
    assert_eq!(
        reply.parent_id.as_deref(),
        Some("m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU")
    );
    assert_eq!(reply.text.as_deref(), Some("hello, world!"));
    assert_eq!(reply.occurred_at, 1_700_000_300_001);
}

#[test]
fn an_echo_is_outbound_to_the_recipient_and_automated_only_for_listed_apps() {
    let e = one(M, "meta-messenger-echo.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::DirectMessage,
            modifier: Modifier::None,
            direction: Outbound,
            channel: Private,
            user: "1244813222196986",
            object: "mid.$cAARS90328R5hrBz-Vlbete17ftIb",
            parent: None,
            root: None,
            occurred_at: 1_492_414_608_982,
        }
    );
    assert_eq!(e.actor.id, "1134713619900975");
    assert!(
        e.automated,
        "app 1821152484774199 is bot-echo's automation app"
    );
    assert_eq!(e.source, "meta.messaging.echo");

    let human = AccountDirectory::new([rapport_ingest::BrandConfig {
        id: "bot-echo".into(),
        accounts: rapport_ingest::BrandAccounts {
            facebook: Some("1134713619900975".into()),
            ..Default::default()
        },
        automation_app_ids: vec![],
    }])
    .unwrap();
    let events = normalize(M, &sample("meta-messenger-echo.json"), RECEIVED_AT, &human).unwrap();
    assert!(!events[0].automated);
}

#[test]
fn a_messenger_reaction_is_a_private_reaction_on_the_message() {
    let e = one(M, "meta-messenger-reaction.json");
    assert_eq!(
        core(&e),
        Core {
            kind: Kind::Reaction,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Private,
            user: "6543210987654321",
            object: "m_ABCDEF0123456789:6543210987654321",
            parent: Some("m_ABCDEF0123456789"),
            root: None,
            occurred_at: 1_700_000_400_001,
        }
    );
    assert_eq!(e.reaction.as_deref(), Some("love"));
}

#[test]
fn instagram_comments_in_both_envelopes_use_the_entry_time_in_seconds() {
    let changes = one(M, "instagram-comment.json");
    assert_eq!(
        core(&changes),
        Core {
            kind: Kind::Comment,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "848060000000001",
            object: "17867301270523379",
            parent: Some("18050310947722369"),
            root: Some("18050310947722369"),
            occurred_at: 1_776_339_591_000,
        }
    );
    assert_eq!(changes.platform, Platform::Instagram);
    assert_eq!(changes.actor.handle.as_deref(), Some("example_user"));
    assert_eq!(changes.text.as_deref(), Some("LINK"));
    assert_eq!(changes.source, "meta.instagram.comments");

    // Instagram Login: field/value on the entry, the whole body wrapped in an array.
    let flat = one(M, "instagram-comment-flat-instagram-login.json");
    assert_eq!(
        core(&flat),
        Core {
            kind: Kind::Comment,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "848060000000001",
            object: "17867301270530001",
            parent: Some("18050310947722369"),
            root: Some("18050310947722369"),
            occurred_at: 1_776_339_800_000,
        }
    );
    assert_eq!(flat.text.as_deref(), Some("Love this!"));
}

#[test]
fn instagram_replies_and_live_comments() {
    let reply = one(M, "instagram-comment-reply.json");
    assert_eq!(
        core(&reply),
        Core {
            kind: Kind::Reply,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "848060000000002",
            object: "17867301270529999",
            parent: Some("17867301270523379"),
            root: Some("18050310947722369"),
            occurred_at: 1_776_339_700_000,
        }
    );
    let live = one(M, "instagram-live-comment.json");
    assert_eq!((live.kind, live.direction), (Kind::Comment, Inbound));
    assert_eq!(live.source, "meta.instagram.live_comments");
    assert_eq!(live.text.as_deref(), Some("Hello from the stream"));
    assert_eq!(live.occurred_at, 1_776_339_900_000);
}

#[test]
fn instagram_mentions_have_no_actor_in_the_payload() {
    let comment = one(M, "instagram-mention-comment.json");
    assert_eq!(
        core(&comment),
        Core {
            kind: Kind::Mention,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "",
            object: "17894227972186120",
            parent: Some("17918195224117851"),
            root: Some("17918195224117851"),
            occurred_at: 1_520_622_968_000,
        }
    );
    assert_eq!(comment.brand_id, "ig-docs");
    let media = one(M, "instagram-mention-media.json");
    assert_eq!(media.object_id, "17918195224117851");
    assert_eq!(media.parent_id, None);
    assert_eq!(media.source, "meta.instagram.mentions.media");
}

#[test]
fn instagram_messaging_dm_echo_reaction_and_story_mention() {
    let dm = one(M, "instagram-dm.json");
    assert_eq!(
        core(&dm),
        Core {
            kind: Kind::DirectMessage,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Private,
            user: "987654321012345",
            object: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAx",
            parent: None,
            root: None,
            occurred_at: 1_569_262_485_349,
        }
    );
    assert_eq!(dm.text.as_deref(), Some("Hi, is this in stock?"));

    let echo = one(M, "instagram-dm-echo.json");
    assert_eq!(
        (echo.direction, echo.user_id()),
        (Outbound, "987654321012345")
    );
    assert_eq!(echo.actor.id, "17841400000000001");
    assert!(!echo.automated);
    assert_eq!(echo.occurred_at, 1_569_262_498_349);

    let reaction = one(M, "instagram-dm-reaction.json");
    assert_eq!((reaction.kind, reaction.channel), (Kind::Reaction, Private));
    assert_eq!(
        reaction.parent_id.as_deref(),
        Some("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAy")
    );
    assert_eq!(reaction.reaction.as_deref(), Some("love"));

    let story = one(M, "instagram-story-mention-dm.json");
    assert_eq!(
        core(&story),
        Core {
            kind: Kind::Mention,
            modifier: Modifier::None,
            direction: Inbound,
            channel: Public,
            user: "987654321012345",
            object: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAz",
            parent: None,
            root: None,
            occurred_at: 1_569_262_600_001,
        }
    );
    assert_eq!(story.source, "meta.instagram.messaging.story_mention");
}

#[test]
fn a_delivery_with_several_entries_and_changes_yields_every_event() {
    let feed = sample_json("meta-page-feed-comment.json");
    let reaction = sample_json("meta-page-feed-reaction.json");
    let message = sample_json("meta-messenger-message-reply-to.json");
    let mut first = feed["entry"][0].clone();
    first["changes"]
        .as_array_mut()
        .unwrap()
        .push(reaction["entry"][0]["changes"][0].clone());
    let mut second = message["entry"][0].clone();
    let mut another = second["messaging"][0].clone();
    another["message"]["mid"] = json!("m_second");
    second["messaging"].as_array_mut().unwrap().push(another);
    let body = json!({"object": "page", "entry": [first, second]}).to_string();
    let events = normalize(M, body.as_bytes(), RECEIVED_AT, &directory()).unwrap();
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.brand_id.as_str(), e.kind, e.object_id.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("capture", Kind::Comment, "407298303721936_408074750310958"),
            (
                "capture",
                Kind::Reaction,
                "103149398319188_208770550911373:3550530000000001"
            ),
            (
                "acme",
                Kind::DirectMessage,
                "m_1457764197618:41d102a3e1ae206a38"
            ),
            ("acme", Kind::DirectMessage, "m_second"),
        ]
    );
}

#[test]
fn a_retried_delivery_gets_the_same_ids_even_with_a_new_send_time() {
    let first = one(M, "meta-page-feed-comment.json");
    let mut retry = sample_json("meta-page-feed-comment.json");
    retry["entry"][0]["time"] = json!(1_608_952_999);
    let again = normalize(
        M,
        retry.to_string().as_bytes(),
        RECEIVED_AT + 60_000,
        &directory(),
    )
    .unwrap();
    assert_eq!(again[0].event_id, first.event_id);

    let ig = one(M, "instagram-comment.json");
    let mut ig_retry = sample_json("instagram-comment.json");
    ig_retry["entry"][0]["time"] = json!(1_776_339_999);
    let ig_again = normalize(
        M,
        ig_retry.to_string().as_bytes(),
        RECEIVED_AT,
        &directory(),
    )
    .unwrap();
    assert_eq!(ig_again[0].event_id, ig.event_id);
}

#[test]
fn receipts_and_unmeasured_fields_yield_nothing() {
    let body = json!({"object": "page", "entry": [{"id": "102938475610293", "time": 1_700_000_000_000_i64, "messaging": [
        {"sender": {"id": "1"}, "recipient": {"id": "102938475610293"}, "timestamp": 1_700_000_000_000_i64, "read": {"watermark": 1}},
        {"sender": {"id": "1"}, "recipient": {"id": "102938475610293"}, "timestamp": 1_700_000_000_000_i64, "delivery": {"mids": ["m"]}}
    ], "changes": [{"field": "ratings", "value": {"x": 1}}]}]});
    assert_eq!(
        normalize(M, body.to_string().as_bytes(), RECEIVED_AT, &directory()),
        Ok(vec![])
    );
}

#[test]
fn unknown_pages_objects_and_missing_fields_are_typed_errors() {
    let dir = directory();
    let mut unknown = sample_json("meta-page-feed-comment.json");
    unknown["entry"][0]["id"] = json!("999");
    assert_eq!(
        normalize(M, unknown.to_string().as_bytes(), RECEIVED_AT, &dir),
        Err(IngestError::UnknownAccount {
            platform: Platform::Facebook,
            account_id: "999".into()
        })
    );
    let other = json!({"object": "whatsapp_business_account", "entry": []}).to_string();
    let err = normalize(M, other.as_bytes(), RECEIVED_AT, &dir).unwrap_err();
    assert_eq!(err.status_code(), 400, "{err}");
    // The signature example's comment has no `from`: authentic but not normalizable.
    let sig: serde_json::Value = sample_json("meta-signature-example.json");
    let body = sig["body"].as_str().unwrap();
    let err = normalize(M, body.as_bytes(), RECEIVED_AT, &dir).unwrap_err();
    assert!(
        matches!(&err, IngestError::Malformed { reason } if reason.contains("from.id")),
        "{err}"
    );
}
