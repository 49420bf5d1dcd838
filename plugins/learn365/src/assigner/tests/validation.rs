//! Parsing and validation errors name the field (`properties.children[1].value: …`); settings defaults
//! and checks.

use super::*;

fn message(e: PluginError) -> String {
    match e {
        PluginError::InvalidInput(m) => m,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

/// The error of a profile with these extra fields (parse or validation against [`tenant`]).
fn refusal(extra: &str) -> String {
    let json = format!(r#"{{"id":"p1","title":"P","enroll":false,"autoPopulate":true,{extra}}}"#);
    match Profile::parse(&json) {
        Err(e) => message(e),
        Ok(p) => message(validate(&p, &tenant()).expect_err(&json)),
    }
}

fn expect(extra: &str, want: &str) {
    let m = refusal(extra);
    assert!(m.contains(want), "{extra}\n  gives: {m}\n  wants: {want}");
}

#[test]
fn parse_errors_name_the_field() {
    expect(r#""colour":"red""#, "unknown field `colour`");
    expect(
        r#""properties":{"op":"AND","children":[{"source":"City","value":"x"},{"source":"City","condition":"is"}]}"#,
        "properties.children[1].condition: unknown variant `is`",
    );
    expect(
        r#""properties":{"op":"AND","children":[{"source":"City","value":"x","colour":1}]}"#,
        "properties.children[0]",
    );
    expect(r#""properties":{"op":"XOR","children":[]}"#, "properties.op: unknown variant `XOR`");
    expect(
        r#""properties":{"op":"AND","children":[{"source":"City","children":[]}]}"#,
        "properties.children[0]: a node is either a group (op, children) or a rule",
    );
    expect(r#""properties":{"children":[]}"#, "properties: a group needs op");
    expect(r#""properties":{"op":"OR","source":"City"}"#, "properties: a rule (with source) has no op");
    expect(r#""properties":{"op":"OR","children":[],"value":"x"}"#, "a group (with children) has no value");
    expect(r#""properties":{"not":true}"#, "properties: a node needs children (a group) or a source (a rule)");
    expect(r#""throttle":{"maxChanges":-1}"#, "throttle.maxChanges");
    expect(r#""throttle":{"max":1}"#, "unknown field `max`");
    expect(r#""state":"gone""#, "state: unknown variant `gone`");
    let m = message(Profile::parse(r#"{"id":"p1","title":"P","enroll":false}"#).unwrap_err());
    assert!(m.contains("missing field `autoPopulate`"), "{m}");
    assert!(message(Profile::parse("").unwrap_err()).contains("invalid profile: empty document"));
    assert!(message(Profile::parse("[]").unwrap_err()).starts_with("invalid profile: "));
}

#[test]
fn validation_errors_name_the_field() {
    let r = |s: &str| format!(r#""properties":{{"op":"AND","children":[{{"source":"City","value":"x"}},{s}]}}"#);
    expect(&r(r#"{"source":"Planet","value":"Mars"}"#), "properties.children[1].source: unknown source \"Planet\"");
    expect(&r(r#"{"source":"city","value":"x"}"#), "properties.children[1].source: unknown source \"city\"");
    expect(
        &r(r#"{"source":"custom:Shoe size","value":"x"}"#),
        "unknown custom field \"Shoe size\" (the tenant's: custom:Cost center)",
    );
    expect(
        &r(r#"{"source":"custom:Hire date","value":"x"}"#),
        "properties.children[1].source: \"custom:Hire date\" is a date field",
    );
    expect(&r(r#"{"source":"City"}"#), "properties.children[1].value: required for equals");
    expect(&r(r#"{"source":"City","value":"  "}"#), "properties.children[1].value: required for equals");
    expect(
        &r(r#"{"source":"City","condition":"isEmpty","value":"x"}"#),
        "properties.children[1].value: isEmpty takes no value",
    );
    expect(
        &r(r#"{"source":"City","condition":"isBefore","value":"x"}"#),
        "properties.children[1].condition: isBefore is not a condition of properties; use one of equals, notEquals",
    );
    expect(
        &r(r#"{"source":"City","value":"x","days":3}"#),
        "properties.children[1].days: only completedRecently takes days",
    );
    expect(&r(r#"{"op":"OR","children":[]}"#), "properties.children[1].children: an empty group");
    expect(
        r#""dates":{"source":"custom:Hire date","value":"2023-13-01"}"#,
        "dates.value: \"2023-13-01\" is not a date",
    );
    expect(
        r#""dates":{"source":"custom:Cost center","value":"2023-01-01"}"#,
        "dates.source: \"custom:Cost center\" is not a date field",
    );
    expect(
        r#""dates":{"source":"Hire date","value":"2023-01-01"}"#,
        "dates.source: \"Hire date\": a date rule's source is a custom date field",
    );
    expect(
        r#""dates":{"source":"custom:Birthday","value":"2023-01-01"}"#,
        "unknown date field \"Birthday\" (the tenant's: custom:Hire date)",
    );
    expect(
        r#""dates":{"source":"custom:Hire date","condition":"equals","value":"2023-01-01"}"#,
        "dates.condition: equals is not a condition of dates",
    );
    expect(
        r#""activities":{"source":"Outlook"}"#,
        "activities.source: \"Outlook\": an activity rule's source is a course GUID",
    );
    expect(
        r#""activities":{"source":"c1000000-0000-4000-8000-0000000000ff"}"#,
        "activities.source: c1000000-0000-4000-8000-0000000000ff is not a course of this tenant",
    );
    let c = C[0];
    expect(
        &format!(r#""activities":{{"source":"{c}","condition":"completedRecently"}}"#),
        "activities.days: required for completedRecently",
    );
    expect(
        &format!(r#""activities":{{"source":"{c}","condition":"completedRecently","days":0}}"#),
        "activities.days: 0 is not from 1 to 3650",
    );
    expect(
        &format!(r#""activities":{{"source":"{c}","condition":"completedRecently","days":3651}}"#),
        "activities.days: 3651",
    );
    expect(
        &format!(r#""activities":{{"source":"{c}","value":"yes"}}"#),
        "activities.value: hasCompleted takes no value",
    );
}

#[test]
fn profile_level_errors() {
    let base = |f: &dyn Fn(&mut Profile)| {
        let mut p = profile("");
        f(&mut p);
        message(validate(&p, &tenant()).unwrap_err())
    };
    assert!(base(&|p| p.title = "   ".into()).contains("title: required"));
    assert!(base(&|p| p.title = "x".repeat(201)).contains("title: at most 200"));
    assert!(base(&|p| p.title = "a\nb".into()).contains("title: "));
    assert!(base(&|p| p.id = "a b".into()).contains("id: \"a b\" must be"));
    assert!(base(&|p| p.id = String::new()).contains("id: "));
    assert!(base(&|p| p.description = "d".repeat(2001)).contains("description: at most 2000"));
    assert!(base(&|p| p.courses = vec!["Excel 101".into()]).contains("courses[0]: \"Excel 101\" is not a course GUID"));
    assert!(
        base(&|p| p.courses = vec![C[0].into(), C[0].to_uppercase()])
            .contains("courses[1]: c1000000-0000-4000-8000-000000000001 is listed twice")
    );
    assert!(
        base(&|p| p.courses = vec!["c1000000-0000-4000-8000-0000000000ff".into()])
            .contains("courses[0]: c1000000-0000-4000-8000-0000000000ff is not a course of this tenant")
    );
    assert!(
        base(&|p| p.throttle = Some(Throttle::default())).contains("throttle: give maxChanges or maxChangesPercent")
    );
    let t = |n, pc| Some(Throttle { max_changes: n, max_changes_percent: pc });
    assert!(base(&|p| p.throttle = t(Some(0), None)).contains("throttle.maxChanges: at least 1"));
    assert!(
        base(&|p| p.throttle = t(None, Some(0)))
            .contains("throttle.maxChangesPercent: 0 is not a percentage from 1 to 100")
    );
    assert!(base(&|p| p.throttle = t(Some(5), Some(101))).contains("throttle.maxChangesPercent: 101"));
    assert!(
        base(&|p| p.include = vec!["a".into(), "b".into(), "a".into()]).contains("include[2]: \"a\" is listed twice")
    );
    assert!(base(&|p| p.exclude = vec![" a".into()]).contains("exclude[0]: \" a\" is not a user id"));
    assert!(base(&|p| p.exclude = vec!["x".into(); 10_001]).contains("exclude: at most 10000 users"));
    // Depth and size.
    let mut deep = Node::rule("City", None, Some("x"));
    for _ in 0..8 {
        deep = Node::group(Op::And, vec![deep]);
    }
    let m = base(&|p| p.properties = Some(deep.clone()));
    assert!(m.contains("properties.children[0].children[0].children[0].children[0].children[0].children[0].children[0].children[0]: rule groups nest at most 8 deep"), "{m}");
    let wide = Node::group(Op::Or, (0..200).map(|i| Node::rule("City", None, Some(&format!("c{i}")))).collect());
    assert!(
        base(&|p| p.properties = Some(wide.clone()))
            .contains("properties.children[199]: a profile has at most 200 rules and groups")
    );

    // Accepted: the limits themselves, every condition with its value, a date-less tenant without dates.
    let mut ok = profile(r#""throttle":{"maxChanges":1,"maxChangesPercent":100},"include":["a"],"exclude":["a"]"#);
    ok.title = "t".repeat(200);
    validate(&ok, &tenant()).unwrap();
    for c in Section::Properties.conditions() {
        let value = if c.takes_value() { r#","value":"x""# } else { "" };
        profile(&format!(r#""properties":{{"source":"custom:cost center","condition":"{}"{value}}}"#, c.name()));
    }
    let no_dates = TenantFields::default();
    let p = profile(r#""properties":{"source":"City","value":"x"},"dates":{"op":"AND","children":[]}"#);
    validate(&p, &no_dates).unwrap();
    let unknown_courses = TenantFields { fields: fields(), courses: None };
    let mut p = profile("");
    p.courses = vec!["c1000000-0000-4000-8000-0000000000ff".into()];
    validate(&p, &unknown_courses).unwrap();
}

#[test]
fn the_profile_json_shape_round_trips() {
    let json = format!(
        r#"{{"id":"csm-us","title":"Customer Success Managers (US)","description":"CSMs in three cities",
        "enroll":true,"courses":["{c0}"],"autoPopulate":true,"throttle":{{"maxChangesPercent":20}},
        "properties":{{"op":"AND","children":[
            {{"op":"OR","children":[{{"source":"City","value":"Las Vegas"}},{{"source":"City","value":"San Diego"}},
                {{"source":"City","condition":"equals","value":"Denver"}}]}},
            {{"source":"Position","value":"Customer Success Manager"}},
            {{"not":true,"source":"custom:Cost center","condition":"startsWith","value":"CC-9"}}]}},
        "dates":{{"source":"custom:Hire date","condition":"isAfter","value":"2023-01-01T00:00:00Z"}},
        "activities":{{"op":"OR","children":[{{"source":"{c1}"}},
            {{"source":"{c2}","condition":"completedRecently","days":30}}]}},
        "include":["u-7"],"exclude":["u-9"],"state":"active"}}"#,
        c0 = C[0],
        c1 = C[1],
        c2 = C[2]
    );
    let p = Profile::parse(&json).unwrap();
    validate(&p, &tenant()).unwrap();
    let again = serde_json::to_string(&p).unwrap();
    assert_eq!(Profile::parse(&again).unwrap(), p);
    let v: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(v["properties"]["children"][2]["not"], true);
    assert_eq!(v["properties"]["children"][1].get("not"), None, "false is left out");
    assert_eq!(v["throttle"], serde_json::json!({"maxChangesPercent": 20}));
}

#[test]
fn settings_defaults_checks_and_crons() {
    let s = Settings::parse(r#"{"contactEmail":"lms@contoso.com"}"#).unwrap();
    s.check().unwrap();
    assert_eq!(s.schedule.refresh, REFRESH_HOURS);
    assert_eq!(s.schedule.maintenance, MAINTENANCE_HOURS);
    assert!(s.exclude_disabled_users);
    assert_eq!(s.entra_group_prefix, "");
    assert_eq!(s.schedule.refresh_cron(), "0 2,5,8,11,14,17,20,23 * * *");
    assert_eq!(s.schedule.maintenance_cron(), "0 0,3,6,9,12,15,18,21 * * *");
    let s = Settings::parse(
        r#"{"contactEmail":"lms@contoso.com","schedule":{"maintenance":[16,0,9]},"excludeDisabledUsers":false}"#,
    )
    .unwrap();
    s.check().unwrap();
    assert_eq!(s.schedule.maintenance_cron(), "0 0,9,16 * * *");
    assert_eq!(s.schedule.refresh, REFRESH_HOURS, "the other list keeps its default");
    assert!(!s.exclude_disabled_users);

    let err = |json: &str| {
        let m = match Settings::parse(json) {
            Err(e) => message(e),
            Ok(s) => message(s.check().unwrap_err()),
        };
        assert!(m.starts_with("invalid settings: "), "{m}");
        m
    };
    assert!(err(r#"{}"#).contains("missing field `contactEmail`"));
    assert!(err(r#"{"contactEmail":"x","apiKey":"secret"}"#).contains("unknown field `apiKey`"));
    assert!(err(r#"{"contactEmail":"nobody"}"#).contains("contactEmail: \"nobody\" is not an e-mail address"));
    assert!(err(r#"{"contactEmail":"a b@c.com"}"#).contains("contactEmail"));
    assert!(
        err(&format!(r#"{{"contactEmail":"a@b.c","entraGroupPrefix":"{}"}}"#, "p".repeat(51)))
            .contains("entraGroupPrefix: at most 50")
    );
    assert!(
        err(r#"{"contactEmail":"a@b.c","schedule":{"refresh":[1,24]}}"#)
            .contains("schedule.refresh[1]: 24 is not an hour")
    );
    assert!(
        err(r#"{"contactEmail":"a@b.c","schedule":{"refresh":[]}}"#).contains("schedule.refresh: at least one hour")
    );
    assert!(
        err(r#"{"contactEmail":"a@b.c","schedule":{"refresh":[1,1]}}"#)
            .contains("schedule.refresh[1]: 1 is listed twice")
    );
    assert!(
        err(r#"{"contactEmail":"a@b.c","schedule":{"maintenance":[1,5]}}"#)
            .contains("schedule.maintenance[1]: 5 is also a refresh hour")
    );
    assert!(err(r#"{"contactEmail":"a@b.c","schedule":{"refresh":[-1]}}"#).contains("schedule.refresh[0]"));
}
