//! Dates of the sample data: instants are Unix seconds (UTC), written as Learn writes them
//! (`YYYY-MM-DDTHH:MM:SSZ` timestamps, `YYYYMMDD` integer dates). Calendar conversions are `time`'s; only
//! the certificates' month arithmetic, with its own clamping rule, is written out here.

use time::macros::date;
use time::{Date, OffsetDateTime};

pub(super) const DAY: i64 = 86_400;

/// Unix seconds of a UTC date at midnight.
pub(super) fn at(day: Date) -> i64 {
    day.midnight().assume_utc().unix_timestamp()
}

/// The UTC date and time of `secs`. Every instant the generator makes lies between 2016 and 2026, well
/// inside `time`'s range; the epoch stands in for one outside it.
fn utc(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn timestamp(secs: i64) -> [u8; 20] {
    let t = utc(secs);
    let mut out = *b"0000-00-00T00:00:00Z";
    let put = |out: &mut [u8; 20], at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut out, 0, 4, i64::from(t.year()));
    put(&mut out, 5, 2, i64::from(u8::from(t.month())));
    put(&mut out, 8, 2, i64::from(t.day()));
    put(&mut out, 11, 2, i64::from(t.hour()));
    put(&mut out, 14, 2, i64::from(t.minute()));
    put(&mut out, 17, 2, i64::from(t.second()));
    out
}

/// `YYYYMMDD` as an integer.
pub(super) fn ymd(secs: i64) -> u32 {
    let d = utc(secs).date();
    d.year() as u32 * 10_000 + u32::from(u8::from(d.month())) * 100 + u32::from(d.day())
}

/// A `YYYYMMDD` moved by whole months (the day clamped to 28 where it would not exist).
pub(super) fn add_months(date: u32, months: i32) -> u32 {
    let (y, m, d) = ((date / 10_000) as i32, (date / 100 % 100) as i32, date % 100);
    let total = y * 12 + (m - 1) + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let d = if m == 2 && d > 28 {
        28
    } else if d == 31 && matches!(m, 4 | 6 | 9 | 11) {
        30
    } else {
        d
    };
    y as u32 * 10_000 + m as u32 * 100 + d
}

/// The data is "as of" this instant: nothing is dated later.
pub(super) fn end_of_data() -> i64 {
    at(date!(2026 - 03 - 31)) + 18 * 3600
}
