//! The text rules of cell values: ISO dates (date part of a date or datetime), Entra objectIds (R2) and
//! catalog URLs made absolute on Learn (R7).

use crate::reporting::model::LEARN_SITE;

pub(super) fn valid_ymd(d: &[u8]) -> bool {
    if d.len() != 10 || d[4] != b'-' || d[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        std::str::from_utf8(&d[r]).ok().filter(|s| s.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
    };
    matches!((num(0..4), num(5..7), num(8..10)), (Some(y), Some(m), Some(day)) if y >= 1900 && (1..=12).contains(&m) && (1..=31).contains(&day))
}

/// The `YYYY-MM-DD` part of a date or datetime text.
pub(super) fn iso_day(v: &[u8]) -> Option<&[u8]> {
    let d = v.get(..10)?;
    if !valid_ymd(d) {
        return None;
    }
    // After the date: nothing, or a time part.
    if v.len() > 10 && !matches!(v[10], b'T' | b' ' | b't') {
        return None;
    }
    Some(d)
}

pub(super) fn iso_date(v: &[u8]) -> Option<String> {
    iso_day(v).and_then(|d| String::from_utf8(d.to_vec()).ok())
}

/// R2: trimmed, lower case, braces stripped.
pub fn normalize_object_id(s: &str) -> String {
    s.trim().trim_start_matches('{').trim_end_matches('}').trim().to_ascii_lowercase()
}

pub(super) fn absolute(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        None
    } else if url.starts_with("https://") || url.starts_with("http://") {
        Some(url.to_owned())
    } else if url.starts_with('/') {
        Some(format!("{LEARN_SITE}{url}"))
    } else {
        Some(format!("{LEARN_SITE}/{url}"))
    }
}
