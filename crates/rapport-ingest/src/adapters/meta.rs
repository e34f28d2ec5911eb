//! Meta deliveries on `/webhooks/meta`: Facebook Page `feed` and `mention` changes, Messenger
//! (`messaging[]`, `standby[]`) and Instagram (`comments`, `live_comments`, `mentions`,
//! messaging), per FORMATS.md §1–2.
//!
//! Both Instagram envelope shapes are read: `entry[].changes[]` (Facebook Login) and
//! `field`/`value` directly on the entry (Instagram Login), as is a body wrapped in a top-level
//! array (Meta's published Instagram examples). Facebook Pages and Messenger share
//! `Platform::Facebook`. Times: feed `created_time` and `entry.time` of change deliveries are
//! Unix seconds; messaging `timestamp` and its `entry.time` are milliseconds.
//!
//! Meta sends no event id, so ids derive from field, item, verb, object ids, actor and
//! `created_time` (FORMATS.md §0) — never from `entry.time`, which is the send time and changes
//! on a retry. What this adapter cannot know: the author of the comment an outbound Page reply
//! answers (the payload does not say, so `addressed` is empty and the processor resolves it
//! from `parent_id`), and the actor of Instagram mentions (the payload carries none, so the
//! actor id is empty).

use rapport_events::{Direction, InteractionEvent, Kind, Modifier, Party, Platform};

use crate::event::{Ctx, Draft, Events};
use crate::json::{
    array_or_empty, bool_at, id_at, id_ref, int_at, parse, require, require_array, require_id,
    require_id_ref, require_str, str_at, Value,
};
use crate::time::secs_to_ms;
use crate::{AccountDirectory, IngestError};

pub(crate) fn normalize(
    body: &[u8],
    received_at: i64,
    directory: &AccountDirectory,
) -> Result<Vec<InteractionEvent>, IngestError> {
    let value = parse(body)?;
    let mut out = Events::default();
    match &value {
        Value::Array(deliveries) => {
            for d in deliveries {
                delivery(d, received_at, directory, &mut out)?;
            }
        }
        Value::Object(_) => delivery(&value, received_at, directory, &mut out)?,
        _ => {
            return Err(IngestError::malformed(
                "a Meta delivery is a JSON object or an array of them",
            ))
        }
    }
    Ok(out.into_vec())
}

fn delivery(
    v: &Value,
    received_at: i64,
    directory: &AccountDirectory,
    out: &mut Events,
) -> Result<(), IngestError> {
    let platform = match require_str(v, "object", "delivery")? {
        "page" => Platform::Facebook,
        "instagram" => Platform::Instagram,
        other => {
            return Err(IngestError::malformed(format!(
                "unknown Meta object `{other}`"
            )))
        }
    };
    for entry in require_array(v, "entry", "delivery")? {
        let account = require_id_ref(entry, "id", "entry")?;
        let ctx = Ctx {
            platform,
            brand: directory.lookup(platform, &account)?,
            received_at,
        };
        let entry_time = int_at(entry, "time");
        for change in array_or_empty(entry, "changes", "entry")? {
            push(out, on_change(&ctx, change, entry_time)?)?;
        }
        if entry.get("field").is_some() {
            push(out, on_change(&ctx, entry, entry_time)?)?;
        }
        for key in ["messaging", "standby"] {
            for event in array_or_empty(entry, key, "entry")? {
                push(out, on_messaging(&ctx, event, entry_time)?)?;
            }
        }
    }
    Ok(())
}

fn push(out: &mut Events, event: Option<InteractionEvent>) -> Result<(), IngestError> {
    match event {
        Some(e) => out.push(e),
        None => Ok(()),
    }
}

fn on_change(
    ctx: &Ctx<'_>,
    change: &Value,
    entry_time: Option<i64>,
) -> Result<Option<InteractionEvent>, IngestError> {
    let field = require_str(change, "field", "change")?;
    let value = require(change, "value", "change")?;
    match (ctx.platform, field) {
        (Platform::Facebook, "feed") => feed(ctx, value, entry_time),
        (Platform::Facebook, "mention") => page_mention(ctx, value, entry_time),
        (Platform::Instagram, "comments" | "live_comments") => {
            ig_comment(ctx, field, value, entry_time)
        }
        (Platform::Instagram, "mentions") => ig_mention(ctx, value, entry_time),
        _ => Ok(None),
    }
}

/// `from {id, name|username}` as a party.
fn party(v: Option<&Value>) -> Option<Party> {
    let v = v?;
    Some(Party {
        id: id_at(v, "id")?,
        handle: str_at(v, "username").map(str::to_owned),
        display_name: str_at(v, "name").map(str::to_owned),
        followers: None,
    })
}

fn direction(ctx: &Ctx<'_>, actor: &Party) -> Direction {
    if ctx.is_brand(&actor.id) {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

/// `created_time` (Unix seconds), falling back to the entry's send time (also seconds): as ms,
/// and as the seconds, which go into the event id.
fn change_time(v: &Value, entry_time: Option<i64>) -> Result<(i64, i64), IngestError> {
    let secs = int_at(v, "created_time").or(entry_time).ok_or_else(|| {
        IngestError::malformed("feed value has no created_time and the entry no time")
    })?;
    let ms = secs_to_ms(secs)
        .ok_or_else(|| IngestError::malformed(format!("created_time {secs} is out of range")))?;
    Ok((ms, secs))
}

fn feed(
    ctx: &Ctx<'_>,
    v: &Value,
    entry_time: Option<i64>,
) -> Result<Option<InteractionEvent>, IngestError> {
    let item = require_str(v, "item", "feed value")?;
    let verb = require_str(v, "verb", "feed value")?;
    let post_id = id_ref(v, "post_id");
    let comment_id = id_ref(v, "comment_id");
    let parent_id = id_ref(v, "parent_id");
    let source = format!("meta.feed.{item}");
    let content_modifier = match verb {
        "add" => Some(Modifier::None),
        "edited" | "edit" => Some(Modifier::Edited),
        "remove" => Some(Modifier::Deleted),
        "hide" => Some(Modifier::Hidden),
        // unhide, block, mute, ...: moderation with no modifier in the schema.
        _ => None,
    };
    let (modifier, kind) = match item {
        "comment" => {
            let kind = match &parent_id {
                Some(parent) if Some(parent) != post_id.as_ref() => Kind::Reply,
                _ => Kind::Comment,
            };
            (content_modifier, kind)
        }
        "reaction" => {
            let m = match verb {
                "add" => Some(Modifier::None),
                "edit" | "edited" => Some(Modifier::Edited),
                "remove" => Some(Modifier::Unreacted),
                _ => None,
            };
            (m, Kind::Reaction)
        }
        "status" | "post" | "photo" | "video" | "album" => (content_modifier, Kind::Post),
        "share" => (content_modifier, Kind::Share),
        "like" => match verb {
            "add" => (Some(Modifier::None), Kind::Follow),
            "remove" => (Some(Modifier::None), Kind::Unfollow),
            _ => (None, Kind::Follow),
        },
        _ => (None, Kind::Other),
    };
    let Some(modifier) = modifier else {
        return Ok(None);
    };
    let actor = party(v.get("from"))
        .ok_or_else(|| IngestError::malformed(format!("feed {item} has no from.id")))?;
    let (occurred_at, created) = change_time(v, entry_time)?;
    let missing = |what: &str| IngestError::malformed(format!("feed {item} has no {what}"));

    let owned = |id: &Option<std::borrow::Cow<'_, str>>| id.as_deref().map(str::to_owned);
    let (object_id, parent_id, root_id) = match kind {
        Kind::Comment | Kind::Reply => {
            let comment = owned(&comment_id).ok_or_else(|| missing("comment_id"))?;
            let parent = owned(&parent_id).or_else(|| owned(&post_id));
            (comment, parent, owned(&post_id))
        }
        Kind::Reaction => {
            let target = owned(&comment_id)
                .or_else(|| owned(&post_id))
                .ok_or_else(|| missing("post_id"))?;
            (
                format!("{target}:{}", actor.id),
                Some(target),
                owned(&post_id),
            )
        }
        Kind::Post => {
            let post = owned(&post_id)
                .or_else(|| id_at(v, "photo_id"))
                .or_else(|| id_at(v, "video_id"))
                .ok_or_else(|| missing("post_id"))?;
            (post.clone(), None, Some(post))
        }
        Kind::Share => {
            let share = id_at(v, "share_id")
                .or_else(|| owned(&post_id))
                .ok_or_else(|| missing("share_id"))?;
            (share, None, None)
        }
        // Page likes: the Page itself is the followed object.
        _ => (format!("{}:{}", ctx.brand.account_id, actor.id), None, None),
    };

    let direction = direction(ctx, &actor);
    let ids = [post_id.as_deref(), comment_id.as_deref()];
    let event_id = change_event_id(ctx, "feed", item, verb, ids, &actor.id, created);
    let mut draft = Draft::new(kind, direction, actor, object_id, occurred_at, source);
    draft.modifier = modifier;
    draft.parent_id = parent_id;
    draft.root_id = root_id;
    draft.text = str_at(v, "message").map(str::to_owned);
    if kind == Kind::Reaction {
        draft.reaction = str_at(v, "reaction_type").map(str::to_owned);
    }
    draft.finish_with_id(ctx, event_id).map(Some)
}

/// The id of a Page feed change or mention: what changed (`tag`, item, verb), the post and
/// comment ids (`[post, comment]`, empty when absent), who, and when (`created_secs` in
/// decimal, formatted on the stack).
fn change_event_id(
    ctx: &Ctx<'_>,
    tag: &str,
    item: &str,
    verb: &str,
    [post_id, comment_id]: [Option<&str>; 2],
    actor_id: &str,
    created_secs: i64,
) -> String {
    let mut digits = itoa::Buffer::new();
    ctx.event_id(&[
        tag,
        item,
        verb,
        post_id.unwrap_or(""),
        comment_id.unwrap_or(""),
        actor_id,
        digits.format(created_secs),
    ])
}

fn page_mention(
    ctx: &Ctx<'_>,
    v: &Value,
    entry_time: Option<i64>,
) -> Result<Option<InteractionEvent>, IngestError> {
    let verb = str_at(v, "verb").unwrap_or("add");
    let modifier = match verb {
        "add" => Modifier::None,
        "edited" | "edit" => Modifier::Edited,
        "remove" => Modifier::Deleted,
        _ => return Ok(None),
    };
    let item = str_at(v, "item").unwrap_or("post");
    let post_id = id_ref(v, "post_id");
    let comment_id = id_ref(v, "comment_id");
    let object_id = comment_id
        .as_deref()
        .or(post_id.as_deref())
        .map(str::to_owned)
        .ok_or_else(|| IngestError::malformed("mention has neither comment_id nor post_id"))?;
    // The actor is `sender_id`/`sender_name` in some deliveries, `from` in others, absent in
    // some (FORMATS.md §1.4): keep the event with an empty actor id rather than drop it.
    let actor = match id_at(v, "sender_id") {
        Some(id) => Party {
            id,
            display_name: str_at(v, "sender_name").map(str::to_owned),
            ..Party::default()
        },
        None => party(v.get("from")).unwrap_or_default(),
    };
    let (occurred_at, created) = change_time(v, entry_time)?;
    let ids = [post_id.as_deref(), comment_id.as_deref()];
    let event_id = change_event_id(ctx, "mention", item, verb, ids, &actor.id, created);
    let mut draft = Draft::new(
        Kind::Mention,
        Direction::Inbound,
        actor,
        object_id,
        occurred_at,
        format!("meta.mention.{item}"),
    );
    draft.modifier = modifier;
    let post_id = post_id.as_deref().map(str::to_owned);
    draft.parent_id = comment_id.as_ref().and(post_id.clone());
    draft.root_id = post_id;
    draft.text = str_at(v, "message").map(str::to_owned);
    draft.finish_with_id(ctx, event_id).map(Some)
}

/// Instagram comments carry no time of their own: `entry.time` (seconds) is the best there is.
fn ig_entry_time(entry_time: Option<i64>) -> Result<i64, IngestError> {
    entry_time
        .and_then(secs_to_ms)
        .ok_or_else(|| IngestError::malformed("instagram entry has no usable time"))
}

fn ig_comment(
    ctx: &Ctx<'_>,
    field: &str,
    v: &Value,
    entry_time: Option<i64>,
) -> Result<Option<InteractionEvent>, IngestError> {
    // The reference and real deliveries say `id`; one official example says `comment_id`.
    let comment = id_at(v, "id")
        .or_else(|| id_at(v, "comment_id"))
        .ok_or_else(|| IngestError::malformed(format!("{field} value has no id")))?;
    let actor = party(v.get("from"))
        .ok_or_else(|| IngestError::malformed(format!("{field} value has no from.id")))?;
    let parent = id_at(v, "parent_id");
    let media = v.get("media").and_then(|m| id_at(m, "id"));
    let kind = if parent.is_some() {
        Kind::Reply
    } else {
        Kind::Comment
    };
    let direction = direction(ctx, &actor);
    let mut draft = Draft::new(
        kind,
        direction,
        actor,
        comment.clone(),
        ig_entry_time(entry_time)?,
        format!("meta.instagram.{field}"),
    );
    draft.parent_id = parent.or_else(|| media.clone());
    draft.root_id = media;
    draft.text = str_at(v, "text").map(str::to_owned);
    // No created time in the payload, and entry.time changes on retries: the comment id alone
    // identifies the action.
    draft.finish(ctx, &[field, &comment]).map(Some)
}

fn ig_mention(
    ctx: &Ctx<'_>,
    v: &Value,
    entry_time: Option<i64>,
) -> Result<Option<InteractionEvent>, IngestError> {
    let media = id_at(v, "media_id");
    let comment = id_at(v, "comment_id");
    let (object_id, source) = match (&comment, &media) {
        (Some(c), _) => (c.clone(), "meta.instagram.mentions.comment"),
        (None, Some(m)) => (m.clone(), "meta.instagram.mentions.media"),
        (None, None) => {
            return Err(IngestError::malformed(
                "mentions value has neither comment_id nor media_id",
            ))
        }
    };
    // The payload names neither the actor nor the text (FORMATS.md §2.2).
    let mut draft = Draft::new(
        Kind::Mention,
        Direction::Inbound,
        Party::default(),
        object_id,
        ig_entry_time(entry_time)?,
        source,
    );
    draft.parent_id = comment.as_ref().and(media.clone());
    draft.root_id = media.clone();
    draft
        .finish(
            ctx,
            &[
                "mentions",
                media.as_deref().unwrap_or(""),
                comment.as_deref().unwrap_or(""),
            ],
        )
        .map(Some)
}

fn on_messaging(
    ctx: &Ctx<'_>,
    ev: &Value,
    entry_time: Option<i64>,
) -> Result<Option<InteractionEvent>, IngestError> {
    let prefix = match ctx.platform {
        Platform::Instagram => "meta.instagram.messaging",
        _ => "meta.messaging",
    };
    let sender = ev.get("sender").and_then(|s| id_at(s, "id"));
    let recipient = ev.get("recipient").and_then(|s| id_at(s, "id"));
    let ts = || {
        // Messaging times are epoch milliseconds, the entry's too.
        int_at(ev, "timestamp")
            .or(entry_time)
            .ok_or_else(|| IngestError::malformed("messaging event has no timestamp"))
    };
    let ids = || {
        Ok::<_, IngestError>((
            sender
                .clone()
                .ok_or_else(|| IngestError::malformed("messaging event has no sender.id"))?,
            recipient
                .clone()
                .ok_or_else(|| IngestError::malformed("messaging event has no recipient.id"))?,
        ))
    };
    if let Some(message) = ev.get("message") {
        let (sender, recipient) = ids()?;
        return dm(ctx, prefix, message, &sender, &recipient, ts()?).map(Some);
    }
    if let Some(edit) = ev.get("message_edit") {
        let (sender, recipient) = ids()?;
        let mid = require_id(edit, "mid", "message_edit")?;
        let (actor, addressed, direction) = sides(ctx, false, &sender, &recipient);
        let mut draft = Draft::new(
            Kind::DirectMessage,
            direction,
            actor,
            mid.clone(),
            ts()?,
            format!("{prefix}.message_edit"),
        );
        draft.addressed = addressed;
        draft.modifier = Modifier::Edited;
        draft.text = str_at(edit, "text").map(str::to_owned);
        let n = int_at(edit, "num_edit").unwrap_or(0).to_string();
        return draft.finish(ctx, &["message_edit", &mid, &n]).map(Some);
    }
    if let Some(reaction) = ev.get("reaction") {
        let (sender, recipient) = ids()?;
        return dm_reaction(ctx, prefix, reaction, &sender, &recipient, ts()?).map(Some);
    }
    // read, delivery, postback, optin, referral, typing: receipts and UI events.
    Ok(None)
}

/// Actor, addressed party and direction of a private event between the brand and a user.
fn sides(
    ctx: &Ctx<'_>,
    is_echo: bool,
    sender: &str,
    recipient: &str,
) -> (Party, Option<Party>, Direction) {
    let user = |id: &str| Party {
        id: id.to_owned(),
        ..Party::default()
    };
    if is_echo || ctx.is_brand(sender) {
        (
            ctx.brand_party(),
            Some(user(recipient)),
            Direction::Outbound,
        )
    } else {
        (user(sender), None, Direction::Inbound)
    }
}

fn dm(
    ctx: &Ctx<'_>,
    prefix: &str,
    message: &Value,
    sender: &str,
    recipient: &str,
    occurred_at: i64,
) -> Result<InteractionEvent, IngestError> {
    let mid = require_id(message, "mid", "message")?;
    let is_echo = bool_at(message, "is_echo");
    let (actor, addressed, direction) = sides(ctx, is_echo, sender, recipient);
    let story_mention = message
        .get("attachments")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| str_at(x, "type") == Some("story_mention")));
    let (kind, verb) = if story_mention && direction == Direction::Inbound {
        (Kind::Mention, "story_mention")
    } else if direction == Direction::Outbound {
        (Kind::DirectMessage, "echo")
    } else {
        (Kind::DirectMessage, "message")
    };
    let mut draft = Draft::new(
        kind,
        direction,
        actor,
        mid.clone(),
        occurred_at,
        format!("{prefix}.{verb}"),
    );
    draft.addressed = addressed;
    draft.text = str_at(message, "text").map(str::to_owned);
    draft.parent_id = message
        .get("reply_to")
        .and_then(|r| id_at(r, "mid").or_else(|| r.get("story").and_then(|s| id_at(s, "id"))));
    draft.automated = direction == Direction::Outbound
        && id_at(message, "app_id").is_some_and(|app| ctx.brand.is_automation_app(&app));
    let deleted = bool_at(message, "is_deleted");
    if deleted {
        draft.modifier = Modifier::Deleted;
    }
    draft.finish(
        ctx,
        &["message", &mid, if deleted { "deleted" } else { "" }],
    )
}

fn dm_reaction(
    ctx: &Ctx<'_>,
    prefix: &str,
    reaction: &Value,
    sender: &str,
    recipient: &str,
    occurred_at: i64,
) -> Result<InteractionEvent, IngestError> {
    let mid = require_id(reaction, "mid", "reaction")?;
    let action = str_at(reaction, "action").unwrap_or("react");
    let (actor, addressed, direction) = sides(ctx, false, sender, recipient);
    let kind_of_reaction = str_at(reaction, "reaction").or_else(|| str_at(reaction, "emoji"));
    let object_id = format!("{mid}:{}", actor.id);
    let mut draft = Draft::new(
        Kind::Reaction,
        direction,
        actor,
        object_id,
        occurred_at,
        format!("{prefix}.reaction"),
    );
    // A reaction to a DM is part of the private conversation.
    draft.channel = rapport_events::Channel::Private;
    draft.addressed = addressed;
    draft.parent_id = Some(mid.clone());
    draft.reaction = kind_of_reaction.map(str::to_owned);
    if action == "unreact" {
        draft.modifier = Modifier::Unreacted;
    }
    let actor_id = draft.actor.id.clone();
    let ts = occurred_at.to_string();
    draft.finish(
        ctx,
        &[
            "reaction",
            &mid,
            &actor_id,
            action,
            kind_of_reaction.unwrap_or(""),
            &ts,
        ],
    )
}
