//! `rapport simulate`: realistic, deterministic, signed webhook traffic of brands whose
//! behaviour is known, so that every metric of METRICS.md can be checked end to end against a
//! ground truth — and a sender that posts it to a running `rapport ingest`.
//!
//! A [`SimConfig`] names N brands (personas cycling through [`Persona::ALL`]), their account
//! ids, timezones and the webhook secrets; [`generate`] turns it and a seed into [`Delivery`]s
//! in the platforms' real formats (Meta Page feed, Messenger and Instagram; X Account
//! Activity; Mastodon notifications and streaming frames; rapport's generic JSON for LinkedIn
//! items and profile snapshots), each signed exactly as ingest verifies it.
//! [`SimConfig::to_toml`] prints the `[[brands]]` and `[ingest.*]` blocks ingest needs to
//! accept them. [`send`] posts deliveries over keep-alive HTTP/1.1; [`write_jsonl`] /
//! [`read_jsonl`] store them for replay.
//!
//! Personas (ground truth):
//! - **broadcaster**: ~12 posts a day, answers 7 % of threads after ~16 h (log-normal, some
//!   only days later) with short ad-hoc lines, follows back 2 % of its followers, profile
//!   32,000 followers / 422 following, away-message bot on Messenger/Instagram DMs.
//! - **responsive**: a care team with extended hours and weekend cover (every day 08:00–22:00
//!   in its timezone) answers 93 % of threads within 1–50 min while staffed, overnight ones
//!   the next morning; personal replies with the user's first name, likes 30 % of public
//!   items, follows back 60 %.
//! - **templated**: answers 80 % (what its macros cover) within minutes around the clock with
//!   one canned reply varied only by handle, agent signature (`^AB`) and URL; follows back
//!   10 %; away-message bot.
//! - **influencer-favouring**: answers accounts with ≥ 10k followers 95 % within the hour
//!   (personally) and others 20 % after ~8 h (generically); follows back 70 % of big accounts
//!   and 1 % of the rest.
//!
//! On the 24 h response rate this orders them responsive > templated >
//! influencer-favouring > broadcaster, and the templated brand has by far the highest
//! templated share.
//!
//! Users have log-normal follower counts (median 250, ~5 % ≥ 10k); threads arrive with a
//! diurnal and weekly shape, with follow-ups, multi-turn answers and DMs; deliveries are late
//! (≤ 4 min) or duplicated as platforms do (see [`generate`]).

mod cli;
mod config;
mod delivery;
mod error;
mod generate;
mod model;
mod render;
mod rng;
mod sender;
mod text;

pub use cli::{run, SimulateArgs};
pub use config::{BrandSpec, Persona, SimAccounts, SimConfig, SimSecrets};
pub use delivery::{endpoint_of, read_jsonl, signature_header, write_jsonl, Delivery};
pub use error::SimError;
pub use generate::{generate, DUPLICATE_SHARE, LATE_SHARE, MAX_LATENESS_MS};
pub use model::BIG_ACCOUNT_FOLLOWERS;
pub use render::{GENERIC_PATH, MASTODON_PATH, META_PATH, X_PATH};
pub use sender::{send, Pace, SendOptions, SendReport};

#[cfg(test)]
mod tests;
