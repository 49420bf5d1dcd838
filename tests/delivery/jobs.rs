//! Scheduled jobs, plugin admin resources and notifications, end to end: the `probe` plugin declares the
//! Assigner's two jobs (data refresh at 02, 05, …, 23 UTC; maintenance, exclusive, at 00, 03, …, 21 UTC),
//! the gateway runs on a virtual clock, and one admin call advances it through a day: every run happens
//! at its time, in order, each to its end (two calls, joined by `continue-with`), its operations
//! delivered. A maintenance run held open by the job's own HTTP call locks the plugin's admin resources
//! (423 with the plugin's message) and releases them when it ends. Notifications reach a real SMTP
//! server (aiosmtpd, when `SCIMGW_SMTP_PYTHON` names a Python that has it).

use super::{WAIT, rig};
use crate::common::Backend;
use crate::common::proc::{GatewayProc, Reply, Sink, SmtpSink, TestEnv, poll};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const REFRESH: &str = "0 2-23/3 * * *";
const MAINTENANCE: &str = "0 */3 * * *";

async fn call(gw: &GatewayProc, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut rb = gw.admin(method, path);
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b.to_string());
    }
    let resp = rb.send().await.expect("admin API answers");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Adds the probe plugin and a target `probe` with `config`, allowed to call `origins`; waits until its
/// jobs are declared.
async fn probe_target(env: &TestEnv, gw: &GatewayProc, tenant: &str, origins: &[&str], config: Value, jobs: usize) {
    env.add_plugin("probe", "probe").await;
    let config = config.to_string();
    let mut args = vec!["target", "add", "--tenant", tenant, "--name", "probe", "--plugin", "probe"];
    for o in origins {
        args.extend(["--allow-host", o]);
    }
    args.extend(["--allow-http", "--allow-private", "--config", &config]);
    let v = env.cli_json(&args).await;
    assert_eq!(v["name"], "probe", "{v}");
    let path = format!("/tenants/{tenant}/targets/probe/jobs");
    poll("the target's jobs to be declared", WAIT, Duration::from_millis(100), async || {
        let (st, v) = call(gw, Method::GET, &path, None).await;
        (st == StatusCode::OK && v.as_array().is_some_and(|a| a.len() == jobs)).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)));
}

#[tokio::test]
async fn scheduled_jobs_run_at_the_assigner_times_on_the_virtual_clock() {
    let extra = [("GATEWAY_VIRTUAL_CLOCK", "2026-01-04T23:30:00Z")];
    let Some(r) = rig(Backend::Sqlite, "jobs", &extra).await else { return };
    let sink = Sink::start();
    let (gw, t) = (&r.gw, r.tenant.as_str());
    let config = json!({"url": sink.url, "steps": 2, "jobs": [
        {"name": "refresh", "cron": REFRESH},
        {"name": "maintenance", "cron": MAINTENANCE, "exclusive": true, "lock_message": "maintenance is running"},
    ]});
    probe_target(&r.env, gw, t, &[&sink.origin], config, 2).await;

    let (st, clock) = call(gw, Method::GET, "/clock", None).await;
    assert_eq!((st, &clock["now"], &clock["virtual"]), (StatusCode::OK, &json!("2026-01-04T23:30:00Z"), &json!(true)));
    let (st, v) = call(gw, Method::POST, "/clock/advance", Some(json!({"to": "2026-01-06T00:00:00Z"}))).await;
    assert_eq!(st, StatusCode::OK, "{v}\n{}", gw.log_tail(30));
    assert_eq!(v["now"], "2026-01-06T00:00:00Z");
    let runs: Vec<(String, String)> = v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| (r["scheduled_at"].as_str().unwrap_or("").to_owned(), r["job"].as_str().unwrap_or("").to_owned()))
        .collect();
    let mut want = Vec::new();
    for hour in 0..24 {
        if hour % 3 == 0 {
            want.push((format!("2026-01-05T{hour:02}:00:00Z"), "maintenance".to_owned()));
        }
        if hour % 3 == 2 {
            want.push((format!("2026-01-05T{hour:02}:00:00Z"), "refresh".to_owned()));
        }
    }
    want.push(("2026-01-06T00:00:00Z".to_owned(), "maintenance".to_owned()));
    assert_eq!(runs, want, "every run at its time, in order");
    for run in v["runs"].as_array().expect("runs") {
        assert_eq!((&run["result"], &run["calls"], &run["operations"]), (&json!("ok"), &json!(2), &json!(2)), "{run}");
    }

    // The plugin saw each run (kv, read back through its admin resource), the jobs show their next runs.
    let (st, seen) = call(gw, Method::GET, &format!("/tenants/{t}/targets/probe/resources/runs"), None).await;
    assert_eq!(st, StatusCode::OK, "{seen}");
    assert_eq!(seen["runs"].as_array().map(Vec::len), Some(17), "{seen}");
    let status = r.env.cli_json(&["target", "jobs", "--tenant", t, "probe"]).await;
    let next: Vec<(&str, &str, i64)> = status
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            (j["name"].as_str().unwrap_or(""), j["next_run"].as_str().unwrap_or(""), j["runs"].as_i64().unwrap_or(0))
        })
        .collect();
    assert_eq!(
        next,
        vec![("refresh", "2026-01-06T02:00:00Z", 8), ("maintenance", "2026-01-06T03:00:00Z", 9)],
        "{status}"
    );
    assert!(status.as_array().expect("jobs").iter().all(|j| j["last_result"] == "ok"), "{status}");

    // Their operations were delivered like translated ones: 17 runs × 2 calls.
    sink.wait("the jobs' operations", WAIT, |h| {
        h.iter().filter(|h| h.delivered() && h.body["job"].is_string()).count() >= 34
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(30)));

    // The clock does not go back; run-now makes a job due at the clock's time.
    let (st, v) = call(gw, Method::POST, "/clock/advance", Some(json!({"to": "2026-01-05T00:00:00Z"}))).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let out = r.env.cli(&["target", "run-job", "--tenant", t, "probe", "refresh"]).await;
    assert!(out.status.success(), "{}", out.stderr);
    let (_, v) = call(gw, Method::POST, "/clock/advance", Some(json!({"by_secs": 60}))).await;
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{v}");
    assert_eq!((&runs[0]["job"], &runs[0]["scheduled_at"]), (&json!("refresh"), &json!("2026-01-06T00:00:00Z")));
}

#[tokio::test]
async fn an_exclusive_job_locks_the_plugin_resources_while_it_runs() {
    let extra = [("GATEWAY_VIRTUAL_CLOCK", "2026-01-04T23:30:00Z")];
    let Some(r) = rig(Backend::Sqlite, "jobs-lock", &extra).await else { return };
    let (sink, job_sink) = (Sink::start(), Sink::start());
    // The job's HTTP call is answered after 3 s: the run stays open that long.
    job_sink.set_default(Reply::ok().body("{}").delay(Duration::from_secs(3)));
    let (gw, t) = (&r.gw, r.tenant.as_str());
    let config = json!({"url": sink.url, "job_url": job_sink.url, "jobs": [
        {"name": "maintenance", "cron": MAINTENANCE, "exclusive": true, "lock_message": "maintenance is running"},
    ]});
    // Both sinks are on 127.0.0.1 (one allowed origin per sink: the job sink's too).
    probe_target(&r.env, gw, t, &[&sink.origin, &job_sink.origin], config, 1).await;
    let profile = format!("/tenants/{t}/targets/probe/resources/profiles/p1");
    let (st, v) = call(gw, Method::PUT, &profile, Some(json!({"description": "no title"}))).await;
    assert_eq!((st, v["detail"].as_str()), (StatusCode::BAD_REQUEST, Some("a profile needs a title")), "{v}");
    let (st, v) = call(gw, Method::GET, &profile, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");

    let advance = {
        let (gw_http, origin, token) = (gw.http.clone(), gw.origin.clone(), gw.admin_token.clone());
        tokio::spawn(async move {
            let resp = gw_http
                .post(format!("{origin}/admin/v1/clock/advance"))
                .bearer_auth(token)
                .json(&json!({"to": "2026-01-05T00:30:00Z"}))
                .send()
                .await
                .expect("advance answers");
            (resp.status(), resp.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    job_sink.wait("the maintenance run to start", WAIT, |h| !h.is_empty()).await.unwrap_or_else(|e| panic!("{e}"));
    let (st, v) = call(gw, Method::PUT, &profile, Some(json!({"title": "Sales"}))).await;
    assert_eq!((st, v["detail"].as_str()), (StatusCode::LOCKED, Some("maintenance is running")), "{v}");
    let (st, _) = call(gw, Method::GET, &profile, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "reads are served during the run; the refused write left nothing");

    let (st, v) = advance.await.expect("advance task");
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["runs"][0]["job"], "maintenance", "{v}");
    assert_eq!(v["runs"][0]["result"], "ok", "{v}");
    let (st, v) = call(gw, Method::PUT, &profile, Some(json!({"title": "Sales"}))).await;
    assert_eq!(st, StatusCode::OK, "released once the run ended: {v}");
    let (st, v) = call(gw, Method::GET, &profile, None).await;
    assert_eq!((st, &v["title"]), (StatusCode::OK, &json!("Sales")));
    let (st, v) = call(gw, Method::GET, &format!("/tenants/{t}/targets/probe/resources/nothing"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test]
async fn notifications_are_logged_and_emailed_through_smtp() {
    let dir = std::env::temp_dir().join(format!("scimgw-smtp-{}", uuid::Uuid::new_v4().simple()));
    let Some(smtp) = SmtpSink::start(&dir).await else { return };
    let url = smtp.url();
    let extra = [
        ("GATEWAY_SMTP_URL", url.as_str()),
        ("GATEWAY_SMTP_FROM", "gateway@example.com"),
        ("GATEWAY_SMTP_DEFAULT_TO", "ops@example.com"),
    ];
    let Some(r) = rig(Backend::Sqlite, "smtp", &extra).await else { return };
    let sink = Sink::start();
    let (gw, t) = (&r.gw, r.tenant.as_str());
    probe_target(&r.env, gw, t, &[&sink.origin], json!({"url": sink.url}), 0).await;
    let notify = format!("/tenants/{t}/targets/probe/resources/notify");
    let (st, v) = call(
        gw,
        Method::POST,
        &notify,
        Some(json!({"subject": "Throttled", "text": "42 changes held back", "to": "contact@example.com"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) =
        call(gw, Method::POST, &notify, Some(json!({"subject": "Refresh failed", "text": "see the log"}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) =
        call(gw, Method::POST, &notify, Some(json!({"subject": "x", "text": "y", "to": "not an address"}))).await;
    assert_eq!(
        (st, v["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("the recipient is not an e-mail address")),
        "{v}"
    );

    poll("both e-mails", WAIT, Duration::from_millis(100), async || {
        let text = smtp.text();
        (text.contains(&format!("Subject: [{t}/probe] Throttled"))
            && text.contains("Subject: [{t}/probe] Refresh failed".replace("{t}", t).as_str()))
        .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", smtp.text(), gw.log_tail(20)));
    let text = smtp.text();
    assert!(text.contains("contact@example.com") && text.contains("ops@example.com"), "{text}");
    assert!(text.contains("42 changes held back"), "{text}");
    let log = poll("the notification log to say sent", WAIT, Duration::from_millis(100), async || {
        let v = r.env.cli_json(&["target", "notifications", "--tenant", t, "probe"]).await;
        v.as_array().is_some_and(|a| a.len() == 2 && a.iter().all(|n| n["delivery"] == "sent")).then_some(v)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log[0]["subject"], "Refresh failed", "newest first: {log}");
    assert_eq!(log[1]["recipient"], "contact@example.com", "{log}");
    assert!(!gw.log().contains("42 changes held back"), "a notification's text never reaches the gateway's log");
    let _ = std::fs::remove_dir_all(&dir);
}
