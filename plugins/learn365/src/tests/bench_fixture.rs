//! Writes the Assigner benchmark's tenant (`examples/support/data.rs`: 20 profiles, users with
//! realistic attributes) as a `gateway plugin test` fixture of the maintenance's **plan call**: the
//! settings, the profiles, the snapshot's chunks and the current groups (the profiles' members with
//! 2 % swapped out) in kv, the cursor at the plan phase. Running it measures the evaluation inside
//! the plugin, under the gateway's limits for job calls (`bench/assigner.sh` does both steps):
//!
//! ```sh
//! cd plugins && SCIMGW_BENCH_FIXTURES=/tmp/fx SCIMGW_BENCH_USERS=100000 \
//!     cargo test --release -p scimgw-plugin-learn365 bench_fixture -- --ignored
//! gateway plugin test ~/.cache/scimgw/plugins/learn365.wasm --fixtures /tmp/fx
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::assigner;
use crate::assigner::codec::{Encoder, MAX_CHUNK, pack};
use crate::assigner::{Settings, TenantFields};
use crate::assigner_io::{maintain, store};
use crate::state::{self, Env};

#[allow(dead_code)]
#[path = "../../examples/support/data.rs"]
pub(crate) mod data;

/// The fixture's folder (`SCIMGW_BENCH_FIXTURES`) and number of users (`SCIMGW_BENCH_USERS`, 100,000).
fn where_and_how_many() -> (std::path::PathBuf, usize) {
    let Some(dir) = std::env::var_os("SCIMGW_BENCH_FIXTURES").map(std::path::PathBuf::from) else {
        panic!("set SCIMGW_BENCH_FIXTURES to the folder to write the fixture into");
    };
    let n = std::env::var("SCIMGW_BENCH_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    (dir, n)
}

#[test]
#[ignore = "writes a benchmark fixture: SCIMGW_BENCH_FIXTURES=DIR [SCIMGW_BENCH_USERS=N]"]
fn bench_fixture() {
    let (dir, n) = where_and_how_many();
    let courses: Vec<String> = (0..40).map(data::course).collect();
    let fields = data::fields();
    let enc = Encoder::new(data::NOW, &fields, &courses).unwrap();
    let mut rng = data::Rng(2024);
    let mut lines = enc.header_lines();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let u = data::user(&mut rng, i, &courses);
        let mut line = String::new();
        enc.user_line(&u, &mut line).unwrap();
        ids.push(u.id);
        lines.push(line);
    }
    let chunks = pack(lines, MAX_CHUNK).unwrap();
    let mut dec = assigner::Decoder::default();
    for c in &chunks {
        dec.chunk(c).unwrap();
    }
    let snap = dec.finish().unwrap();
    ids.sort();
    let settings = Settings::parse(r#"{"contactEmail":"lms@contoso.com","entraGroupPrefix":"AS-"}"#).unwrap();
    let profiles = data::profiles(&courses, &ids);
    let current = data::current_groups(&snap, &profiles, &settings, &ids);

    let generation = format!("{:013}", data::NOW * 1000);
    let mut kv = Kv::default();
    state::save(&mut kv, store::SETTINGS, &settings).unwrap();
    for p in &profiles {
        state::save(&mut kv, &store::profile_key(&p.id), p).unwrap();
    }
    for (i, c) in chunks.iter().enumerate() {
        kv.set(&store::chunk_key(&store::snap_prefix(&generation), i as u32), c.clone()).unwrap();
    }
    let tf = TenantFields { fields: fields.clone(), courses: Some(courses.iter().cloned().collect()) };
    store::save_blob(&mut kv, &store::fields_key(&generation), &tf).unwrap();
    let meta = store::SnapMeta {
        generation: generation.clone(),
        taken_at: store::rfc3339(data::NOW as u64 * 1000),
        users: n,
        courses: courses.len(),
        training_plans: BTreeSet::new(),
    };
    state::save(&mut kv, store::SNAP, &meta).unwrap();
    for (p, members) in profiles.iter().zip(&current) {
        for (i, c) in pack(members.clone(), MAX_CHUNK).unwrap().into_iter().enumerate() {
            kv.set(&store::chunk_key(&store::current_prefix(&p.id), i as u32), c).unwrap();
        }
    }
    let scheduled = data::NOW as u64 * 1000 + 3_600_000;
    let cursor = maintain::Cursor { started: scheduled, phase: maintain::Phase::Plan, ..maintain::Cursor::default() };
    let after = maintain::Cursor {
        phase: maintain::Phase::Apply,
        ..maintain::Cursor { started: scheduled, ..Default::default() }
    };
    let fixture = serde_json::json!({
        "description": format!("the Assigner's maintenance, plan call: 20 profiles over {n} users (src/tests/bench_fixture.rs)"),
        "config": fixture_config(),
        "now_unix_ms": scheduled + 5_000,
        "kv": kv.0,
        "schedule": {"job": maintain::JOB, "scheduled_at_unix_ms": scheduled, "cursor": state::to_json(&cursor).unwrap()},
        // The call plans every profile and goes on with the apply phase.
        "expect_result": {"operations": [], "continue-with": state::to_json(&after).unwrap(), "summary": null},
    });
    if std::env::var_os("SCIMGW_BENCH_NATIVE").is_some() {
        // The same call natively, for a profiler (`perf record` on this test).
        struct NoWire;
        impl crate::deliver::Wire for NoWire {
            fn send(
                &mut self,
                _: scimgw_plugin_sdk::http::Request,
            ) -> Result<scimgw_plugin_sdk::http::Response, scimgw_plugin_sdk::http::HttpError> {
                panic!("the plan call makes no request")
            }
        }
        let config = crate::config::Config::parse(&fixture_config().to_string()).unwrap();
        for _ in 0..3 {
            let mut world = Kv(kv.0.clone());
            let run = scimgw_plugin_sdk::JobRun {
                job: maintain::JOB.into(),
                scheduled_at_unix_ms: scheduled,
                cursor: Some(state::to_json(&cursor).unwrap()),
            };
            let t = std::time::Instant::now();
            crate::assigner_io::run(&mut world, &mut NoWire, &config, &run, scheduled + 5_000).unwrap();
            println!("native plan call: {:?}", t.elapsed());
        }
    }
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("assigner-plan-{n}.json"));
    std::fs::write(&path, fixture.to_string()).unwrap();
    let stored: usize = chunks.iter().map(String::len).sum();
    println!(
        "wrote {} ({n} users, {} chunks, {:.1} MB of snapshot)",
        path.display(),
        chunks.len(),
        stored as f64 / 1e6
    );
}

fn fixture_config() -> serde_json::Value {
    serde_json::json!({"baseUrl": "https://contoso.learn365.test", "assigner": {"graphBaseUrl": "https://graph.test"}})
}

/// kv in memory: what the fixture seeds.
#[derive(Default)]
struct Kv(BTreeMap<String, String>);

impl Env for Kv {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: String) -> Result<(), scimgw_plugin_sdk::PluginError> {
        self.0.insert(key.to_owned(), value);
        Ok(())
    }
    fn delete(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn keys(&self, prefix: &str, after: Option<&str>, limit: u32) -> Vec<String> {
        let from = after.map_or(prefix.to_owned(), |a| format!("{a}\0"));
        self.0
            .range(from..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .take(limit as usize)
            .cloned()
            .collect()
    }
    fn user(&self, _: &str) -> Option<scimgw_plugin_sdk::User> {
        None
    }
    fn group(&self, _: &str) -> Option<scimgw_plugin_sdk::Group> {
        None
    }
    fn log(&mut self, _: scimgw_plugin_sdk::log::Level, _: &str) {}
}

/// Directory users one build call reads (the refresh's `BUILD_PAGES` × `DIR_PAGE`).
const BUILD_CALL_USERS: usize = 5_000;

/// The data refresh's **build call** as a fixture (`assigner-build-<users>.json`): the Learn365 phases'
/// presence keys of all `users` in kv, the first 5,000 of them in the directory (what one call reads),
/// the cursor at the build phase. Its cost is one call's; a refresh makes `users / 5,000` of them.
#[test]
#[ignore = "writes a benchmark fixture: SCIMGW_BENCH_FIXTURES=DIR [SCIMGW_BENCH_USERS=N]"]
fn bench_refresh_fixture() {
    let (dir, n) = where_and_how_many();
    let courses: Vec<String> = (0..40).map(data::course).collect();
    let generation = format!("{:013}", data::NOW * 1000);
    let tmp = |kind: &str| format!("{}{kind}:", store::tmp_prefix(&generation));
    let mut kv = Kv::default();
    let mut rng = data::Rng(2024);
    let mut presence = Vec::with_capacity(n);
    let mut users = Vec::new();
    for i in 0..n {
        let u = data::user(&mut rng, i, &courses);
        let upn = u.fields["Email"].clone();
        let key = crate::assigner::codec::login_key;
        presence.push(format!("{:016x}\t{:016x}", key(&u.id), key(&state::claims(&upn))));
        if i < BUILD_CALL_USERS {
            let f = |k: &str| u.fields.get(k).cloned().unwrap_or_default();
            let date = |k: &str| u.dates.get(k).map(|t| crate::assigner::time::format(*t));
            users.push(serde_json::json!({
                "id": format!("scim-{i}"), "externalId": u.id, "userName": upn, "active": u.active,
                "displayName": f("Title"), "title": f("Position"),
                "emails": [{"type": "work", "primary": true, "value": f("Email")}],
                "addresses": [{"type": "work", "locality": f("City"), "country": f("Country")}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                    {"department": f("Department"), "organization": f("Company")},
                "urn:ietf:params:scim:schemas:extension:contoso:2.0:User": {
                    "Cost center": f("custom:Cost center"), "Region": f("custom:Region"),
                    "Hire date": date("custom:Hire date"), "Certification expiry": date("custom:Certification expiry"),
                },
            }));
        }
    }
    for (i, c) in pack(presence, MAX_CHUNK).unwrap().into_iter().enumerate() {
        kv.set(&store::chunk_key(&tmp("u"), i as u32), c).unwrap();
    }
    let lines: Vec<String> = courses.iter().map(|c| format!("{c}\tELearning")).collect();
    kv.set(&store::chunk_key(&tmp("c"), 0), pack(lines, MAX_CHUNK).unwrap().concat()).unwrap();
    let field = |name: &str, date: bool| serde_json::json!({"name": name, "date": date, "any": true});
    let cursor = serde_json::json!({
        "generation": generation, "started": data::NOW as u64 * 1000, "phase": "build", "seq": 1,
        "l365_users": n, "courses": courses.len(),
        "fields": {"cost center": field("Cost center", false), "region": field("Region", false),
                   "hire date": field("Hire date", true), "certification expiry": field("Certification expiry", true)},
    });
    let scheduled = data::NOW as u64 * 1000;
    let fixture = serde_json::json!({
        "description": format!("the Assigner's data refresh, one build call: {BUILD_CALL_USERS} directory users against {n} Learn365 users (src/tests/bench_fixture.rs)"),
        "config": fixture_config(),
        "now_unix_ms": scheduled + 60_000,
        "kv": kv.0,
        "directory": {"users": users},
        "schedule": {"job": crate::assigner_io::refresh::JOB, "scheduled_at_unix_ms": scheduled, "cursor": cursor.to_string()},
    });
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("assigner-build-{n}.json"));
    std::fs::write(&path, fixture.to_string()).unwrap();
    println!("wrote {}", path.display());
}
