//! Comparing the processor's output between runs: every output table read with `FINAL` (what
//! analysts see once the replacing engines have folded replays), as TabSeparated lines in a
//! canonical order, and a table-by-table comparison that prints the first differing rows.
//!
//! Sorting happens here, not in SQL: ClickHouse 18.16 has no `ORDER BY ALL`, and sorting the
//! whole line is an order over every column, which is what "canonical" needs.

use std::collections::{BTreeMap, BTreeSet};

use rapport_runtime::config::ClickHouseConfig;

/// Every table the processor writes results to, in the order they are compared.
/// `processor_state` is not output: its contents (offsets, snapshot bytes) legitimately differ.
pub const OUTPUT_TABLES: &[&str] = &[
    "threads",
    "brand_daily",
    "brand_band_daily",
    "personal_touch",
    "follow_edges",
    "profile_snapshots",
    "interactions",
];

/// The sorted `FINAL` rows of each output table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub tables: BTreeMap<&'static str, Vec<String>>,
}

impl Dump {
    pub fn rows(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, Vec::len)
    }
}

/// Read every output table of `cfg.database`.
pub async fn dump_tables(
    cfg: &ClickHouseConfig,
) -> Result<Dump, rapport_clickhouse::clickhouse::error::Error> {
    let client = rapport_clickhouse::client(cfg);
    let mut tables = BTreeMap::new();
    for &table in OUTPUT_TABLES {
        let bytes = client
            .query(&format!("SELECT * FROM {table} FINAL"))
            .fetch_bytes("TabSeparated")?
            .collect()
            .await?;
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort_unstable();
        tables.insert(table, lines);
    }
    Ok(Dump { tables })
}

/// `None` when equal; otherwise a report naming each differing table with its row counts and
/// up to `show` rows found only on either side.
pub fn diff_dumps(a_name: &str, a: &Dump, b_name: &str, b: &Dump, show: usize) -> Option<String> {
    let mut report = String::new();
    for &table in OUTPUT_TABLES {
        let (ra, rb) = (&a.tables[table], &b.tables[table]);
        if ra == rb {
            continue;
        }
        let sa: BTreeSet<&String> = ra.iter().collect();
        let sb: BTreeSet<&String> = rb.iter().collect();
        report.push_str(&format!(
            "table {table}: {} rows in {a_name}, {} rows in {b_name}\n",
            ra.len(),
            rb.len()
        ));
        for (name, only) in [(a_name, sa.difference(&sb)), (b_name, sb.difference(&sa))] {
            for row in only.take(show) {
                report.push_str(&format!("  only in {name}: {row}\n"));
            }
        }
    }
    (!report.is_empty()).then_some(report)
}

/// Panic with the first differing rows when `a` and `b` differ in any output table.
pub fn assert_same_tables(a_name: &str, a: &Dump, b_name: &str, b: &Dump) {
    if let Some(report) = diff_dumps(a_name, a, b_name, b, 8) {
        panic!("output tables differ:\n{report}");
    }
}

/// Drop `cfg.database` (test cleanup).
pub async fn drop_database(cfg: &ClickHouseConfig) {
    rapport_clickhouse::server_client(cfg)
        .query(&format!("DROP DATABASE IF EXISTS {}", cfg.database))
        .execute()
        .await
        .unwrap_or_else(|e| panic!("cannot drop {}: {e}", cfg.database));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(rows: &[(&'static str, &[&str])]) -> Dump {
        let mut tables: BTreeMap<&'static str, Vec<String>> =
            OUTPUT_TABLES.iter().map(|t| (*t, Vec::new())).collect();
        for (t, r) in rows {
            tables.insert(t, r.iter().map(|s| s.to_string()).collect());
        }
        Dump { tables }
    }

    #[test]
    fn equal_dumps_pass_and_a_changed_row_is_reported_on_both_sides() {
        let a = dump(&[("threads", &["1\tacme", "2\tacme"])]);
        assert_eq!(diff_dumps("a", &a, "b", &a.clone(), 5), None);
        let b = dump(&[("threads", &["1\tacme", "2\tglobex"])]);
        let report = diff_dumps("a", &a, "b", &b, 5).expect("differs");
        assert!(report.contains("only in a: 2\tacme"), "{report}");
        assert!(report.contains("only in b: 2\tglobex"), "{report}");
        assert!(!report.contains("1\tacme"), "{report}");
    }
}
