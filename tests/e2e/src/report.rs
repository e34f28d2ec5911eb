//! The one-line result of a fault test, in the format issue 8 asks for:
//! `fault=<name> sent=<n> acknowledged=<n> found=<n> duplicates=<n> lost=<n>`, then any extra
//! `key=value` figures of that fault. Printed to stdout and, when `RAPPORT_FAULT_REPORT` names
//! a file, appended to it, so `deploy/local/faults` can gather the lines into a table.

use std::io::Write as _;

/// What a fault test measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultReport {
    pub fault: String,
    /// Events (or deliveries) offered to the system under test.
    pub sent: u64,
    /// Of those, how many the system acknowledged (a 2xx, a broker ack).
    pub acknowledged: u64,
    /// Of the acknowledged, how many were found at the end (on the topic, in the tables).
    pub found: u64,
    /// Copies found beyond one per event.
    pub duplicates: u64,
    /// Acknowledged but not found: must be 0.
    pub lost: u64,
    pub extra: Vec<(String, String)>,
}

impl FaultReport {
    pub fn new(fault: &str) -> FaultReport {
        FaultReport {
            fault: fault.to_owned(),
            sent: 0,
            acknowledged: 0,
            found: 0,
            duplicates: 0,
            lost: 0,
            extra: Vec::new(),
        }
    }

    /// Add a `key=value` figure after the standard ones.
    pub fn with(mut self, key: &str, value: impl std::fmt::Display) -> FaultReport {
        self.extra.push((key.to_owned(), value.to_string()));
        self
    }

    /// Print the line and append it to `$RAPPORT_FAULT_REPORT` if set.
    pub fn print(&self) {
        println!("{self}");
        if let Ok(path) = std::env::var("RAPPORT_FAULT_REPORT") {
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| writeln!(f, "{self}"));
            if let Err(e) = appended {
                panic!("cannot append the fault report to {path}: {e}");
            }
        }
    }
}

impl std::fmt::Display for FaultReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fault={} sent={} acknowledged={} found={} duplicates={} lost={}",
            self.fault, self.sent, self.acknowledged, self.found, self.duplicates, self.lost
        )?;
        for (k, v) in &self.extra {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_has_the_standard_fields_in_order_then_the_extras() {
        let mut r = FaultReport::new("ingest_kill_9").with("kills", 3);
        (r.sent, r.acknowledged, r.found, r.duplicates) = (10, 9, 9, 2);
        assert_eq!(
            r.to_string(),
            "fault=ingest_kill_9 sent=10 acknowledged=9 found=9 duplicates=2 lost=0 kills=3"
        );
    }
}
