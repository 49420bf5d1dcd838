//! Instants as the engine holds them: whole seconds since 1970-01-01T00:00:00Z (`i64`, UTC), parsed from
//! and written as RFC 3339. No time zone database and no clock: the caller passes every "now" (the
//! snapshot's time).
//!
//! Accepted text: `YYYY-MM-DD` (midnight UTC), or `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z`,
//! `±HH:MM` or nothing (UTC); `t`/`z`/a space are accepted for `T`/`Z`. The fraction is dropped (rules
//! compare whole seconds). Years 1–9999.

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// The UTC day (days since 1970-01-01) an instant falls on.
pub fn day_of(t: i64) -> i64 {
    t.div_euclid(DAY)
}

/// Parses a date or date-time (module doc); `None` if it is not one (e.g. `2023-02-30`).
pub fn parse(text: &str) -> Option<i64> {
    let s = text.trim();
    if !s.is_ascii() || s.len() < 10 {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = i64::from(digits(&date[0..4])?);
    let m = digits(&date[5..7])?;
    let d = digits(&date[8..10])?;
    if y < 1 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let day = days_from_civil(y, m, d);
    if rest.is_empty() {
        return Some(day * DAY);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // Split the clock from the offset.
    let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let clock = clock.split('.').collect::<Vec<_>>();
    let fraction_ok = |f: &&str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit());
    if clock.len() > 2 || clock.get(1).is_some_and(|f| !fraction_ok(f)) {
        return None;
    }
    let hms: Vec<&str> = clock[0].split(':').collect();
    if !(2..=3).contains(&hms.len()) || hms.iter().any(|p| p.len() != 2) {
        return None;
    }
    let h = digits(hms[0])?;
    let mi = digits(hms[1])?;
    let se = if hms.len() == 3 { digits(hms[2])? } else { 0 };
    if h > 23 || mi > 59 || se > 59 || (clock.len() == 2 && hms.len() != 3) {
        return None;
    }
    let off = match offset {
        "" | "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let hm = &o[1..];
            if hm.len() != 5 || hm.as_bytes()[2] != b':' {
                return None;
            }
            let oh = digits(&hm[0..2])?;
            let om = digits(&hm[3..5])?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * i64::from(oh * 3600 + om * 60)
        }
    };
    Some(day * DAY + i64::from(h * 3600 + mi * 60 + se) - off)
}

/// RFC 3339 in UTC, `2023-01-01T00:00:00Z`.
pub fn format(t: i64) -> String {
    let (y, m, d) = civil_from_days(day_of(t));
    let s = t.rem_euclid(DAY);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_date_times() {
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(parse("2023-01-01T00:00:00Z"), Some(1_672_531_200));
        assert_eq!(parse(" 2023-01-01 "), Some(1_672_531_200));
        assert_eq!(parse("2023-01-01T01:00:00+01:00"), Some(1_672_531_200));
        assert_eq!(parse("2022-12-31T19:00-05:00"), Some(1_672_531_200));
        assert_eq!(parse("2023-01-01T00:00:00.999Z"), Some(1_672_531_200));
        assert_eq!(parse("2023-01-01t00:00:00z"), Some(1_672_531_200));
        assert_eq!(parse("2024-02-29"), Some(days_from_civil(2024, 2, 29) * DAY));
        for bad in [
            "",
            "2023",
            "2023-02-29",
            "2023-13-01",
            "2023-00-10",
            "2023-01-32",
            "23-01-01",
            "2023/01/01",
            "2023-01-01T24:00",
            "2023-01-01T10",
            "2023-01-01T10:60",
            "2023-01-01T10:00:00+1",
            "2023-01-01X",
            "2023-01-01T10:00.5",
            "2023-01-01T10:00:00.",
            "2023-01-01T10:00:00.x",
            "0000-01-01",
            "２０２３-01-01",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format(1_672_531_200), "2023-01-01T00:00:00Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59Z");
        for t in [0, 951_782_400, 4_102_444_799, -62_135_596_800, 253_402_300_799] {
            assert_eq!(parse(&format(t)), Some(t), "{t}");
        }
        for day in -800_000..800_000i64 {
            if day % 997 == 0 {
                let (y, m, d) = civil_from_days(day);
                assert_eq!(days_from_civil(y, m, d), day);
            }
        }
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(DAY), 1);
    }
}
