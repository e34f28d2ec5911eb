//! Health as "the work is progressing": each component registers, reports ready or not, and
//! (if it runs a loop) sends heartbeats; a component whose heartbeat is older than its deadline
//! counts as stalled. Liveness fails only on stalls; readiness also needs at least one
//! component, every component ready and no shutdown in progress. The admin port is served
//! before the service registers its components, so an empty registry means "still starting",
//! not "nothing to wait for".

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Component {
    ready: bool,
    detail: String,
    heartbeat_deadline: Option<Duration>,
    last_beat: Instant,
}

/// The registry of components and their state; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Mutex<HealthInner>>,
}

#[derive(Debug, Default)]
struct HealthInner {
    components: BTreeMap<String, Component>,
    shutting_down: bool,
}

/// One component's handle for reporting its own state.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    health: Health,
    name: String,
}

/// A snapshot for the health endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub live: bool,
    pub ready: bool,
    /// `name: ok|not ready (detail)|stalled` per component, in name order.
    pub lines: Vec<String>,
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    /// Register a component, initially not ready. With a heartbeat deadline, the component
    /// must call [`HealthHandle::beat`] at least that often or liveness fails.
    pub fn register(&self, name: &str, heartbeat_deadline: Option<Duration>) -> HealthHandle {
        let mut inner = self.lock();
        inner.components.insert(
            name.to_owned(),
            Component {
                ready: false,
                detail: "starting".into(),
                heartbeat_deadline,
                last_beat: Instant::now(),
            },
        );
        HealthHandle {
            health: self.clone(),
            name: name.to_owned(),
        }
    }

    /// From now on readiness is false: load balancers stop sending work while we drain.
    pub fn begin_shutdown(&self) {
        self.lock().shutting_down = true;
    }

    pub fn report(&self) -> Report {
        let inner = self.lock();
        let now = Instant::now();
        let mut live = true;
        let mut ready = !inner.shutting_down;
        let mut lines = Vec::with_capacity(inner.components.len() + 1);
        if inner.shutting_down {
            lines.push("shutdown: in progress".to_owned());
        }
        if inner.components.is_empty() {
            ready = false;
            lines.push("startup: in progress".to_owned());
        }
        for (name, c) in &inner.components {
            let stalled = c
                .heartbeat_deadline
                .is_some_and(|d| now.duration_since(c.last_beat) > d);
            if stalled {
                live = false;
                ready = false;
                lines.push(format!(
                    "{name}: stalled (no heartbeat for {:?})",
                    now.duration_since(c.last_beat)
                ));
            } else if c.ready {
                lines.push(format!("{name}: ok"));
            } else {
                ready = false;
                lines.push(format!("{name}: not ready ({})", c.detail));
            }
        }
        Report { live, ready, lines }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthInner> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts),
        // so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl HealthHandle {
    pub fn set_ready(&self) {
        self.update(|c| {
            c.ready = true;
            c.detail.clear();
        });
    }

    pub fn set_not_ready(&self, detail: impl Into<String>) {
        let detail = detail.into();
        self.update(|c| {
            c.ready = false;
            c.detail = detail;
        });
    }

    /// The work loop is alive and progressing.
    pub fn beat(&self) {
        self.update(|c| c.last_beat = Instant::now());
    }

    fn update(&self, f: impl FnOnce(&mut Component)) {
        if let Some(c) = self.health.lock().components.get_mut(&self.name) {
            f(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_every_component_and_no_shutdown() {
        let h = Health::new();
        let nothing_yet = h.report();
        assert!(!nothing_yet.ready && nothing_yet.live);
        assert_eq!(nothing_yet.lines, ["startup: in progress"]);
        let a = h.register("kafka", None);
        let b = h.register("clickhouse", None);
        assert!(!h.report().ready);
        a.set_ready();
        assert!(!h.report().ready);
        b.set_ready();
        assert!(h.report().ready && h.report().live);
        b.set_not_ready("connection refused");
        assert!(h
            .report()
            .lines
            .iter()
            .any(|l| l == "clickhouse: not ready (connection refused)"));
        b.set_ready();
        h.begin_shutdown();
        assert!(!h.report().ready && h.report().live);
    }

    #[test]
    fn a_missed_heartbeat_fails_liveness() {
        let h = Health::new();
        let w = h.register("worker", Some(Duration::from_millis(1)));
        w.set_ready();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!h.report().live);
        w.beat();
        assert!(h.report().live);
    }
}
