//! From a [`SimConfig`] to the ordered list of signed [`Delivery`]s: every brand's actions
//! (from `model`), rendered (`render`), stamped with a send time that models the platforms'
//! delivery behaviour — a second or so of latency, ~5 % late by up to four minutes (so
//! deliveries arrive out of order, within the processor's 5-minute lateness), ~2 % retried as
//! exact duplicates — then signed and sorted by send time.

use crate::config::SimConfig;
use crate::delivery::{endpoint_of, signature_header, Delivery};
use crate::model::{brand_actions, users};
use crate::render::render;
use crate::rng::Rng;
use crate::SimError;

/// Share of deliveries a platform sends again (its first attempt timed out, say).
pub const DUPLICATE_SHARE: f64 = 0.02;
/// Share of deliveries that arrive late (queued at the platform).
pub const LATE_SHARE: f64 = 0.05;
/// Latest a late delivery arrives after the action, below the processor's allowed lateness.
pub const MAX_LATENESS_MS: i64 = 4 * 60 * 1000;

/// Generate the whole simulation. Same config ⇒ same deliveries, byte for byte.
pub fn generate(cfg: &SimConfig) -> Result<Vec<Delivery>, SimError> {
    let pool = users(cfg.seed, cfg.users);
    let mut out = Vec::new();
    for (b, brand) in cfg.brands.iter().enumerate() {
        let mut actions = brand_actions(cfg, &pool, b);
        actions.sort_by_key(|a| a.at_ms);
        let mut rng = Rng::stream(cfg.seed, "delivery", b as u64);
        for action in &actions {
            let mut send = action.at_ms + rng.range(200, 3_000);
            if rng.chance(LATE_SHARE) {
                send += rng.range(30_000, MAX_LATENESS_MS);
            }
            let Some((path, body)) = render(brand, &pool, action, send) else {
                continue;
            };
            let body = serde_json::to_vec(&body).map_err(SimError::Encode)?;
            let endpoint = endpoint_of(&path)?;
            let (name, value) =
                signature_header(&endpoint, &body, &cfg.secrets, send.div_euclid(1000));
            let delivery = Delivery {
                headers: vec![
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                    (name.to_owned(), value),
                ],
                path,
                body,
                send_at_ms: send,
                occurred_at_ms: action.at_ms,
                duplicate: false,
            };
            if rng.chance(DUPLICATE_SHARE) {
                // The platform did not see our 2xx in time and sends the same bytes again.
                let mut again = delivery.clone();
                again.send_at_ms = send + rng.range(20_000, 300_000);
                again.duplicate = true;
                if again.path == crate::render::GENERIC_PATH {
                    again.resign_generic(
                        cfg.secrets.generic_secret.as_bytes(),
                        again.send_at_ms.div_euclid(1000),
                    );
                }
                out.push(again);
            }
            out.push(delivery);
        }
    }
    // Stable: equal send times keep brand and action order, so the output is deterministic.
    out.sort_by_key(|d| d.send_at_ms);
    Ok(out)
}
