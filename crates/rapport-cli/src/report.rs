//! `rapport report`: argument parsing and printing of a brand's scorecard (table, JSON, CSV).
//! The figures come from `rapport_clickhouse::report`.

use anyhow::Context;
use chrono::{DateTime, NaiveDate};
use rapport_clickhouse::report::{scorecard, ReportParams, Scorecard};
use rapport_runtime::config::Config;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Brand id (as in [[brands]]); repeat to compare brands side by side.
    #[arg(long, required = true)]
    brand: Vec<String>,
    /// One platform (facebook, instagram, x, mastodon, ...); default: all.
    #[arg(long, default_value = "")]
    platform: String,
    /// First day of the period (YYYY-MM-DD, UTC); default: the beginning.
    #[arg(long)]
    from: Option<String>,
    /// Last day of the period (YYYY-MM-DD, UTC, inclusive); default: the as-of day.
    #[arg(long)]
    to: Option<String>,
    /// Cut-off instant (RFC 3339, e.g. 2026-03-04T12:00:00Z); default: the brand's newest
    /// interaction minus the allowed lateness.
    #[arg(long)]
    as_of: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

fn day(text: &str) -> anyhow::Result<u32> {
    let d = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("`{text}` is not a date like 2026-03-02"))?;
    let secs = d
        .and_hms_opt(0, 0, 0)
        .context("midnight")?
        .and_utc()
        .timestamp();
    u32::try_from(secs).with_context(|| format!("{text} is outside 1970..2106"))
}

pub async fn run(args: ReportArgs, config: &Config) -> anyhow::Result<()> {
    let as_of = match &args.as_of {
        Some(t) => {
            let ts = DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("`{t}` is not an RFC 3339 time"))?;
            Some(u32::try_from(ts.timestamp()).context("as-of outside 1970..2106")?)
        }
        None => None,
    };
    let lateness = u32::try_from(config.process.allowed_lateness.as_secs()).unwrap_or(u32::MAX);
    let max_pending = u32::try_from(config.process.max_pending.as_secs()).unwrap_or(u32::MAX);
    let to = match (&args.to, as_of) {
        (Some(t), _) => day(t)?,
        (None, Some(a)) => a - a % 86_400,
        (None, None) => u32::MAX - 86_400,
    };
    let template = ReportParams {
        brand: String::new(),
        platform: args.platform.clone(),
        from: args.from.as_deref().map(day).transpose()?.unwrap_or(0),
        to,
        as_of,
        lateness_seconds: lateness,
        max_pending_seconds: max_pending,
    };
    let client = rapport_clickhouse::client(&config.clickhouse);
    let mut cards = Vec::with_capacity(args.brand.len());
    for brand in &args.brand {
        let params = ReportParams {
            brand: brand.clone(),
            ..template.clone()
        };
        let card = scorecard(&client, &params).await.with_context(|| {
            format!(
                "computing the scorecard of {brand} in ClickHouse at {} (has `rapport migrate` run?)",
                config.clickhouse.url
            )
        })?;
        cards.push(card);
    }
    print(&cards, args.format)
}

/// One brand: its figures; several: side by side (JSON: an array; CSV and table: one column
/// per brand).
pub fn print(cards: &[Scorecard], format: Format) -> anyhow::Result<()> {
    if let (Format::Json, [card]) = (format, cards) {
        out!("{}", serde_json::to_string_pretty(card)?);
        return Ok(());
    }
    if let Format::Json = format {
        out!("{}", serde_json::to_string_pretty(cards)?);
        return Ok(());
    }
    let columns: Vec<Vec<(String, String)>> =
        cards.iter().map(flatten).collect::<anyhow::Result<_>>()?;
    let Some(first) = columns.first() else {
        return Ok(());
    };
    let value = |col: &Vec<(String, String)>, name: &str| {
        col.iter()
            .find(|(k, _)| k == name)
            .map_or_else(|| "-".to_owned(), |(_, v)| v.clone())
    };
    match format {
        Format::Csv => {
            let header: Vec<&str> = cards.iter().map(|c| c.brand_id.as_str()).collect();
            out!("figure,{}", header.join(","));
            for (name, _) in first {
                let row: Vec<String> = columns.iter().map(|c| value(c, name)).collect();
                out!("{name},{}", row.join(","));
            }
        }
        _ => {
            let width = first.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            let cell = columns
                .iter()
                .flat_map(|c| c.iter().map(|(_, v)| v.len()))
                .max()
                .unwrap_or(0)
                .max(12);
            for (name, _) in first {
                let mut line = format!("{name:<width$}");
                for c in &columns {
                    line.push_str(&format!("  {:>cell$}", value(c, name)));
                }
                out!("{}", line.trim_end());
            }
        }
    }
    Ok(())
}

/// An object's fields in the order they were written. serde_json's `Value` sorts object keys:
/// the binary leaves serde_json's `preserve_order` off because it turns every parsed webhook
/// body into an `IndexMap` with SipHash keys (verify + normalize of a Meta comment: 8.4 µs
/// without, 11.7 µs with), so the scorecard's field order is read from its serialized form.
struct OrderedFields(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = OrderedFields;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedFields, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry::<String, serde_json::Value>()? {
                    fields.push(field);
                }
                Ok(OrderedFields(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// Figures as (name, printable value) pairs in the scorecard's field order, bands flattened as
/// `response_rate_24h[<1k]`.
fn flatten(card: &Scorecard) -> anyhow::Result<Vec<(String, String)>> {
    let OrderedFields(fields) = serde_json::from_slice(&serde_json::to_vec(card)?)?;
    let mut out = Vec::new();
    for (k, v) in fields {
        match v {
            serde_json::Value::Array(bands) => {
                for b in bands {
                    let name = b
                        .get("follower_band")
                        .and_then(|n| n.as_str())
                        .unwrap_or("?")
                        .to_owned();
                    let rate = b.get("response_rate_24h").map_or("null".to_owned(), show);
                    let n = b.get("threads_24h_old").map_or("0".to_owned(), show);
                    out.push((
                        format!("response_rate_24h[{name}]"),
                        format!("{rate} (n={n})"),
                    ));
                }
            }
            other => out.push((k, show(&other))),
        }
    }
    Ok(out)
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.4}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::OrderedFields;

    #[test]
    fn fields_keep_the_order_they_were_written_in() {
        let OrderedFields(fields) =
            serde_json::from_str(r#"{"zeta":1,"alpha":null,"mid":[{"b":2,"a":1}]}"#)
                .expect("an object");
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "mid"]);
        assert_eq!(fields[2].1[0]["a"], 1);
        assert!(serde_json::from_str::<OrderedFields>("[1]").is_err());
    }
}
