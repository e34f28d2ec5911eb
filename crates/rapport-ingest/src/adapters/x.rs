//! X deliveries on `/webhooks/x`: the Account Activity API (`for_user_id` plus one event array:
//! tweets, favorites, follows, DMs, deletes) and its successor the X Activity API
//! (`data.event_type` envelopes), per FORMATS.md §3.
//!
//! Both APIs describe posts differently (v1.1 Tweet objects vs API v2 posts with `includes`);
//! each is read into one `Tweet` view and classified by one function, so a post gets the same
//! kind, direction and event id whichever API delivered it. The brand is `for_user_id` (AAA) or
//! `data.filter.user_id` (XAA). Ids are read from the `*_str` fields first: the numeric `id`
//! fields exceed 2^53 and arrive already rounded. Times: `timestamp_ms` (string or number, ms),
//! else `created_at` (`Wed Oct 10 20:19:24 +0000 2018` in v1.1, RFC 3339 in v2).
//!
//! A brand reply to its own post (a self-thread) is recorded as a `post` with `parent_id`: it
//! addresses nobody, so counting it as a reply would inflate conversation share.

use rapport_events::{Direction, InteractionEvent, Kind, Modifier, Party, Platform};

use crate::event::{Ctx, Draft, Events};
use crate::json::{
    array_or_empty, id_at, int_at, obj_at, parse, require, require_id, require_str, str_at, Map,
    Value,
};
use crate::time::{rfc3339_ms, twitter_date_ms};
use crate::{AccountDirectory, IngestError};

pub(crate) fn normalize(
    body: &[u8],
    received_at: i64,
    directory: &AccountDirectory,
) -> Result<Vec<InteractionEvent>, IngestError> {
    let v: Value = parse(body)?;
    if !v.is_object() {
        return Err(IngestError::malformed("an X delivery is a JSON object"));
    }
    let mut out = Events::default();
    if let Some(data) = v.get("data").filter(|d| d.get("event_type").is_some()) {
        activity(data, received_at, directory, &mut out)?;
        return Ok(out.into_vec());
    }
    if v.get("for_user_id").is_none() && v.get("user_event").is_some() {
        // An app authorization was revoked: account lifecycle, not an interaction.
        return Ok(Vec::new());
    }
    let account = require_id(&v, "for_user_id", "delivery")?;
    let ctx = Ctx {
        platform: Platform::X,
        brand: directory.lookup(Platform::X, &account)?,
        received_at,
    };
    for t in array_or_empty(&v, "tweet_create_events", "delivery")? {
        let tweet = v1_tweet(t)?;
        push(&mut out, tweet_event(&ctx, tweet, None, "x.tweet_create")?)?;
    }
    for f in array_or_empty(&v, "favorite_events", "delivery")? {
        push(&mut out, favorite(&ctx, f)?)?;
    }
    for f in array_or_empty(&v, "follow_events", "delivery")? {
        let kind = str_at(f, "type").unwrap_or("");
        let source = x_user(f.get("source"));
        let target = x_user(f.get("target"));
        let time = int_at(f, "created_timestamp")
            .ok_or_else(|| IngestError::malformed("follow event has no created_timestamp"))?;
        let key = time.to_string();
        push(
            &mut out,
            follow(&ctx, kind, source, target, time, &key, "x.follow_events")?,
        )?;
    }
    let users = obj_at(&v, "users");
    for d in array_or_empty(&v, "direct_message_events", "delivery")? {
        push(&mut out, dm(&ctx, d, users, "x.direct_message_events")?)?;
    }
    for d in array_or_empty(&v, "tweet_delete_events", "delivery")? {
        push(&mut out, Some(tweet_delete(&ctx, d)?))?;
    }
    // block/mute events, typing indicators and read receipts are not interactions.
    Ok(out.into_vec())
}

fn push(out: &mut Events, event: Option<InteractionEvent>) -> Result<(), IngestError> {
    match event {
        Some(e) => out.push(e),
        None => Ok(()),
    }
}

/// A user in any of X's shapes: v1.1 (`id_str`, `screen_name`, `followers_count`), AAA follow
/// and DM maps (`id`), v2 (`username`, `public_metrics.followers_count`, maybe under `data`).
fn x_user(v: Option<&Value>) -> Option<Party> {
    let v = v?;
    let v = v.get("data").filter(|d| d.is_object()).unwrap_or(v);
    Some(Party {
        id: id_at(v, "id_str").or_else(|| id_at(v, "id"))?,
        handle: str_at(v, "screen_name")
            .or_else(|| str_at(v, "username"))
            .map(str::to_owned),
        display_name: str_at(v, "name").map(str::to_owned),
        followers: v
            .get("followers_count")
            .and_then(Value::as_i64)
            .or_else(|| {
                v.get("public_metrics")
                    .and_then(|m| m.get("followers_count"))
                    .and_then(Value::as_i64)
            }),
    })
}

/// A post as both APIs describe it.
#[derive(Debug)]
struct Tweet {
    id: String,
    author: Party,
    text: Option<String>,
    occurred_at: i64,
    in_reply_to_status: Option<String>,
    in_reply_to_user: Option<Party>,
    retweet_of: Option<(String, Option<Party>)>,
    quote_of: Option<(String, Option<Party>)>,
    mentions: Vec<Party>,
    conversation_id: Option<String>,
}

fn v1_tweet(t: &Value) -> Result<Tweet, IngestError> {
    let id = id_at(t, "id_str")
        .or_else(|| id_at(t, "id"))
        .ok_or_else(|| IngestError::malformed("tweet has no id_str"))?;
    let author = x_user(t.get("user"))
        .ok_or_else(|| IngestError::malformed(format!("tweet {id} has no user.id_str")))?;
    let extended = t.get("extended_tweet");
    let text = extended
        .and_then(|e| str_at(e, "full_text"))
        .or_else(|| str_at(t, "text"))
        .map(str::to_owned);
    let occurred_at = int_at(t, "timestamp_ms")
        .or_else(|| str_at(t, "created_at").and_then(twitter_date_ms))
        .ok_or_else(|| IngestError::malformed(format!("tweet {id} has no usable time")))?;
    let embedded = |key: &str| {
        t.get(key).filter(|s| s.is_object()).and_then(|s| {
            let id = id_at(s, "id_str").or_else(|| id_at(s, "id"))?;
            Some((id, x_user(s.get("user"))))
        })
    };
    let quote_of = embedded("quoted_status").or_else(|| {
        id_at(t, "quoted_status_id_str")
            .filter(|_| t.get("is_quote_status").and_then(Value::as_bool) == Some(true))
            .map(|id| (id, None))
    });
    let entities = extended
        .and_then(|e| e.get("entities"))
        .or_else(|| t.get("entities"));
    let mentions = entities
        .and_then(|e| e.get("user_mentions"))
        .and_then(Value::as_array)
        .map(|ms| ms.iter().filter_map(|m| x_user(Some(m))).collect())
        .unwrap_or_default();
    Ok(Tweet {
        in_reply_to_status: id_at(t, "in_reply_to_status_id_str"),
        in_reply_to_user: id_at(t, "in_reply_to_user_id_str").map(|uid| Party {
            id: uid,
            handle: str_at(t, "in_reply_to_screen_name").map(str::to_owned),
            ..Party::default()
        }),
        retweet_of: embedded("retweeted_status"),
        quote_of,
        mentions,
        conversation_id: None,
        id,
        author,
        text,
        occurred_at,
    })
}

/// An API v2 post with the `includes` of its envelope.
fn v2_tweet(t: &Value, users: &[Value], tweets: &[Value]) -> Result<Tweet, IngestError> {
    let id = require_id(t, "id", "post")?;
    let user = |uid: String| {
        users
            .iter()
            .find(|u| id_at(u, "id").as_deref() == Some(uid.as_str()))
            .and_then(|u| x_user(Some(u)))
            .unwrap_or(Party {
                id: uid,
                ..Party::default()
            })
    };
    let author = user(require_id(t, "author_id", "post")?);
    let text = t
        .get("note_tweet")
        .and_then(|n| str_at(n, "text"))
        .or_else(|| str_at(t, "text"))
        .map(str::to_owned);
    let occurred_at = str_at(t, "created_at")
        .and_then(rfc3339_ms)
        .ok_or_else(|| IngestError::malformed(format!("post {id} has no RFC 3339 created_at")))?;
    let mut in_reply_to_status = id_at(t, "in_reply_to_tweet_id");
    let mut retweet_of = None;
    let mut quote_of = None;
    for r in array_or_empty(t, "referenced_tweets", "post")? {
        let Some(ref_id) = id_at(r, "id") else {
            continue;
        };
        let ref_author = tweets
            .iter()
            .find(|x| id_at(x, "id").as_deref() == Some(ref_id.as_str()))
            .and_then(|x| id_at(x, "author_id"))
            .map(&user);
        match str_at(r, "type") {
            Some("replied_to") => in_reply_to_status = in_reply_to_status.or(Some(ref_id)),
            Some("retweeted") => retweet_of = Some((ref_id, ref_author)),
            Some("quoted") => quote_of = Some((ref_id, ref_author)),
            _ => {}
        }
    }
    let mentions = t
        .get("entities")
        .and_then(|e| e.get("mentions"))
        .and_then(Value::as_array)
        .map(|ms| ms.iter().filter_map(|m| x_user(Some(m))).collect())
        .unwrap_or_default();
    Ok(Tweet {
        in_reply_to_user: id_at(t, "in_reply_to_user_id").map(&user),
        in_reply_to_status,
        retweet_of,
        quote_of,
        mentions,
        conversation_id: id_at(t, "conversation_id"),
        id,
        author,
        text,
        occurred_at,
    })
}

/// Kind, direction and counterpart of a post for the brand (FORMATS.md §3.5). `hint` is the
/// XAA event type's kind, trusted when `includes` does not carry the referenced post's author.
fn tweet_event(
    ctx: &Ctx<'_>,
    t: Tweet,
    hint: Option<Kind>,
    source: &str,
) -> Result<Option<InteractionEvent>, IngestError> {
    let brand = ctx.brand.account_id;
    let is_brand = |p: &Option<Party>| p.as_ref().is_some_and(|p| p.id == brand);
    let other = |p: &Option<Party>| p.clone().filter(|p| p.id != brand);
    let (kind, direction, addressed, parent) = if t.author.id == brand {
        let out = Direction::Outbound;
        if let Some((rt, author)) = &t.retweet_of {
            (Kind::Share, out, other(author), Some(rt.clone()))
        } else if let Some(status) = &t.in_reply_to_status {
            match other(&t.in_reply_to_user) {
                Some(user) => (Kind::Reply, out, Some(user), Some(status.clone())),
                None => (Kind::Post, out, None, Some(status.clone())),
            }
        } else if let Some((q, author)) = &t.quote_of {
            (Kind::Share, out, other(author), Some(q.clone()))
        } else if let Some(m) = t.mentions.iter().find(|m| m.id != brand) {
            (Kind::Mention, out, Some(m.clone()), None)
        } else {
            (Kind::Post, out, None, None)
        }
    } else {
        let inb = Direction::Inbound;
        let share_hint = hint == Some(Kind::Share);
        match (&t.retweet_of, &t.quote_of) {
            (Some((rt, author)), _) if is_brand(author) || share_hint => {
                (Kind::Share, inb, None, Some(rt.clone()))
            }
            (_, Some((q, author))) if is_brand(author) || share_hint => {
                (Kind::Share, inb, None, Some(q.clone()))
            }
            _ if is_brand(&t.in_reply_to_user) || hint == Some(Kind::Reply) => {
                (Kind::Reply, inb, None, t.in_reply_to_status.clone())
            }
            _ if t.mentions.iter().any(|m| m.id == brand) || hint == Some(Kind::Mention) => {
                (Kind::Mention, inb, None, t.in_reply_to_status.clone())
            }
            // Delivered because it touches the account somehow, but not an interaction with it.
            _ => return Ok(None),
        }
    };
    let starts_thread = t.in_reply_to_status.is_none() && t.retweet_of.is_none();
    let root = t
        .conversation_id
        .clone()
        .or_else(|| starts_thread.then(|| t.id.clone()));
    let mut draft = Draft::new(
        kind,
        direction,
        t.author,
        t.id.clone(),
        t.occurred_at,
        format!("{source}.{kind}"),
    );
    draft.addressed = addressed;
    draft.parent_id = parent;
    draft.root_id = root;
    draft.text = t.text;
    draft.finish(ctx, &["tweet", &t.id]).map(Some)
}

fn favorite(ctx: &Ctx<'_>, f: &Value) -> Result<Option<InteractionEvent>, IngestError> {
    let status = require(f, "favorited_status", "favorite event")?;
    let tweet = id_at(status, "id_str")
        .or_else(|| id_at(status, "id"))
        .ok_or_else(|| IngestError::malformed("favorited_status has no id_str"))?;
    let liker = x_user(f.get("user"))
        .ok_or_else(|| IngestError::malformed("favorite event has no user"))?;
    let author = x_user(status.get("user"));
    let occurred_at = int_at(f, "timestamp_ms")
        .or_else(|| str_at(f, "created_at").and_then(twitter_date_ms))
        .ok_or_else(|| IngestError::malformed("favorite event has no usable time"))?;
    let key = id_at(f, "id").unwrap_or_else(|| format!("{tweet}:{}", liker.id));
    like(
        ctx,
        tweet,
        liker,
        author,
        occurred_at,
        &key,
        "x.favorite_events.like",
    )
}

/// A like between the brand and someone else; `None` when the brand is on neither side.
fn like(
    ctx: &Ctx<'_>,
    tweet: String,
    liker: Party,
    author: Option<Party>,
    occurred_at: i64,
    key: &str,
    source: &str,
) -> Result<Option<InteractionEvent>, IngestError> {
    let (direction, addressed) = if ctx.is_brand(&liker.id) {
        (Direction::Outbound, author.filter(|a| !ctx.is_brand(&a.id)))
    } else if author.as_ref().is_some_and(|a| ctx.is_brand(&a.id)) {
        (Direction::Inbound, None)
    } else {
        return Ok(None);
    };
    let object_id = format!("{tweet}:{}", liker.id);
    let mut draft = Draft::new(
        Kind::Reaction,
        direction,
        liker,
        object_id,
        occurred_at,
        source,
    );
    draft.addressed = addressed;
    draft.parent_id = Some(tweet);
    draft.reaction = Some("like".to_owned());
    draft.finish(ctx, &["favorite", key]).map(Some)
}

/// A follow or unfollow between `source` and `target`; `None` when the brand is neither.
fn follow(
    ctx: &Ctx<'_>,
    kind: &str,
    source: Option<Party>,
    target: Option<Party>,
    occurred_at: i64,
    key: &str,
    origin: &str,
) -> Result<Option<InteractionEvent>, IngestError> {
    let kind = match kind {
        "follow" => Kind::Follow,
        "unfollow" => Kind::Unfollow,
        _ => return Ok(None),
    };
    let (Some(source), Some(target)) = (source, target) else {
        return Err(IngestError::malformed(
            "follow event without source and target ids",
        ));
    };
    let object_id = format!("{}:{}", source.id, target.id);
    let parts = ["follow", kind.as_str(), &source.id, &target.id, key].map(str::to_owned);
    let draft = if ctx.is_brand(&target.id) && !ctx.is_brand(&source.id) {
        Draft::new(
            kind,
            Direction::Inbound,
            source,
            object_id,
            occurred_at,
            format!("{origin}.{kind}"),
        )
    } else if ctx.is_brand(&source.id) {
        let mut d = Draft::new(
            kind,
            Direction::Outbound,
            source,
            object_id,
            occurred_at,
            format!("{origin}.{kind}"),
        );
        d.addressed = Some(target);
        d
    } else {
        return Ok(None);
    };
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    draft.finish(ctx, &parts).map(Some)
}

fn dm(
    ctx: &Ctx<'_>,
    d: &Value,
    users: Option<&Map>,
    source: &str,
) -> Result<Option<InteractionEvent>, IngestError> {
    if str_at(d, "type").is_some_and(|t| t != "message_create") {
        return Ok(None);
    }
    let id = require_id(d, "id", "direct message")?;
    let occurred_at = int_at(d, "created_timestamp").ok_or_else(|| {
        IngestError::malformed(format!("direct message {id} has no created_timestamp"))
    })?;
    let mc = require(d, "message_create", "direct message")?;
    let sender = require_id(mc, "sender_id", "message_create")?;
    let recipient = mc
        .get("target")
        .and_then(|t| id_at(t, "recipient_id"))
        .ok_or_else(|| IngestError::malformed("message_create has no target.recipient_id"))?;
    let party = |uid: &str| {
        users
            .and_then(|u| u.get(uid))
            .and_then(|u| x_user(Some(u)))
            .unwrap_or_else(|| Party {
                id: uid.to_owned(),
                ..Party::default()
            })
    };
    let outbound = ctx.is_brand(&sender);
    let mut draft = if outbound {
        let mut draft = Draft::new(
            Kind::DirectMessage,
            Direction::Outbound,
            party(&sender),
            id.clone(),
            occurred_at,
            format!("{source}.sent"),
        );
        draft.addressed = Some(party(&recipient));
        draft.automated =
            id_at(mc, "source_app_id").is_some_and(|app| ctx.brand.is_automation_app(&app));
        draft
    } else {
        Draft::new(
            Kind::DirectMessage,
            Direction::Inbound,
            party(&sender),
            id.clone(),
            occurred_at,
            format!("{source}.received"),
        )
    };
    draft.text = mc
        .get("message_data")
        .and_then(|m| str_at(m, "text"))
        .map(str::to_owned);
    draft.finish(ctx, &["dm", &id]).map(Some)
}

fn tweet_delete(ctx: &Ctx<'_>, d: &Value) -> Result<InteractionEvent, IngestError> {
    let status = require(d, "status", "tweet delete")?;
    let id = require_id(status, "id", "tweet delete status")?;
    let user = require_id(status, "user_id", "tweet delete status")?;
    let occurred_at = int_at(d, "timestamp_ms")
        .ok_or_else(|| IngestError::malformed("tweet delete has no timestamp_ms"))?;
    let direction = if ctx.is_brand(&user) {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    // The payload does not say what kind of post was deleted; the processor knows it by id.
    let mut draft = Draft::new(
        Kind::Other,
        direction,
        Party {
            id: user,
            ..Party::default()
        },
        id.clone(),
        occurred_at,
        "x.tweet_delete_events",
    );
    draft.modifier = Modifier::Deleted;
    draft.finish(ctx, &["tweet_delete", &id])
}

/// An X Activity API envelope: `{"data": {"event_type", "filter": {"user_id"}, "payload", "includes"}}`.
fn activity(
    data: &Value,
    received_at: i64,
    directory: &AccountDirectory,
    out: &mut Events,
) -> Result<(), IngestError> {
    let event_type = require_str(data, "event_type", "data")?;
    let filter = require(data, "filter", "data")?;
    let account = require_id(filter, "user_id", "data.filter")?;
    let ctx = Ctx {
        platform: Platform::X,
        brand: directory.lookup(Platform::X, &account)?,
        received_at,
    };
    let payload = require(data, "payload", "data")?;
    let includes = data.get("includes");
    let users = includes
        .map(|i| array_or_empty(i, "users", "includes"))
        .transpose()?
        .unwrap_or(&[]);
    let tweets = includes
        .map(|i| array_or_empty(i, "tweets", "includes"))
        .transpose()?
        .unwrap_or(&[]);
    let source = format!("x.activity.{event_type}");
    let hint = match event_type {
        "post.create" => None,
        "post.reply.create" => Some(Kind::Reply),
        "post.mention.create" => Some(Kind::Mention),
        "post.quote.create" | "post.repost.create" => Some(Kind::Share),
        "like.create" => return push(out, activity_like(&ctx, data, payload, users)?),
        "follow.follow" | "follow.unfollow" => {
            let kind = event_type.trim_start_matches("follow.");
            let occurred_at = int_at(payload, "created_timestamp")
                .or_else(|| str_at(payload, "created_at").and_then(rfc3339_ms))
                // Follow payloads carry no time; the receipt time is the closest we know.
                .unwrap_or(received_at);
            let key = id_at(data, "event_uuid").unwrap_or_else(|| occurred_at.to_string());
            let source_user = x_user(payload.get("source"));
            let target_user = x_user(payload.get("target"));
            let e = follow(
                &ctx,
                kind,
                source_user,
                target_user,
                occurred_at,
                &key,
                "x.activity",
            )?;
            return push(out, e);
        }
        "dm.received" | "dm.sent" => {
            let users = obj_at(payload, "users");
            for d in array_or_empty(payload, "direct_message_events", "payload")? {
                push(out, dm(&ctx, d, users, "x.activity.dm")?)?;
            }
            return Ok(());
        }
        // chat.* (encrypted), post.delete, block/mute, profile updates: not measured.
        _ => return Ok(()),
    };
    let post = payload
        .get("data")
        .filter(|d| d.is_object())
        .unwrap_or(payload);
    let tweet = v2_tweet(post, users, tweets)?;
    push(out, tweet_event(&ctx, tweet, hint, &source)?)
}

fn activity_like(
    ctx: &Ctx<'_>,
    data: &Value,
    payload: &Value,
    users: &[Value],
) -> Result<Option<InteractionEvent>, IngestError> {
    let tweet = require_id(payload, "liked_tweet_id", "like payload")?;
    let author_id = require_id(payload, "liked_tweet_author_id", "like payload")?;
    let user = |uid: &str| {
        users
            .iter()
            .find(|u| id_at(u, "id").as_deref() == Some(uid))
            .and_then(|u| x_user(Some(u)))
    };
    let outbound = match data.get("filter").and_then(|f| str_at(f, "direction")) {
        Some("outbound") => true,
        Some("inbound") => false,
        _ => !ctx.is_brand(&author_id),
    };
    let liker = if outbound {
        user(ctx.brand.account_id).unwrap_or_else(|| ctx.brand_party())
    } else {
        // The liker is named in the payload or is the one non-brand user in `includes`.
        id_at(payload, "liking_user_id")
            .or_else(|| id_at(payload, "user_id"))
            .map(|uid| {
                user(&uid).unwrap_or(Party {
                    id: uid,
                    ..Party::default()
                })
            })
            .or_else(|| {
                users
                    .iter()
                    .filter_map(|u| x_user(Some(u)))
                    .find(|u| !ctx.is_brand(&u.id))
            })
            .ok_or_else(|| IngestError::malformed("inbound like.create names no liking user"))?
    };
    let author = user(&author_id).unwrap_or(Party {
        id: author_id,
        ..Party::default()
    });
    let occurred_at = int_at(payload, "timestamp_ms")
        .or_else(|| str_at(payload, "created_at").and_then(rfc3339_ms))
        .ok_or_else(|| IngestError::malformed("like payload has no usable time"))?;
    let key = id_at(payload, "id").unwrap_or_else(|| format!("{tweet}:{}", liker.id));
    like(
        ctx,
        tweet,
        liker,
        Some(author),
        occurred_at,
        &key,
        "x.activity.like.create",
    )
}
