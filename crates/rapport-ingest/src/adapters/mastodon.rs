//! Mastodon deliveries on `/webhooks/mastodon` (FORMATS.md §6): notifications of the brand
//! account (one object, or an array as returned by `GET /api/v1/notifications`), streaming
//! WebSocket frames whose `payload` is JSON inside a string, and admin webhooks
//! (`{event, created_at, object}`).
//!
//! Notifications are all inbound: `mention` becomes a reply (when it answers the brand), a
//! direct message (`visibility: direct`) or a mention; `favourite` a reaction; `reblog` and
//! `quote` a share; `follow` and `follow_request` a follow. Brand-authored statuses (stream
//! `update` / `status.update`, admin `status.created` / `status.updated`) are the outbound side;
//! statuses by anyone else on those routes are timeline or server noise and yield nothing, which
//! also keeps a mention from being counted twice (it arrives as a notification too).
//!
//! A notification does not name the account that received it. The receiving account comes from
//! the endpoint when known; otherwise it is read from the status (mentioned or authored
//! account). Event ids use the notification id, the dedup key Mastodon provides. `content` is
//! HTML and is reduced to plain text for the personal-touch metrics.

use rapport_events::{Direction, InteractionEvent, Kind, Modifier, Party, Platform};

use crate::directory::BrandRef;
use crate::event::{Ctx, Draft, Events};
use crate::json::{array_or_empty, id_at, parse, require, require_id, require_str, str_at, Value};
use crate::time::rfc3339_ms;
use crate::{AccountDirectory, IngestError};

pub(crate) fn normalize(
    body: &[u8],
    receiving: Option<&str>,
    received_at: i64,
    directory: &AccountDirectory,
) -> Result<Vec<InteractionEvent>, IngestError> {
    let v = parse(body)?;
    let route = Route {
        receiving,
        received_at,
        directory,
    };
    let mut out = Events::default();
    match &v {
        Value::Array(notifications) => {
            for n in notifications {
                push(&mut out, route.notification(n)?)?;
            }
        }
        Value::Object(o) if o.contains_key("payload") && o.contains_key("stream") => {
            push(&mut out, route.stream_frame(&v)?)?;
        }
        Value::Object(o) if o.contains_key("event") && o.contains_key("object") => {
            push(&mut out, route.admin_webhook(&v)?)?;
        }
        Value::Object(_) => push(&mut out, route.notification(&v)?)?,
        _ => {
            return Err(IngestError::malformed(
                "a Mastodon delivery is a JSON object or an array of notifications",
            ))
        }
    }
    Ok(out.into_vec())
}

fn push(out: &mut Events, event: Option<InteractionEvent>) -> Result<(), IngestError> {
    match event {
        Some(e) => out.push(e),
        None => Ok(()),
    }
}

struct Route<'a> {
    receiving: Option<&'a str>,
    received_at: i64,
    directory: &'a AccountDirectory,
}

fn party(v: &Value) -> Option<Party> {
    Some(Party {
        id: id_at(v, "id")?,
        handle: str_at(v, "acct").map(str::to_owned),
        display_name: str_at(v, "display_name")
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        followers: v.get("followers_count").and_then(Value::as_i64),
    })
}

fn time(v: &Value, key: &str, what: &str) -> Result<i64, IngestError> {
    str_at(v, key)
        .and_then(rfc3339_ms)
        .ok_or_else(|| IngestError::malformed(format!("{what}.{key} is not an RFC 3339 time")))
}

impl Route<'_> {
    fn ctx<'d>(&'d self, brand: BrandRef<'d>) -> Ctx<'d> {
        Ctx {
            platform: Platform::Mastodon,
            brand,
            received_at: self.received_at,
        }
    }

    /// The brand that received a notification: the endpoint's account, else the first of
    /// `candidates` (accounts named by the status) that a brand owns.
    fn receiving_brand(&self, candidates: &[String]) -> Result<BrandRef<'_>, IngestError> {
        if let Some(account) = self.receiving {
            return self.directory.lookup(Platform::Mastodon, account);
        }
        if let Some(brand) = candidates
            .iter()
            .find_map(|c| self.directory.find(Platform::Mastodon, c))
        {
            return Ok(brand);
        }
        match candidates.first() {
            Some(first) => Err(IngestError::UnknownAccount {
                platform: Platform::Mastodon,
                account_id: first.clone(),
            }),
            None => Err(IngestError::malformed(
                "the notification does not say which account received it; \
                 deliver it with the receiving account",
            )),
        }
    }

    fn stream_frame(&self, v: &Value) -> Result<Option<InteractionEvent>, IngestError> {
        let event = require_str(v, "event", "frame")?;
        let payload = require(v, "payload", "frame")?;
        fn inner<'a>(p: &'a Value<'_>) -> Result<Value<'a>, IngestError> {
            match p {
                // The documented shape: JSON inside a string, parsed a second time.
                Value::String(s) => parse(s.as_bytes()),
                other => Ok(other.clone()),
            }
        }
        match event {
            "notification" => self.notification(&inner(payload)?),
            "update" => {
                self.brand_status(&inner(payload)?, Modifier::None, "mastodon.stream.update")
            }
            "status.update" => self.brand_status(
                &inner(payload)?,
                Modifier::Edited,
                "mastodon.stream.status.update",
            ),
            // `delete` carries a bare status id with no author; filters_changed, announcements...
            _ => Ok(None),
        }
    }

    fn admin_webhook(&self, v: &Value) -> Result<Option<InteractionEvent>, IngestError> {
        let object = require(v, "object", "webhook")?;
        match require_str(v, "event", "webhook")? {
            "status.created" => {
                self.brand_status(object, Modifier::None, "mastodon.admin.status.created")
            }
            "status.updated" => {
                self.brand_status(object, Modifier::Edited, "mastodon.admin.status.updated")
            }
            // account.* and report.*: moderation, not interactions.
            _ => Ok(None),
        }
    }

    fn notification(&self, n: &Value) -> Result<Option<InteractionEvent>, IngestError> {
        let id = require_id(n, "id", "notification")?;
        let kind_name = require_str(n, "type", "notification")?;
        let actor = party(require(n, "account", "notification")?)
            .ok_or_else(|| IngestError::malformed("notification.account has no id"))?;
        let notified_at = time(n, "created_at", "notification")?;
        let source = format!("mastodon.notification.{kind_name}");
        let status = || require(n, "status", "notification");
        let draft = match kind_name {
            "mention" => {
                let status = status()?;
                let mut candidates: Vec<String> = array_or_empty(status, "mentions", "status")?
                    .iter()
                    .filter_map(|m| id_at(m, "id"))
                    .collect();
                candidates.extend(id_at(status, "in_reply_to_account_id"));
                let brand = self.receiving_brand(&candidates)?;
                let status_id = require_id(status, "id", "status")?;
                let kind = if str_at(status, "visibility") == Some("direct") {
                    Kind::DirectMessage
                } else if id_at(status, "in_reply_to_account_id").as_deref()
                    == Some(brand.account_id)
                {
                    Kind::Reply
                } else {
                    Kind::Mention
                };
                let occurred_at = str_at(status, "created_at")
                    .and_then(rfc3339_ms)
                    .unwrap_or(notified_at);
                let mut d = Draft::new(
                    kind,
                    Direction::Inbound,
                    actor,
                    status_id,
                    occurred_at,
                    source,
                );
                d.parent_id = id_at(status, "in_reply_to_id");
                d.text = str_at(status, "content").map(html_to_text);
                (brand, d)
            }
            "favourite" | "reblog" => {
                // The attached status is the brand's own, not the boost wrapper.
                let status = status()?;
                let status_id = require_id(status, "id", "status")?;
                let author: Vec<String> = status
                    .get("account")
                    .and_then(|a| id_at(a, "id"))
                    .into_iter()
                    .collect();
                let brand = self.receiving_brand(&author)?;
                let kind = if kind_name == "favourite" {
                    Kind::Reaction
                } else {
                    Kind::Share
                };
                let object_id = format!("{status_id}:{}", actor.id);
                let mut d = Draft::new(
                    kind,
                    Direction::Inbound,
                    actor,
                    object_id,
                    notified_at,
                    source,
                );
                d.parent_id = Some(status_id);
                if kind == Kind::Reaction {
                    d.reaction = Some("favourite".to_owned());
                }
                (brand, d)
            }
            "quote" => {
                // The attached status is the quoting post; the quoted one sits inside it.
                let status = status()?;
                let status_id = require_id(status, "id", "status")?;
                let quoted = status
                    .get("quote")
                    .and_then(|q| q.get("quoted_status").filter(|s| s.is_object()).or(Some(q)));
                let quoted_author: Vec<String> = quoted
                    .and_then(|q| q.get("account"))
                    .and_then(|a| id_at(a, "id"))
                    .into_iter()
                    .collect();
                let brand = self.receiving_brand(&quoted_author)?;
                let occurred_at = str_at(status, "created_at")
                    .and_then(rfc3339_ms)
                    .unwrap_or(notified_at);
                let mut d = Draft::new(
                    Kind::Share,
                    Direction::Inbound,
                    actor,
                    status_id,
                    occurred_at,
                    source,
                );
                d.parent_id = quoted.and_then(|q| id_at(q, "id"));
                d.text = str_at(status, "content").map(html_to_text);
                (brand, d)
            }
            "follow" | "follow_request" => {
                let brand = self.receiving_brand(&[])?;
                let object_id = format!("{}:{}", actor.id, brand.account_id);
                (
                    brand,
                    Draft::new(
                        Kind::Follow,
                        Direction::Inbound,
                        actor,
                        object_id,
                        notified_at,
                        source,
                    ),
                )
            }
            // status (bell), update, poll, admin.*, severed_relationships, moderation_warning...
            _ => return Ok(None),
        };
        let (brand, d) = draft;
        d.finish(&self.ctx(brand), &["notification", &id]).map(Some)
    }

    /// A status by the brand itself (outbound); `None` for anyone else's.
    fn brand_status(
        &self,
        status: &Value,
        modifier: Modifier,
        source: &str,
    ) -> Result<Option<InteractionEvent>, IngestError> {
        let author = party(require(status, "account", "status")?)
            .ok_or_else(|| IngestError::malformed("status.account has no id"))?;
        if self.receiving.is_some_and(|r| r != author.id) {
            return Ok(None);
        }
        let Some(brand) = self.directory.find(Platform::Mastodon, &author.id) else {
            return Ok(None);
        };
        let ctx = self.ctx(brand);
        let status_id = require_id(status, "id", "status")?;
        let mentioned = |uid: Option<&str>| {
            array_or_empty(status, "mentions", "status").map(|ms| {
                ms.iter()
                    .filter_map(|m| {
                        let p = party(m)?;
                        let wanted = uid.map_or(!ctx.is_brand(&p.id), |u| p.id == u);
                        wanted.then_some(p)
                    })
                    .next()
            })
        };
        let reply_to_account = id_at(status, "in_reply_to_account_id");
        let reblog = status.get("reblog").filter(|r| r.is_object());
        let (kind, addressed, parent) = if let Some(r) = reblog {
            let original = r
                .get("account")
                .and_then(party)
                .filter(|p| !ctx.is_brand(&p.id));
            (Kind::Share, original, id_at(r, "id"))
        } else if str_at(status, "visibility") == Some("direct") {
            (
                Kind::DirectMessage,
                mentioned(None)?,
                id_at(status, "in_reply_to_id"),
            )
        } else if let Some(account) = reply_to_account.filter(|a| !ctx.is_brand(a)) {
            let user = mentioned(Some(&account))?.unwrap_or(Party {
                id: account,
                ..Party::default()
            });
            (Kind::Reply, Some(user), id_at(status, "in_reply_to_id"))
        } else if let Some(parent) = id_at(status, "in_reply_to_id") {
            // A reply to the brand's own status: a self-thread, addressing nobody.
            (Kind::Post, None, Some(parent))
        } else if let Some(user) = mentioned(None)? {
            (Kind::Mention, Some(user), None)
        } else {
            (Kind::Post, None, None)
        };
        let occurred_at = match modifier {
            Modifier::Edited => str_at(status, "edited_at").and_then(rfc3339_ms),
            _ => None,
        };
        let occurred_at = match occurred_at {
            Some(t) => t,
            None => time(status, "created_at", "status")?,
        };
        let root = (parent.is_none() && kind == Kind::Post).then(|| status_id.clone());
        let mut d = Draft::new(
            kind,
            Direction::Outbound,
            author,
            status_id.clone(),
            occurred_at,
            source,
        );
        d.modifier = modifier;
        d.addressed = addressed;
        d.parent_id = parent;
        d.root_id = root;
        d.text = str_at(status, "content").map(html_to_text);
        let version = str_at(status, "edited_at").unwrap_or("");
        d.finish(&ctx, &["status", &status_id, version]).map(Some)
    }
}

/// Plain text of a status's HTML `content`: tags dropped, paragraph and line breaks kept as
/// newlines, the entities Mastodon emits decoded.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            // An unclosed `<` is text, not a tag.
            text.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + len].trim().to_ascii_lowercase();
        if tag.starts_with("br") {
            text.push('\n');
        } else if tag == "/p" {
            text.push_str("\n\n");
        }
        rest = &rest[start + len + 1..];
    }
    text.push_str(rest);
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        // Last, so `&amp;lt;` becomes `&lt;` and not `<`.
        .replace("&amp;", "&");
    decoded.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn html_content_becomes_plain_text() {
        assert_eq!(
            html_to_text(
                r#"<p><span class="h-card"><a href="x">@<span>brand</span></a></span> when &amp; where?</p><p>a&lt;b<br/>c</p>"#
            ),
            "@brand when & where?\n\na<b\nc"
        );
        assert_eq!(html_to_text("1 < 2"), "1 < 2");
        assert_eq!(html_to_text("&amp;lt;"), "&lt;");
    }
}
