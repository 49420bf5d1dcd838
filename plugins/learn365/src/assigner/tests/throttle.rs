//! Throttling (A5, Q16): strictly greater, exact percentages, no percentage on an empty group, both
//! limits, and AT-27 / AT-28 through the maintenance plan.

use super::*;

fn limit(n: Option<u32>, p: Option<u32>) -> Option<Throttle> {
    Some(Throttle { max_changes: n, max_changes_percent: p })
}

#[test]
fn q16_edges() {
    assert_eq!(throttle_reason(None, 10, 1_000), None, "no throttle");
    let n2 = limit(Some(2), None);
    assert_eq!(throttle_reason(n2.as_ref(), 3, 2), None, "2 is not greater than 2");
    assert!(throttle_reason(n2.as_ref(), 3, 3).unwrap().contains("3 member changes exceed the limit of 2"));
    assert!(throttle_reason(n2.as_ref(), 0, 3).is_some(), "a count limit applies to a new group too");

    let p20 = limit(None, Some(20));
    assert_eq!(throttle_reason(p20.as_ref(), 10, 2), None, "20 % of 10 is not exceeded by 2");
    assert!(throttle_reason(p20.as_ref(), 10, 3).unwrap().contains("exceed 20 % of the 10 current members"));
    assert_eq!(throttle_reason(p20.as_ref(), 0, 1_000_000), None, "no percentage of an empty group");
    // Exact: 1 of 3 is 33.33… %: more than 33 %, not more than 34 %.
    assert!(throttle_reason(limit(None, Some(33)).as_ref(), 3, 1).is_some());
    assert_eq!(throttle_reason(limit(None, Some(34)).as_ref(), 3, 1), None);
    // 7 % of 100 = 7 exactly: 7 changes pass, 8 do not (a float 0.07 × 100 would be 7.000000000000001).
    assert_eq!(throttle_reason(limit(None, Some(7)).as_ref(), 100, 7), None);
    assert!(throttle_reason(limit(None, Some(7)).as_ref(), 100, 8).is_some());
    // 100 %: more changes than members.
    assert_eq!(throttle_reason(limit(None, Some(100)).as_ref(), 5, 5), None);
    assert!(throttle_reason(limit(None, Some(100)).as_ref(), 5, 6).is_some());
    // Large groups do not overflow.
    assert_eq!(throttle_reason(limit(None, Some(1)).as_ref(), usize::MAX / 200, usize::MAX / 20_000), None);

    // Both: either one throttles.
    let both = limit(Some(10), Some(50));
    assert!(throttle_reason(both.as_ref(), 4, 3).unwrap().contains("50 %"), "3 of 4 > 50 %");
    assert!(throttle_reason(both.as_ref(), 100, 11).unwrap().contains("limit of 10"), "11 > 10");
    assert_eq!(throttle_reason(both.as_ref(), 100, 10), None);
    assert!(throttle_reason(both.as_ref(), 0, 11).is_some(), "the count still applies at 0 members");
    assert_eq!(throttle_reason(both.as_ref(), 0, 10), None);

    let d = Diff { added: vec!["a".into()], removed: vec!["b".into(), "c".into()] };
    assert_eq!(
        decide(n2.as_ref(), 3, d.clone()),
        Decision::Throttled { reason: "3 member changes exceed the limit of 2".into(), added: 1, removed: 2 }
    );
    assert_eq!(decide(limit(Some(3), None).as_ref(), 3, d.clone()), Decision::Apply(d));
}

/// Plans one profile that includes exactly `computed` over users m1…m10, the group holding `current`.
fn plan_one(throttle: Option<Throttle>, computed: &[&str], current: &[&str]) -> (Outcome, Snapshot) {
    let users: Vec<UserRecord> = (1..=20).map(|i| user(&format!("m{i}"), &[])).collect();
    let s = snap(&users);
    let mut p = profile("");
    p.include = computed.iter().map(|s| s.to_string()).collect();
    p.throttle = throttle;
    let res = resolve(std::slice::from_ref(&p), &s, None);
    let mut engine = Engine::new(&s);
    let now: Vec<String> = current.iter().map(|s| s.to_string()).collect();
    let mut plans = plan(&res, &mut engine, &settings(), &mut |_| now.clone());
    (plans.remove(0).outcome, s)
}

#[test]
fn at27_throttle_by_count() {
    let t = limit(Some(2), None);
    let current = ["m1", "m2", "m3"];
    // (a) removed m2, m3; added m4, m5, m6: 5 changes > 2.
    let (outcome, s) = plan_one(t, &["m1", "m4", "m5", "m6"], &current);
    let Outcome::Throttled { members, reason, email } = outcome else { panic!("(a) is throttled") };
    let listed: Vec<&str> = members.ones_iter().map(|u| s.id(u)).collect();
    assert_eq!(listed, ["m1", "m4", "m5", "m6"], "the member-list file holds the computed list");
    assert!(reason.contains("5 member changes exceed the limit of 2"), "{reason}");
    assert!(email.contains("\"AS-P\"") && email.contains("3 to add, 2 to remove, 3 members now"), "{email}");
    // (b) removed m3; added m4, m5: 3 changes > 2.
    assert!(matches!(plan_one(t, &["m1", "m2", "m4", "m5"], &current).0, Outcome::Throttled { .. }));
    // (c) 2 changes: applied.
    let Outcome::Apply { members, diff } = plan_one(t, &["m1", "m2", "m3", "m4", "m5"], &current).0 else {
        panic!("(c) is applied")
    };
    assert_eq!(diff, Diff { added: vec!["m4".into(), "m5".into()], removed: vec![] });
    assert_eq!(members.count(), 5);
}

#[test]
fn at28_throttle_by_percentage() {
    let t = limit(None, Some(20));
    let ten: Vec<String> = (1..=10).map(|i| format!("m{i}")).collect();
    let current: Vec<&str> = ten.iter().map(String::as_str).collect();
    // 3 users differ (30 %): two removed, one added.
    let mut three: Vec<&str> = current[2..].to_vec();
    three.push("m11");
    assert!(matches!(plan_one(t, &three, &current).0, Outcome::Throttled { .. }));
    // 2 users differ (20 %): applied.
    let mut two: Vec<&str> = current[1..].to_vec();
    two.push("m11");
    let Outcome::Apply { diff, .. } = plan_one(t, &two, &current).0 else { panic!("20 % is applied") };
    assert_eq!(diff.changes(), 2);
    // A new profile (no members yet) populates fully.
    let Outcome::Apply { diff, .. } = plan_one(t, &current, &[]).0 else { panic!("a new group is not throttled") };
    assert_eq!(diff.added.len(), 10);
}
