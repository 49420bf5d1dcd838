//! The schedules plugins declare: five cron fields in UTC, `minute hour day-of-month month day-of-week`,
//! each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those (day-of-week 0-7,
//! 0 and 7 being Sunday; when both day fields are restricted, either matching is enough, as in cron).
//! [`Cron::next_after`] finds the next minute that matches. Pure: no clock, no I/O.

use time::{Date, Duration, Month, OffsetDateTime, Time};

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    any_day: bool,
    any_weekday: bool,
}

fn field(text: &str, name: &str, min: u32, max: u32) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("{name}: step {s:?} is not a number"))?;
                if step == 0 {
                    return Err(format!("{name}: a step of 0"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let a: u32 = a.parse().map_err(|_| format!("{name}: {a:?} is not a number"))?;
            let b: u32 = b.parse().map_err(|_| format!("{name}: {b:?} is not a number"))?;
            (a, b)
        } else {
            let v: u32 = range.parse().map_err(|_| format!("{name}: {range:?} is not a number"))?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{name}: {part:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields[..] else {
            return Err(format!(
                "{text:?} is not a schedule: five fields `minute hour day-of-month month day-of-week` (UTC) are needed"
            ));
        };
        let mut weekdays = field(dow, "day-of-week", 0, 7)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            minutes: field(m, "minute", 0, 59)?,
            hours: field(h, "hour", 0, 23)?,
            days: field(dom, "day-of-month", 1, 31)?,
            months: field(mon, "month", 1, 12)?,
            weekdays,
            any_day: dom == "*",
            any_weekday: dow == "*",
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().number_days_from_sunday()) != 0;
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// The first matching minute strictly after `after_ms` (Unix ms, UTC), or None if none within
    /// five years (e.g. `0 0 31 2 *`).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = OffsetDateTime::from_unix_timestamp(after_ms.div_euclid(1000)).ok()?;
        // The next whole minute after `after_ms`.
        let mut t = start.replace_second(0).ok()?.replace_nanosecond(0).ok()? + Duration::minutes(1);
        let limit = t + Duration::days(5 * 366);
        while t < limit {
            if self.months & (1 << u8::from(t.month())) == 0 {
                let (y, m) = if t.month() == Month::December {
                    (t.year() + 1, Month::January)
                } else {
                    (t.year(), t.month().next())
                };
                t = Date::from_calendar_date(y, m, 1).ok()?.with_time(Time::MIDNIGHT).assume_utc();
                continue;
            }
            if !self.day_matches(t.date()) {
                t = (t.date() + Duration::days(1)).with_time(Time::MIDNIGHT).assume_utc();
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.replace_minute(0).ok()? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t += Duration::minutes(1);
                continue;
            }
            return Some(t.unix_timestamp() * 1000);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Cron;
    use crate::clock::{parse_rfc3339_ms, rfc3339_of_ms};

    fn next(cron: &str, after: &str) -> String {
        rfc3339_of_ms(
            Cron::parse(cron).expect("parses").next_after(parse_rfc3339_ms(after).expect("time")).expect("some"),
        )
    }

    /// The Assigner's two jobs: data refresh at 02, 05, …, 23 and maintenance at 00, 03, …, 21 UTC.
    #[test]
    fn the_assigner_times() {
        let refresh = "0 2-23/3 * * *";
        let maintenance = "0 */3 * * *";
        assert_eq!(next(refresh, "2026-01-05T00:00:00Z"), "2026-01-05T02:00:00Z");
        assert_eq!(next(refresh, "2026-01-05T02:00:00Z"), "2026-01-05T05:00:00Z");
        assert_eq!(next(refresh, "2026-01-05T23:00:00Z"), "2026-01-06T02:00:00Z");
        assert_eq!(next(maintenance, "2026-01-05T00:00:00Z"), "2026-01-05T03:00:00Z");
        assert_eq!(next(maintenance, "2026-01-05T22:59:59Z"), "2026-01-06T00:00:00Z");
        assert_eq!(next(maintenance, "2025-12-31T21:30:00Z"), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn lists_ranges_days_and_months() {
        assert_eq!(next("30 8 * * 1-5", "2026-01-09T09:00:00Z"), "2026-01-12T08:30:00Z"); // Fri → Mon
        assert_eq!(next("0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
        assert_eq!(next("15,45 * * * *", "2026-01-01T10:20:00Z"), "2026-01-01T10:45:00Z");
        assert_eq!(next("0 12 1 * 0", "2026-01-02T00:00:00Z"), "2026-01-04T12:00:00Z"); // a Sunday first
        assert_eq!(next("0 0 * * 7", "2026-01-05T00:00:00Z"), "2026-01-11T00:00:00Z");
        assert!(Cron::parse("0 0 31 2 *").expect("parses").next_after(0).is_none());
    }

    #[test]
    fn errors_name_the_field() {
        for (text, want) in [
            ("* * * *", "five fields"),
            ("60 * * * *", "minute"),
            ("0 24 * * *", "hour"),
            ("0 0 0 * *", "day-of-month"),
            ("0 0 * 13 *", "month"),
            ("0 0 * * 8", "day-of-week"),
            ("*/0 * * * *", "step of 0"),
            ("a * * * *", "not a number"),
        ] {
            let e = Cron::parse(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
