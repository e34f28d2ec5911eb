//! One adapter per endpoint, each mapping a verified delivery body to `InteractionEvent`s with
//! the platform's own direction, thread and timestamp rules (platforms/FORMATS.md). Adapters
//! share the builder in `event` and the JSON accessors in `json`; they never authenticate
//! (that happened before, on the raw bytes) and never touch the network.
//!
//! Conventions common to all adapters:
//! - `actor` is who acted; for outbound items that is the brand account, and `addressed` is
//!   the non-brand party when the payload names one (`InteractionEvent::user_id`).
//! - Reactions use `<target id>:<actor id>` as `object_id`, so an un-reaction or a changed
//!   reaction refers to the same object as the reaction it undoes.
//! - `root_id` is the thread root when the payload says it (Meta `post_id`, X `conversation_id`,
//!   an item that starts its own thread); otherwise it is left empty rather than guessed.
//! - Anything rapport does not measure (receipts, typing, moderation actions it has no
//!   modifier for, platform lifecycle events) yields no event and no error.

pub mod generic;
pub mod mastodon;
pub mod meta;
pub mod x;
