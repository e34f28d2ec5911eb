//! Platform wire formats: one [`Action`] becomes the webhook body the platform would POST, on
//! the endpoint path rapport serves it on (FORMATS.md and the samples: Meta Page feed and
//! Messenger/Instagram messaging, X Account Activity, Mastodon notifications and streaming
//! frames, rapport's generic JSON for LinkedIn items and profile snapshots).
//!
//! Bodies carry the fields the ingest adapters read plus a few the platforms always send, not
//! the whole objects: deliveries stay small. Signing is `sign`'s job; here only bytes.

use chrono::DateTime;
use serde_json::{json, Value};

use crate::config::BrandSpec;
use crate::model::{Act, Action, Net, Parent, User};

/// Endpoint paths as `rapport ingest` routes them.
pub const META_PATH: &str = "/webhooks/meta";
pub const X_PATH: &str = "/webhooks/x";
pub const MASTODON_PATH: &str = "/webhooks/mastodon";
pub const GENERIC_PATH: &str = "/webhooks/generic";

/// The body of `action` and the path it is posted to; `None` for actions the platform has no
/// webhook for. `send_ms` is when the platform sends it (Meta stamps `entry.time` with it).
pub(crate) fn render(
    brand: &BrandSpec,
    users: &[User],
    action: &Action,
    send_ms: i64,
) -> Option<(String, Value)> {
    let user = |i: usize| users.get(i);
    let at = action.at_ms;
    let out = match (action.net, &action.act) {
        (Net::Facebook, act) => (
            META_PATH.to_owned(),
            facebook(brand, act, at, send_ms, user)?,
        ),
        (Net::Instagram, act) => (META_PATH.to_owned(), instagram(brand, act, at, user)?),
        (
            Net::X,
            Act::Snapshot {
                followers,
                following,
                posts,
            },
        ) => (
            GENERIC_PATH.to_owned(),
            json!({
                "id": format!("sim-snapshot-{}-{at}", brand.id),
                "platform": "x",
                "account_id": brand.accounts.x,
                "kind": "profile_snapshot",
                "direction": "outbound",
                "actor": { "id": brand.accounts.x },
                "object_id": brand.accounts.x,
                "occurred_at": at,
                "profile": { "followers": followers, "following": following, "posts": posts },
            }),
        ),
        (Net::X, act) => (X_PATH.to_owned(), x(brand, act, at, user)?),
        (Net::Mastodon, act) => (
            format!("{MASTODON_PATH}/{}", brand.accounts.mastodon),
            mastodon(brand, act, at, user)?,
        ),
        (Net::LinkedIn, act) => (GENERIC_PATH.to_owned(), linkedin(brand, act, at, user)?),
    };
    Some(out)
}

/// X favorite event ids are 32 hex digits; derived from what was liked by whom.
fn hex_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn twitter_date(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%a %b %d %H:%M:%S +0000 %Y").to_string())
        .unwrap_or_default()
}

fn facebook<'u>(
    brand: &BrandSpec,
    act: &Act,
    at: i64,
    send_ms: i64,
    user: impl Fn(usize) -> Option<&'u User>,
) -> Option<Value> {
    let page = &brand.accounts.facebook;
    let page_from = json!({ "id": page, "name": brand.name });
    let person = |u: &User| json!({ "id": u.fb_id, "name": u.display_name() });
    let feed = |value: Value| {
        json!({
            "object": "page",
            "entry": [{ "id": page, "time": secs(send_ms), "changes": [{ "field": "feed", "value": value }] }],
        })
    };
    let messaging = |event: Value| json!({ "object": "page", "entry": [{ "id": page, "time": send_ms, "messaging": [event] }] });
    Some(match act {
        Act::Post { id, text } => feed(json!({
            "from": page_from, "item": "status", "verb": "add", "post_id": id,
            "status_type": "mobile_status_update", "is_published": true,
            "created_time": secs(at), "message": text,
        })),
        Act::UserPublic {
            user: u,
            id,
            post,
            parent,
            text,
        } => {
            let post = post.as_ref()?;
            feed(json!({
                "from": person(user(*u)?), "item": "comment", "verb": "add",
                "post_id": post, "comment_id": id,
                "parent_id": parent.as_ref().map_or(post, |p| &p.id),
                "created_time": secs(at), "message": text,
            }))
        }
        Act::BrandReply {
            id, post, to, text, ..
        } => feed(json!({
            "from": page_from, "item": "comment", "verb": "add",
            "post_id": post.as_ref()?, "comment_id": id, "parent_id": to.id,
            "created_time": secs(at), "message": text,
        })),
        Act::UserLike { user: u, post } => feed(json!({
            "from": person(user(*u)?), "item": "reaction", "verb": "add", "reaction_type": "like",
            "post_id": post, "parent_id": post, "created_time": secs(at),
        })),
        Act::BrandLike { item, post, .. } => feed(json!({
            "from": page_from, "item": "reaction", "verb": "add", "reaction_type": "like",
            "post_id": post.as_ref()?, "comment_id": item, "parent_id": item, "created_time": secs(at),
        })),
        Act::Follow {
            user: u,
            by_brand: false,
            unfollow,
        } => feed(json!({
            // A Page like is following the Page.
            "from": person(user(*u)?), "item": "like",
            "verb": if *unfollow { "remove" } else { "add" }, "created_time": secs(at),
        })),
        Act::UserDm { user: u, id, text } => messaging(json!({
            "sender": { "id": user(*u)?.fb_id }, "recipient": { "id": page },
            "timestamp": at, "message": { "mid": id, "text": text },
        })),
        Act::BrandDm {
            user: u,
            id,
            text,
            bot,
        } => messaging(json!({
            "sender": { "id": page }, "recipient": { "id": user(*u)?.fb_id }, "timestamp": at,
            "message": { "is_echo": true, "app_id": app_id(brand, *bot), "mid": id, "text": text },
        })),
        // Pages cannot follow people; snapshots go through the generic endpoint.
        Act::Follow { .. } | Act::Snapshot { .. } => return None,
    })
}

/// Messenger sends `app_id` as a JSON number.
fn app_id(brand: &BrandSpec, bot: bool) -> Value {
    let id = if bot {
        &brand.bot_app_id
    } else {
        &brand.inbox_app_id
    };
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

fn instagram<'u>(
    brand: &BrandSpec,
    act: &Act,
    at: i64,
    user: impl Fn(usize) -> Option<&'u User>,
) -> Option<Value> {
    let account = &brand.accounts.instagram;
    // Comment deliveries carry no time of their own: `entry.time` (seconds) is the comment's.
    let comments = |value: Value| {
        json!({
            "object": "instagram",
            "entry": [{ "id": account, "time": secs(at), "changes": [{ "field": "comments", "value": value }] }],
        })
    };
    let messaging = |event: Value| json!({ "object": "instagram", "entry": [{ "id": account, "time": at, "messaging": [event] }] });
    let media = |post: &Option<String>| -> Option<Value> {
        Some(json!({ "id": post.as_ref()?, "media_product_type": "FEED" }))
    };
    Some(match act {
        Act::UserPublic {
            user: u,
            id,
            post,
            parent,
            text,
        } => {
            let u = user(*u)?;
            let mut value = json!({
                "from": { "id": u.ig_id, "username": u.handle },
                "media": media(post)?, "id": id, "text": text,
            });
            if let Some(p) = parent {
                value["parent_id"] = json!(p.id);
            }
            comments(value)
        }
        Act::BrandReply {
            id, post, to, text, ..
        } => comments(json!({
            "from": { "id": account, "username": brand.id },
            "media": media(post)?, "id": id, "parent_id": to.id, "text": text,
        })),
        Act::UserDm { user: u, id, text } => messaging(json!({
            "sender": { "id": user(*u)?.ig_id }, "recipient": { "id": account },
            "timestamp": at, "message": { "mid": id, "text": text },
        })),
        Act::BrandDm {
            user: u,
            id,
            text,
            bot,
        } => messaging(json!({
            "sender": { "id": account }, "recipient": { "id": user(*u)?.ig_id }, "timestamp": at,
            "message": { "is_echo": true, "app_id": app_id(brand, *bot), "mid": id, "text": text },
        })),
        _ => return None,
    })
}

fn x_user_brand(brand: &BrandSpec) -> Value {
    json!({
        "id": brand.accounts.x.parse::<u64>().unwrap_or_default(), "id_str": brand.accounts.x,
        "name": brand.name, "screen_name": brand.id, "followers_count": brand.profile.0,
        "friends_count": brand.profile.1, "verified": true,
    })
}

fn x_user(u: &User) -> Value {
    json!({
        "id": u.x_id.parse::<u64>().unwrap_or_default(), "id_str": u.x_id, "name": u.display_name(),
        "screen_name": u.handle, "followers_count": u.followers, "verified": false,
    })
}

#[allow(clippy::too_many_arguments)]
fn tweet(
    id: &str,
    at: i64,
    text: &str,
    author: Value,
    reply_to: Option<(&str, &str, &str)>,
    mentions: Vec<Value>,
) -> Value {
    let (status, user_id, screen_name) = match reply_to {
        Some((s, u, n)) => (json!(s), json!(u), json!(n)),
        None => (Value::Null, Value::Null, Value::Null),
    };
    json!({
        "created_at": twitter_date(at), "id_str": id, "text": text,
        "source": "<a href=\"https://mobile.x.com\" rel=\"nofollow\">X Web App</a>",
        "truncated": false,
        "in_reply_to_status_id_str": status, "in_reply_to_user_id_str": user_id,
        "in_reply_to_screen_name": screen_name, "user": author, "is_quote_status": false,
        "entities": { "hashtags": [], "urls": [], "user_mentions": mentions, "symbols": [] },
        "lang": "en", "timestamp_ms": at.to_string(),
    })
}

fn x<'u>(
    brand: &BrandSpec,
    act: &Act,
    at: i64,
    user: impl Fn(usize) -> Option<&'u User>,
) -> Option<Value> {
    let me = &brand.accounts.x;
    let envelope = |key: &str, events: Value| {
        let mut v = json!({ "for_user_id": me });
        v[key] = events;
        v
    };
    let mention_of = |id: &str, name: &str| json!({ "id_str": id, "screen_name": name });
    Some(match act {
        Act::Post { id, text } => envelope(
            "tweet_create_events",
            json!([tweet(id, at, text, x_user_brand(brand), None, vec![])]),
        ),
        Act::UserPublic {
            user: u,
            id,
            post,
            parent,
            text,
        } => {
            let u = user(*u)?;
            // A reply in a thread answers the brand's reply (or the user's own earlier tweet,
            // still addressed to the brand by mention); a first tweet answers a brand post or
            // mentions the brand.
            let reply_to = match (parent, post) {
                (
                    Some(Parent {
                        id: p,
                        by_brand: true,
                    }),
                    _,
                )
                | (None, Some(p)) => Some((p.as_str(), me.as_str(), brand.id.as_str())),
                (
                    Some(Parent {
                        id: p,
                        by_brand: false,
                    }),
                    _,
                ) => Some((p.as_str(), u.x_id.as_str(), u.handle.as_str())),
                (None, None) => None,
            };
            let text = format!("@{} {text}", brand.id);
            envelope(
                "tweet_create_events",
                json!([tweet(
                    id,
                    at,
                    &text,
                    x_user(u),
                    reply_to,
                    vec![mention_of(me, &brand.id)]
                )]),
            )
        }
        Act::BrandReply {
            user: u,
            id,
            to,
            text,
            ..
        } => {
            let u = user(*u)?;
            envelope(
                "tweet_create_events",
                json!([tweet(
                    id,
                    at,
                    text,
                    x_user_brand(brand),
                    Some((&to.id, &u.x_id, &u.handle)),
                    vec![mention_of(&u.x_id, &u.handle)],
                )]),
            )
        }
        Act::UserLike { user: u, post } => {
            let u = user(*u)?;
            envelope(
                "favorite_events",
                json!([{
                    "id": hex_id(&["favorite", post, &u.x_id]),
                    "created_at": twitter_date(at), "timestamp_ms": at,
                    "favorited_status": { "id_str": post, "user": x_user_brand(brand) },
                    "user": x_user(u),
                }]),
            )
        }
        Act::BrandLike { user: u, item, .. } => {
            let u = user(*u)?;
            envelope(
                "favorite_events",
                json!([{
                    "id": hex_id(&["favorite", item, me]),
                    "created_at": twitter_date(at), "timestamp_ms": at,
                    "favorited_status": { "id_str": item, "user": x_user(u) },
                    "user": x_user_brand(brand),
                }]),
            )
        }
        Act::Follow {
            user: u,
            by_brand,
            unfollow,
        } => {
            let u = user(*u)?;
            let (source, target) = if *by_brand {
                (x_user_brand(brand), x_user(u))
            } else {
                (x_user(u), x_user_brand(brand))
            };
            envelope(
                "follow_events",
                json!([{
                    "type": if *unfollow { "unfollow" } else { "follow" },
                    "created_timestamp": at.to_string(), "target": target, "source": source,
                }]),
            )
        }
        Act::UserDm { user: u, id, text } => {
            let u = user(*u)?;
            x_dm(
                me,
                id,
                at,
                &u.x_id,
                me,
                text,
                None,
                [(u.x_id.as_str(), x_user(u)), (me, x_user_brand(brand))],
            )
        }
        Act::BrandDm {
            user: u,
            id,
            text,
            bot,
        } => {
            let u = user(*u)?;
            let app = if *bot {
                &brand.bot_app_id
            } else {
                &brand.inbox_app_id
            };
            x_dm(
                me,
                id,
                at,
                me,
                &u.x_id,
                text,
                Some(app),
                [(u.x_id.as_str(), x_user(u)), (me, x_user_brand(brand))],
            )
        }
        Act::Snapshot { .. } => return None,
    })
}

#[allow(clippy::too_many_arguments)]
fn x_dm(
    me: &str,
    id: &str,
    at: i64,
    sender: &str,
    recipient: &str,
    text: &str,
    app: Option<&str>,
    users: [(&str, Value); 2],
) -> Value {
    let mut message_create = json!({
        "target": { "recipient_id": recipient }, "sender_id": sender,
        "message_data": { "text": text, "entities": { "hashtags": [], "symbols": [], "user_mentions": [], "urls": [] } },
    });
    if let Some(app) = app {
        message_create["source_app_id"] = json!(app);
    }
    let users: serde_json::Map<String, Value> =
        users.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    json!({
        "for_user_id": me,
        "direct_message_events": [{
            "type": "message_create", "id": id, "created_timestamp": at.to_string(),
            "message_create": message_create,
        }],
        "users": users,
    })
}

fn masto_account(id: &str, handle: &str, name: &str, followers: u64) -> Value {
    json!({
        "id": id, "username": handle, "acct": format!("{handle}@social.example"),
        "display_name": name, "bot": false, "followers_count": followers,
        "url": format!("https://social.example/@{handle}"),
    })
}

fn masto_html(mention: Option<&str>, text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;");
    match mention {
        Some(handle) => format!(
            "<p><span class=\"h-card\"><a href=\"https://social.example/@{handle}\" class=\"u-url mention\">@<span>{handle}</span></a></span> {escaped}</p>"
        ),
        None => format!("<p>{escaped}</p>"),
    }
}

fn mastodon<'u>(
    brand: &BrandSpec,
    act: &Act,
    at: i64,
    user: impl Fn(usize) -> Option<&'u User>,
) -> Option<Value> {
    let me = &brand.accounts.mastodon;
    let brand_account = masto_account(me, &brand.id, &brand.name, brand.profile.0);
    let person =
        |u: &User| masto_account(&u.mastodon_id, &u.handle, &u.display_name(), u.followers);
    let mention = |id: &str, handle: &str| json!({ "id": id, "username": handle, "acct": format!("{handle}@social.example"), "url": format!("https://social.example/@{handle}") });
    // Notification ids are the dedup key Mastodon provides; derived from the item's own id.
    let notification = |kind: &str, subject: &str, account: Value, status: Option<Value>| {
        let prefix = match kind {
            "mention" => 1,
            "favourite" => 2,
            _ => 3,
        };
        let mut n = json!({
            "id": format!("{prefix}{subject}"), "type": kind,
            "created_at": rfc3339(at), "account": account,
        });
        if let Some(s) = status {
            n["status"] = s;
        }
        n
    };
    let status = |id: &str,
                  author: Value,
                  reply: Option<(&str, &str)>,
                  visibility: &str,
                  content: String,
                  mentions: Vec<Value>| {
        let (reply_id, reply_account) = match reply {
            Some((s, a)) => (json!(s), json!(a)),
            None => (Value::Null, Value::Null),
        };
        json!({
            "id": id, "created_at": rfc3339(at), "in_reply_to_id": reply_id,
            "in_reply_to_account_id": reply_account, "sensitive": false, "spoiler_text": "",
            "visibility": visibility, "language": "en",
            "uri": format!("https://social.example/statuses/{id}"), "content": content,
            "account": author, "mentions": mentions, "tags": [], "emojis": [],
        })
    };
    // Brand statuses reach rapport as streaming frames of the brand's `user` stream.
    let frame =
        |s: Value| json!({ "stream": ["user"], "event": "update", "payload": s.to_string() });
    Some(match act {
        Act::Post { id, text } => frame(status(
            id,
            brand_account,
            None,
            "public",
            masto_html(None, text),
            vec![],
        )),
        Act::UserPublic {
            user: u,
            id,
            post,
            parent,
            text,
        } => {
            let u = user(*u)?;
            let reply = match (parent, post) {
                (
                    Some(Parent {
                        id: p,
                        by_brand: true,
                    }),
                    _,
                )
                | (None, Some(p)) => Some((p.as_str(), me.as_str())),
                (
                    Some(Parent {
                        id: p,
                        by_brand: false,
                    }),
                    _,
                ) => Some((p.as_str(), u.mastodon_id.as_str())),
                (None, None) => None,
            };
            let s = status(
                id,
                person(u),
                reply,
                "public",
                masto_html(Some(&brand.id), text),
                vec![mention(me, &brand.id)],
            );
            notification("mention", id, person(u), Some(s))
        }
        Act::UserDm { user: u, id, text } => {
            let u = user(*u)?;
            let s = status(
                id,
                person(u),
                None,
                "direct",
                masto_html(Some(&brand.id), text),
                vec![mention(me, &brand.id)],
            );
            notification("mention", id, person(u), Some(s))
        }
        Act::BrandReply {
            user: u,
            id,
            to,
            text,
            ..
        } => {
            let u = user(*u)?;
            let text = text
                .strip_prefix(&format!("@{} ", u.handle))
                .unwrap_or(text);
            frame(status(
                id,
                brand_account,
                Some((&to.id, &u.mastodon_id)),
                "public",
                masto_html(Some(&u.handle), text),
                vec![mention(&u.mastodon_id, &u.handle)],
            ))
        }
        Act::BrandDm {
            user: u, id, text, ..
        } => {
            let u = user(*u)?;
            frame(status(
                id,
                brand_account,
                None,
                "direct",
                masto_html(Some(&u.handle), text),
                vec![mention(&u.mastodon_id, &u.handle)],
            ))
        }
        Act::UserLike { user: u, post } => {
            let u = user(*u)?;
            let s = json!({ "id": post, "created_at": rfc3339(at), "visibility": "public", "account": brand_account, "content": "" });
            notification(
                "favourite",
                &format!("{post}{}", u.mastodon_id),
                person(u),
                Some(s),
            )
        }
        Act::Follow {
            user: u,
            by_brand: false,
            unfollow: false,
        } => {
            let u = user(*u)?;
            notification(
                "follow",
                &format!("{}{}", u.mastodon_id, at),
                person(u),
                None,
            )
        }
        _ => return None,
    })
}

fn linkedin<'u>(
    brand: &BrandSpec,
    act: &Act,
    at: i64,
    user: impl Fn(usize) -> Option<&'u User>,
) -> Option<Value> {
    let org = &brand.accounts.linkedin;
    let person = |u: &User| json!({ "id": u.linkedin, "display_name": u.display_name(), "followers": u.followers });
    let base = |id: &str, kind: &str, direction: &str, actor: Value, text: &str| {
        json!({
            "id": format!("sim-li-{id}"), "platform": "linkedin", "brand_id": brand.id,
            "account_id": org, "kind": kind, "direction": direction, "actor": actor,
            "object_id": id, "text": text, "occurred_at": at,
        })
    };
    Some(match act {
        Act::Post { id, text } => {
            let mut v = base(id, "post", "outbound", json!({ "id": org }), text);
            v["root_id"] = json!(id);
            v
        }
        Act::UserPublic {
            user: u,
            id,
            post,
            parent,
            text,
        } => {
            let u = user(*u)?;
            let kind = if parent.is_some() { "reply" } else { "comment" };
            let mut v = base(id, kind, "inbound", person(u), text);
            v["parent_id"] = json!(parent.as_ref().map_or(post.as_ref()?, |p| &p.id));
            v["root_id"] = json!(post.as_ref()?);
            v
        }
        Act::BrandReply {
            user: u,
            id,
            post,
            to,
            text,
        } => {
            let u = user(*u)?;
            let mut v = base(
                id,
                "reply",
                "outbound",
                json!({ "id": org, "display_name": brand.name }),
                text,
            );
            v["addressed"] = person(u);
            v["parent_id"] = json!(to.id);
            v["root_id"] = json!(post.as_ref()?);
            v
        }
        _ => return None,
    })
}
