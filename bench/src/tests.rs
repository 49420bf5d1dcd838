//! Unit tests of the driver: Entra-style filter encoding, percentiles, the deterministic ids and the
//! request bodies of the create, members and replace phases.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::cli::Phase;
use crate::phases::{Ctx, percentile};
use crate::requests::{ENTERPRISE_SCHEMA, build_request, form_encode, uuid_like};

#[test]
fn encodes_filter_like_entra() {
    let mut s = String::new();
    form_encode("userName eq \"user000123@bench.example.com\"", &mut s);
    assert_eq!(s, "userName+eq+%22user000123%40bench.example.com%22");
}

#[test]
fn percentiles_nearest_rank() {
    let v: Vec<u32> = (1..=100).collect();
    assert_eq!(percentile(&v, 50), 50);
    assert_eq!(percentile(&v, 99), 99);
    assert_eq!(percentile(&[7], 99), 7);
    assert_eq!(percentile(&[], 50), 0);
}

#[test]
fn uuid_is_deterministic_and_shaped() {
    let a = uuid_like(1, 42);
    assert_eq!(a, uuid_like(1, 42));
    assert_ne!(a, uuid_like(2, 42));
    assert_eq!(a.len(), 36);
    assert_eq!(a.as_bytes()[14], b'4');
}

#[test]
fn create_body_is_valid_json() -> Result<()> {
    let ctx = Ctx {
        phase: Phase::Create,
        users: 10,
        members_per_group: 4,
        members_per_patch: 3,
        patches_per_group: 2,
        groups: 2,
        page_size: 100,
        list_pages: 1,
        user_ids: Arc::new((0..10).map(|i| Some(format!("u{i}"))).collect()),
        // Two rounds of two groups: round r fills groups 2r and 2r+1.
        group_ids: Arc::new(vec![Some("g0".into()), Some("g1".into()), Some("g2".into()), Some("g3".into())]),
        timeout: Duration::from_secs(1),
    };
    let (mut path, mut body) = (String::new(), Vec::new());
    build_request(&ctx, 7, &mut path, &mut body);
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(v["userName"], "user000007@bench.example.com");
    assert_eq!(v[ENTERPRISE_SCHEMA]["department"], "Dept 7");

    // Members: round 1, group 1 (that round's own group g3), second patch → users (1*4 + 1*4 + 3).. = 11
    // → wraps to 1.
    let ctx = Ctx { phase: Phase::Members, ..ctx };
    let (mut path, mut body) = (String::new(), Vec::new());
    build_request(&ctx, 2 * 2 + 2 + 1, &mut path, &mut body);
    assert_eq!(path, "/Groups/g3");
    let v: Value = serde_json::from_slice(&body)?;
    let vals = &v["Operations"][0]["value"];
    assert_eq!(vals.as_array().map(Vec::len), Some(1));
    assert_eq!(vals[0]["value"], "u1");
    assert!(vals[0]["$ref"].is_null());

    let ctx = Ctx { phase: Phase::Replace, ..ctx };
    let (mut path, mut body) = (String::new(), Vec::new());
    build_request(&ctx, 3, &mut path, &mut body);
    assert_eq!(path, "/Users/u3");
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(v["Operations"][3]["value"], "True");
    Ok(())
}
