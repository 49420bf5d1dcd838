//! The snapshot: building, looking up, its stored form in chunks (round trip, escapes, order, limits,
//! refusals).

use std::collections::BTreeSet;

use super::*;
use crate::assigner::codec::{Decoder, Encoder, pack};

fn sample() -> Vec<UserRecord> {
    let mut a =
        user("b-user", &[("City", "  Las Vegas "), ("custom:Cost center", "CC\t1\\x\nend"), ("Email", "B@x.com")]);
    a.dates.insert("custom:Hire date".into(), 1_672_531_200);
    a.activity.insert(C[1].into(), Activity { completed_at: Some(NOW - 5), due: Some(NOW + 9) });
    a.activity.insert(C[0].into(), Activity { completed_at: None, due: None });
    let mut b = user("a-user", &[("City", "Denver"), ("Title", "Ada")]);
    b.active = false;
    b.activity.insert(C[0].into(), Activity { completed_at: None, due: Some(NOW - 1) });
    let c = user("c-user", &[("City", "las vegas"), ("Department", "")]);
    vec![a, b, c]
}

#[test]
fn build_sorts_users_and_answers_lookups() {
    let users = sample();
    let s = snap(&users);
    assert_eq!(s.len(), 3);
    assert_eq!((0..3).map(|u| s.id(u)).collect::<Vec<_>>(), ["a-user", "b-user", "c-user"]);
    assert_eq!(s.index_of("b-user"), Some(1));
    assert_eq!(s.index_of("d-user"), None);
    assert!(!s.active(0) && s.active(1));
    assert_eq!(s.column_of("City"), Some(0));
    assert_eq!(s.column_of("custom:COST CENTER"), Some(8));
    assert_eq!(s.column_of("custom:Hire date"), None);
    assert_eq!(s.date_of("custom: hire date"), Some(0));
    assert_eq!(s.column(0).dict.len(), 4, "\"\", Denver, Las Vegas, las vegas");
    let r = s.record(1);
    assert_eq!(r.fields["City"], "Las Vegas", "values are stored trimmed");
    assert_eq!(r.fields["custom:Cost center"], "CC\t1\\x\nend");
    assert_eq!(r.dates["custom:Hire date"], 1_672_531_200);
    assert_eq!(r.activity.len(), 2);
    assert_eq!(r.activity[C[1]], Activity { completed_at: Some(NOW - 5), due: Some(NOW + 9) });
    assert!(!s.record(2).fields.contains_key("Department"), "an empty value is a missing one");
    let tf = s.tenant_fields();
    assert_eq!(tf.fields, fields());
    assert_eq!(tf.courses.unwrap().len(), 3);
    assert!(s.heap_bytes() > 0);
}

#[test]
fn the_stored_form_round_trips_in_chunks() {
    let s = snap(&sample());
    for max in [200, 1_000, MAX_CHUNK] {
        let chunks = s.encode(max).unwrap();
        assert!(chunks.iter().all(|c| c.len() <= max && c.ends_with('\n')), "{max}");
        let back = Snapshot::decode(chunks.iter().map(String::as_str)).unwrap();
        assert_eq!(back.taken_at(), NOW);
        assert_eq!(back.fields(), s.fields());
        assert_eq!(back.courses(), s.courses());
        for u in 0..s.len() {
            assert_eq!(back.record(u), s.record(u));
        }
        assert_eq!(back.encode(max).unwrap(), chunks, "encoding is deterministic");
    }
    let text = s.encode(MAX_CHUNK).unwrap().concat();
    assert!(
        text.starts_with("v1\t2024-05-01T02:00:00Z\nf\tstring\tCost center\nf\tdate\tHire date\nc\tc1000000"),
        "{text}"
    );
    assert!(
        text.contains(
            "u\tb-user\t1\tLas Vegas\t\t\t\t\t\tB@x.com\t\tCC\\t1\\\\x\\nend\t1672531200\t0::,1:1714528795:1714528809\n"
        ),
        "{text}"
    );
}

#[test]
fn the_decoder_takes_users_in_any_order_and_refuses_bad_input() {
    let enc = Encoder::new(NOW, &fields(), &C.iter().map(|c| c.to_string()).collect::<Vec<_>>()).unwrap();
    let mut lines = enc.header_lines();
    for u in sample().iter().rev() {
        let mut l = String::new();
        enc.user_line(u, &mut l).unwrap();
        lines.push(l);
    }
    let chunks = pack(lines.clone(), 150).unwrap();
    let mut dec = Decoder::default();
    for c in &chunks {
        dec.chunk(c).unwrap();
    }
    let s = dec.finish().unwrap();
    assert_eq!(s.id(0), "a-user");
    assert_eq!(s.enrollments(0).iter().map(|e| e.user).collect::<Vec<_>>(), [0, 1], "course lists re-sorted");
    assert_eq!(s.record(1), snap(&sample()).record(1));

    let decode = |ls: &[String]| Snapshot::decode(pack(ls.to_vec(), MAX_CHUNK).unwrap().iter().map(String::as_str));
    let mut dup = lines.clone();
    dup.push(lines.last().unwrap().clone());
    assert!(decode(&dup).unwrap_err().contains("user b-user twice"));
    let mut late = lines.clone();
    late.push(format!("c\t{}", "c1000000-0000-4000-8000-0000000000aa"));
    assert!(decode(&late).unwrap_err().contains("fields and courses come before users"));
    let mut short = lines.clone();
    short.push("u\tx\t1\tonly".into());
    assert!(decode(&short).unwrap_err().contains("snapshot line 10: u: 3 fields, expected 13"));
    let mut bad = lines[..5].to_vec();
    bad.push(format!("u\tx\t1{}\t9:1:2", "\t".repeat(10)));
    assert!(decode(&bad).unwrap_err().contains("u: course \"9\""));
    assert!(decode(&["v2\tx".into()]).unwrap_err().contains("not v1"));
    assert!(Snapshot::decode([]).unwrap_err().contains("empty snapshot"));
    let empty = decode(&lines[..1]).unwrap();
    assert!(empty.is_empty());
    assert_eq!(Engine::new(&empty).matching(&Engine::new(&empty).compile(&profile("")).unwrap()).len(), 0);

    let too_long = pack(vec!["x".repeat(100)], 100).unwrap_err();
    assert!(too_long.contains("does not fit"), "{too_long}");
    let mut odd = user("u", &[("Planet", "Mars")]);
    assert!(enc.user_line(&odd, &mut String::new()).unwrap_err().contains("\"Planet\" is not a property source"));
    odd.fields.clear();
    odd.activity.insert("c1000000-0000-4000-8000-0000000000aa".into(), Activity::default());
    assert!(enc.user_line(&odd, &mut String::new()).unwrap_err().contains("not a course of this snapshot"));
    assert!(Encoder::new(0, &[Field::new("A", FieldType::String), Field::new("a", FieldType::Date)], &[]).is_err());
    assert!(Encoder::new(0, &[], &["C1000000-0000-4000-8000-000000000001".into()]).is_err());
}

#[test]
fn columns_of_distinct_values_stop_interning_and_still_evaluate() {
    // 10,000 users: e-mails all distinct (the decoder stops interning them), cities repeating.
    let users: Vec<UserRecord> = (0..10_000)
        .map(|i| {
            user(
                &format!("u{i:05}"),
                &[("Email", &format!("User{i}@Contoso.com")), ("City", ["Oslo", "Bergen"][i % 2])],
            )
        })
        .collect();
    let s = snap(&users);
    assert_eq!(s.column(0).dict.len(), 3, "cities interned");
    assert_eq!(s.column(6).dict.len(), 10_001, "one entry per e-mail");
    let p = profile(
        r#""properties":{"op":"AND","children":[{"source":"Email","condition":"startsWith","value":"user99"},{"source":"City","value":"BERGEN"}]}"#,
    );
    let want: BTreeSet<String> =
        (0..10_000).filter(|i| i % 2 == 1 && format!("{i}").starts_with("99")).map(|i| format!("u{i:05}")).collect();
    assert_eq!(members_of(&s, &p), want);
    let back = Snapshot::decode(s.encode(MAX_CHUNK).unwrap().iter().map(String::as_str)).unwrap();
    assert_eq!(back.record(4_321), s.record(4_321));
    assert_eq!(members_of(&back, &p), want);
}

#[test]
fn enrollments_by_login_key_join_their_users() {
    let users = sample();
    let courses: Vec<String> = C.iter().map(|c| c.to_string()).collect();
    let enc = Encoder::new(NOW, &fields(), &courses).unwrap();
    let key = |u: &UserRecord| crate::assigner::codec::login_key(&format!("i:0#.f|membership|{}@x.com", u.id));
    assert_eq!(key(&users[0]), crate::assigner::codec::login_key("I:0#.F|MEMBERSHIP|B-USER@X.COM "));
    // The users without their inline enrollments, keyed; the enrollments as `e` lines, some of them
    // for a login no user has, one repeated without its completion.
    let mut lines = enc.header_lines();
    let mut loose = Vec::new();
    for u in users.iter().rev() {
        let bare = UserRecord { activity: Default::default(), ..u.clone() };
        let mut line = String::new();
        enc.user_line_keyed(&bare, key(u), &mut line).unwrap();
        lines.push(line);
        for (c, a) in &u.activity {
            loose.push(enc.enrollment_line(key(u), c, *a).unwrap());
            if a.completed_at.is_some() {
                loose.insert(0, enc.enrollment_line(key(u), c, Activity { completed_at: None, ..*a }).unwrap());
            }
        }
    }
    loose.push(enc.enrollment_line(42, C[0], Activity::default()).unwrap());
    assert_eq!(enc.enrollment_line(key(&users[0]), "not-a-course", Activity::default()), None);
    let chunks = pack(lines.into_iter().chain(loose), 300).unwrap();
    let back = Snapshot::decode(chunks.iter().map(String::as_str)).unwrap();
    let s = snap(&users);
    assert_eq!(back.len(), 3);
    for u in 0..s.len() {
        assert_eq!(back.record(u), s.record(u), "user {u}");
    }
    let mut dec = Decoder::default();
    dec.chunk(&enc.header_lines().join("\n")).unwrap();
    assert!(dec.line("e\tzz\t0\t\t").unwrap_err().contains("login key"));
    assert!(dec.line("e\t01\t9\t\t").unwrap_err().contains("course"));
    assert!(dec.line("e\t01\t0\t").unwrap_err().contains("e: key"));
}
