//! Business-time arithmetic for one brand: its IANA timezone (DST through chrono-tz), weekly
//! opening hours and holidays. Owns `business_response_seconds` (overlap of an interval with
//! opening hours) and SLA deadlines (an instant plus N business seconds). It knows nothing
//! about threads; callers pass epoch milliseconds in and get milliseconds out.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::{BrandSettings, DAY_MS};
use crate::ConfigError;

const DAY_SECS: u32 = 86_400;
/// Deadlines are searched at most this far ahead; a brand that is closed for longer than
/// that has no deadline (its SLA can never be breached).
const MAX_SEARCH_DAYS: i64 = 400;

/// Opening hours resolved for fast arithmetic.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    tz: Tz,
    /// Per weekday (Monday = 0), sorted non-overlapping `[start, end)` in local seconds.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
    /// Open around the clock with no holidays: business time equals calendar time.
    always_open: bool,
    /// At least one opening interval exists somewhere in the week.
    ever_open: bool,
    pub sla_target_seconds: u32,
}

impl BusinessCalendar {
    pub fn from_settings(s: &BrandSettings) -> Result<Self, ConfigError> {
        let tz: Tz = s
            .timezone
            .parse()
            .map_err(|_| ConfigError::UnknownTimezone {
                brand: s.brand_id.clone(),
                timezone: s.timezone.clone(),
            })?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        match &s.business_hours {
            None => {
                for d in week.iter_mut() {
                    d.push((0, DAY_SECS));
                }
            }
            Some(hours) => {
                for (i, (day, spec)) in hours.days().into_iter().enumerate() {
                    if let Some(spec) = spec {
                        week[i] = parse_day(spec).ok_or_else(|| ConfigError::BadHours {
                            brand: s.brand_id.clone(),
                            day,
                            spec: spec.to_owned(),
                        })?;
                    }
                }
            }
        }
        let mut holidays = BTreeSet::new();
        for h in &s.holidays {
            let d =
                NaiveDate::parse_from_str(h, "%Y-%m-%d").map_err(|_| ConfigError::BadHoliday {
                    brand: s.brand_id.clone(),
                    date: h.clone(),
                })?;
            holidays.insert(d);
        }
        let always_open = holidays.is_empty() && week.iter().all(|d| d == &[(0, DAY_SECS)]);
        let ever_open = week.iter().any(|d| !d.is_empty());
        Ok(BusinessCalendar {
            tz,
            week,
            holidays,
            always_open,
            ever_open,
            sla_target_seconds: s.sla_target_seconds,
        })
    }

    fn local_date(&self, ms: i64) -> NaiveDate {
        match Utc.timestamp_millis_opt(ms) {
            LocalResult::Single(t) => t.with_timezone(&self.tz).date_naive(),
            // Out of chrono's range: clamp; such timestamps only come from broken input.
            _ if ms < 0 => NaiveDate::MIN,
            _ => NaiveDate::MAX,
        }
    }

    /// The UTC instant (ms) of local wall time `secs` on `date`. A wall time skipped by a DST
    /// jump maps to the first valid instant after it; a repeated one to its first occurrence.
    fn instant(&self, date: NaiveDate, secs: u32) -> Option<i64> {
        if secs >= DAY_SECS {
            return self.instant(date.succ_opt()?, secs - DAY_SECS);
        }
        let mut naive = date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?);
        // DST gaps are at most a few hours; step minute by minute to the end of the gap.
        for _ in 0..=240 {
            match self.tz.from_local_datetime(&naive) {
                LocalResult::Single(t) => return Some(t.timestamp_millis()),
                LocalResult::Ambiguous(a, _) => return Some(a.timestamp_millis()),
                LocalResult::None => naive += Duration::minutes(1),
            }
        }
        None
    }

    /// Business intervals (UTC ms) of one local date; empty on holidays.
    fn intervals(&self, date: NaiveDate) -> impl Iterator<Item = (i64, i64)> + '_ {
        let closed = self.holidays.contains(&date);
        let day = &self.week[date.weekday().num_days_from_monday() as usize];
        day.iter()
            .filter(move |_| !closed)
            .filter_map(move |&(a, b)| {
                let a = self.instant(date, a)?;
                let b = self.instant(date, b)?;
                (b > a).then_some((a, b))
            })
    }

    /// Milliseconds of `[start, end]` that fall in business hours.
    pub fn business_ms(&self, start: i64, end: i64) -> i64 {
        if end <= start {
            return 0;
        }
        if self.always_open {
            return end - start;
        }
        let (first, last) = (self.local_date(start), self.local_date(end));
        let mut total = 0i64;
        // Start a day early: a local day's hours can begin before its UTC date does.
        let mut d = first.pred_opt().unwrap_or(first);
        while d <= last {
            for (a, b) in self.intervals(d) {
                let lo = a.max(start);
                let hi = b.min(end);
                if hi > lo {
                    total += hi - lo;
                }
            }
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        total
    }

    /// `business_response_seconds`, whole seconds rounded down.
    pub fn business_seconds(&self, start: i64, end: i64) -> u32 {
        u32::try_from(self.business_ms(start, end) / 1000).unwrap_or(u32::MAX)
    }

    /// The instant at which `amount_ms` of business time has elapsed since `start`; `None` if
    /// the brand is not open for that long within the next ~400 days.
    pub fn add_business(&self, start: i64, amount_ms: i64) -> Option<i64> {
        if self.always_open {
            return start.checked_add(amount_ms);
        }
        if !self.ever_open {
            return None;
        }
        let mut remaining = amount_ms;
        let first = self.local_date(start);
        let mut d = first.pred_opt().unwrap_or(first);
        for _ in 0..MAX_SEARCH_DAYS {
            for (a, b) in self.intervals(d) {
                if b <= start {
                    continue;
                }
                let from = a.max(start);
                let avail = b - from;
                if remaining <= avail {
                    return Some(from + remaining);
                }
                remaining -= avail;
            }
            d = d.succ_opt()?;
        }
        None
    }

    /// SLA deadline of a thread opened at `opened`, capped at `cap` (ms) so that every
    /// deadline fires within the engine's retention.
    pub fn sla_deadline(&self, opened: i64, cap: i64) -> i64 {
        let target = i64::from(self.sla_target_seconds) * 1000;
        self.add_business(opened, target)
            .map_or(opened + cap, |d| d.min(opened + cap))
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 3600 + m * 60)
}

fn parse_day(spec: &str) -> Option<Vec<(u32, u32)>> {
    let spec = spec.trim();
    if spec.is_empty() || spec.eq_ignore_ascii_case("closed") {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        let (a, b) = part.split_once('-')?;
        let (a, b) = (parse_hhmm(a)?, parse_hhmm(b)?);
        if a >= b {
            return None;
        }
        out.push((a, b));
    }
    out.sort_unstable();
    if out.windows(2).any(|w| w[0].1 > w[1].0) {
        return None;
    }
    Some(out)
}

/// UTC day number (days since 1970-01-01) of an epoch-millisecond instant.
#[inline]
pub fn utc_day(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WeeklyHours;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    fn cal(tz: &str, hours: Option<WeeklyHours>, holidays: &[&str]) -> BusinessCalendar {
        BusinessCalendar::from_settings(&BrandSettings {
            brand_id: "b".into(),
            timezone: tz.into(),
            business_hours: hours,
            holidays: holidays.iter().map(|s| s.to_string()).collect(),
            sla_target_seconds: 3600,
        })
        .unwrap()
    }

    #[test]
    fn worked_example_mon_16_to_tue_0930_is_5400_seconds() {
        let c = cal("UTC", Some(WeeklyHours::weekdays("09:00-17:00")), &[]);
        // Mon 16:00-17:00 = 3,600 s, Tue 09:00-09:30 = 1,800 s.
        let s = c.business_seconds(ms("2026-03-02T16:00:00Z"), ms("2026-03-03T09:30:00Z"));
        assert_eq!(s, 5_400);
    }

    #[test]
    fn opened_after_hours_starts_at_next_opening_and_answered_before_is_zero() {
        let c = cal("UTC", Some(WeeklyHours::weekdays("09:00-17:00")), &[]);
        assert_eq!(
            c.business_seconds(ms("2026-03-02T18:00:00Z"), ms("2026-03-03T08:00:00Z")),
            0
        );
        assert_eq!(
            c.sla_deadline(ms("2026-03-02T18:00:00Z"), 30 * DAY_MS),
            ms("2026-03-03T10:00:00Z")
        );
        // Friday 16:30 + 1 h business = Monday 09:30.
        assert_eq!(
            c.add_business(ms("2026-03-06T16:30:00Z"), 3_600_000),
            Some(ms("2026-03-09T09:30:00Z"))
        );
    }

    #[test]
    fn holidays_and_split_days() {
        let mut h = WeeklyHours::weekdays("09:00-12:00,13:00-17:00");
        h.sat = Some("closed".into());
        let c = cal("UTC", Some(h), &["2026-03-03"]);
        // Mon 11:00 -> Wed 10:00: Mon 11-12 + 13-17 (5 h), Tue holiday, Wed 09-10 (1 h).
        assert_eq!(
            c.business_seconds(ms("2026-03-02T11:00:00Z"), ms("2026-03-04T10:00:00Z")),
            6 * 3600
        );
    }

    #[test]
    fn dst_spring_forward_inside_business_hours() {
        let h = WeeklyHours {
            sun: Some("00:00-12:00".into()),
            ..WeeklyHours::default()
        };
        let c = cal("America/New_York", Some(h), &[]);
        // 2026-03-08 02:00 EST -> 03:00 EDT. 01:00 EST = 06:00Z, 04:00 EDT = 08:00Z: 2 h.
        assert_eq!(
            c.business_seconds(ms("2026-03-08T06:00:00Z"), ms("2026-03-08T08:00:00Z")),
            7_200
        );
        // The whole Sunday 00:00-12:00 local is only 11 real hours that day.
        assert_eq!(
            c.business_seconds(ms("2026-03-08T00:00:00Z"), ms("2026-03-09T00:00:00Z")),
            11 * 3600
        );
    }

    #[test]
    fn dst_fall_back_adds_an_hour() {
        let h = WeeklyHours {
            sun: Some("00:00-12:00".into()),
            ..WeeklyHours::default()
        };
        let c = cal("Europe/Berlin", Some(h), &[]);
        // 2026-10-25 03:00 CEST -> 02:00 CET: 00:00-12:00 local lasts 13 h.
        assert_eq!(
            c.business_seconds(ms("2026-10-24T12:00:00Z"), ms("2026-10-26T00:00:00Z")),
            13 * 3600
        );
    }

    #[test]
    fn rejects_bad_config() {
        let bad = |hours: &str| {
            BusinessCalendar::from_settings(&BrandSettings {
                business_hours: Some(WeeklyHours::weekdays(hours)),
                ..BrandSettings::with_defaults("b")
            })
            .is_err()
        };
        assert!(bad("17:00-09:00"));
        assert!(bad("9-17"));
        assert!(bad("09:00-12:00,11:00-13:00"));
        assert!(bad("09:00-24:30"));
        assert!(!bad("00:00-24:00"));
        let tz = BusinessCalendar::from_settings(&BrandSettings {
            timezone: "Mars/Olympus".into(),
            ..BrandSettings::with_defaults("b")
        });
        assert!(matches!(tz, Err(ConfigError::UnknownTimezone { .. })));
    }

    #[test]
    fn closed_week_has_no_deadline() {
        let c = cal("UTC", Some(WeeklyHours::default()), &[]);
        assert_eq!(c.add_business(0, 1000), None);
        assert_eq!(c.sla_deadline(0, 5000), 5000);
    }
}
