//! The reporting join end to end through the real binary: SCIM users pushed as Entra does, Learn
//! Organizational Reporting datasets loaded with `gateway report load`, the joined report read with
//! `gateway report export` and over the admin API (HTML, checked in headless Chromium with a
//! screenshot). Acceptance scenarios AT-35..AT-40 of `docs/spec/acceptance.md`, and the malformed
//! inputs that must leave the previous snapshot in force.

use crate::common::Backend;
use crate::common::proc::*;
use gateway::reporting::sample::{AT_ADA_OBJECT_ID, AT_L1, AT_L2, at_fixtures};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures(env: &TestEnv) -> PathBuf {
    let dir = env.dir.path.join("learn");
    at_fixtures(&dir).expect("fixtures");
    dir
}

async fn load(env: &TestEnv, tenant: &str, dir: &Path) -> CliOut {
    env.cli(&["report", "load", "--tenant", tenant, &dir.display().to_string()]).await
}

async fn learners(env: &TestEnv, tenant: &str) -> Vec<Value> {
    let out = env.cli(&["report", "export", "--tenant", tenant, "--format", "json", "--table", "learners"]).await;
    assert!(out.status.success(), "{}", out.stderr);
    serde_json::from_str::<Vec<Value>>(&out.stdout).expect("json rows")
}

async fn table(env: &TestEnv, tenant: &str, t: &str) -> Vec<Value> {
    let out = env.cli(&["report", "export", "--tenant", tenant, "--format", "json", "--table", t]).await;
    assert!(out.status.success(), "{}", out.stderr);
    serde_json::from_str::<Vec<Value>>(&out.stdout).expect("json rows")
}

fn row<'a>(rows: &'a [Value], user: &str) -> &'a Value {
    rows.iter().find(|r| r["userId"] == user).unwrap_or_else(|| panic!("no row for {user}: {rows:?}"))
}

/// Ada as Entra pushes her once provisioning maps objectId → externalId.
fn ada() -> Value {
    let mut u = crate::common::entra_user("ada@contoso.com");
    u["externalId"] = json!(AT_ADA_OBJECT_ID);
    u["displayName"] = json!("Ada Lovelace");
    u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({"department": "Research"});
    u
}

async fn sqlite_env(label: &str) -> TestEnv {
    TestEnv::new(Backend::Sqlite, label).await.expect("sqlite env")
}

/// AT-35..AT-39 on one load, and AT-40 as Ada is disabled, then deleted.
async fn acceptance(backend: Backend) {
    let Some(env) = TestEnv::new(backend, "report").await else { return };
    let (tenant, token) = env.create_tenant().await;
    let gw = GatewayProc::spawn(&env, "gw", &[]).await;
    let scim = gw.scim(&tenant, &token);
    let (st, _, body) = scim.post("/Users", ada()).await;
    assert_eq!(st.as_u16(), 201, "{body}");
    let ada_id = body["id"].as_str().expect("id").to_owned();
    // A SCIM user without a Learn profile (R5).
    scim.create_user("grace@contoso.com").await;
    let dir = fixtures(&env);
    let out = load(&env, &tenant, &dir).await;
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);

    let rows = learners(&env, &tenant).await;
    assert_eq!(rows.len(), 2, "one row per Learn user, none for grace (R5): {rows:?}");
    // AT-35
    let l1 = row(&rows, AT_L1);
    assert_eq!(l1["matched"], true);
    assert_eq!(l1["displayName"], "Ada Lovelace");
    assert_eq!(l1["userPrincipalName"], "ada@contoso.com");
    assert_eq!(l1["department"], "Research");
    assert_eq!(l1["totalXP"], 300);
    // AT-36
    let l2 = row(&rows, AT_L2);
    assert_eq!(l2["matched"], false);
    assert_eq!(l2["displayName"], Value::Null);
    assert_eq!(l2["modulesCompleted"], 1);
    assert!(l2["name"].as_str().is_some_and(|n| n.starts_with("User_")), "pseudonym: {l2}");
    // AT-37
    assert_eq!((l1["modulesCompleted"].clone(), l1["pathsCompleted"].clone()), (json!(1), json!(1)));
    let modules = table(&env, &tenant, "modules").await;
    let done: Vec<&Value> = modules.iter().filter(|m| m["userId"] == AT_L1 && m["status"] == "completed").collect();
    let titles: Vec<&str> = done.iter().filter_map(|m| m["title"].as_str()).collect();
    assert!(titles.contains(&"Introduction to compute") && titles.contains(&"Cloud foundations"), "{done:?}");
    assert!(!done.iter().any(|m| m["uid"] == "learn.create-azure-account"), "the 2017-09-30 badge is excluded");
    let intro = done.iter().find(|m| m["uid"] == "learn.intro-to-compute").expect("intro");
    assert_eq!(intro["url"], "https://learn.microsoft.com/training/modules/intro-to-compute/");
    // AT-38
    let sentinel = modules
        .iter()
        .find(|m| m["userId"] == AT_L1 && m["uid"] == "azure.query-data-sentinel")
        .expect("module started from units");
    assert_eq!((sentinel["status"].clone(), sentinel["completedUnits"].clone()), (json!("started"), json!(2)));
    // AT-39
    let certs = table(&env, &tenant, "certifications").await;
    let c = certs.iter().find(|c| c["userId"] == AT_L1).expect("certification");
    assert_eq!(c["awardedOn"], "2024-01-15");
    assert_eq!(c["endDate"], "2025-01-15");
    assert_eq!(c["stayCurrentEligibilityStartDate"], Value::Null);
    assert_eq!(c["title"], "Microsoft Certified: Azure AI Engineer Associate");

    // AT-40: disabled stays matched; hard-deleted becomes unmatched, XP still counted.
    scim.patch_ok(&format!("/Users/{ada_id}"), json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
    let l1 = row(&learners(&env, &tenant).await, AT_L1).clone();
    assert_eq!((l1["matched"].clone(), l1["accountEnabled"].clone()), (json!(true), json!(false)));
    let (st, _, _) = scim.delete(&format!("/Users/{ada_id}")).await;
    assert_eq!(st.as_u16(), 204);
    let l1 = row(&learners(&env, &tenant).await, AT_L1).clone();
    assert_eq!(
        (l1["matched"].clone(), l1["displayName"].clone(), l1["totalXP"].clone()),
        (json!(false), Value::Null, json!(300))
    );
}

#[tokio::test]
async fn at35_to_at40_sqlite() {
    acceptance(Backend::Sqlite).await;
}

#[tokio::test]
async fn at35_to_at40_postgres() {
    acceptance(Backend::Postgres).await;
}

/// AT-39's second half and the robustness rules: header variants load; an empty file, a truncated file
/// and a bad date are refused with file, line and column named, and the previous snapshot stays.
#[tokio::test]
async fn malformed_files_keep_the_previous_snapshot() {
    let env = sqlite_env("report-bad").await;
    let (tenant, _) = env.create_tenant().await;
    let good = fixtures(&env);
    // Header variants: `tenantId` instead of `tenantID`, upper-case headers elsewhere.
    let certs = std::fs::read_to_string(good.join("Certifications.csv")).expect("read");
    std::fs::write(good.join("Certifications.csv"), certs.replacen("tenantID", "tenantId", 1)).expect("write");
    let users = std::fs::read_to_string(good.join("Users.csv")).expect("read");
    std::fs::write(good.join("Users.csv"), users.replacen("AADObjectId", "AADOBJECTID", 1)).expect("write");
    let out = load(&env, &tenant, &good).await;
    assert!(out.status.success(), "{}", out.stderr);
    let before = learners(&env, &tenant).await;
    assert_eq!(before.len(), 2);

    let cases: [(&str, &str, Option<&str>, &str); 4] = [
        ("Progress.csv", "", None, "Progress.csv, line 1"),
        (
            "Progress.csv",
            "tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn\nt,L,points.unit.basic.completed,Unit,u,100,2024-01-01\nt,L,points",
            None,
            "Progress.csv, line 3",
        ),
        (
            "Certifications.csv",
            "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn\nt,L,Certification,X,c,20241399\n",
            Some("AwardedOn"),
            "Certifications.csv, line 2, column AwardedOn",
        ),
        (
            "Users.csv",
            "tenantId,userId,CreatedOn\nt,L,2024-01-01\n",
            Some("AADObjectId"),
            "Users.csv, line 1, column AADObjectId",
        ),
    ];
    for (i, (file, text, _, expect)) in cases.iter().enumerate() {
        let dir = env.dir.path.join(format!("bad{i}"));
        at_fixtures(&dir).expect("fixtures");
        std::fs::write(dir.join(file), text).expect("write");
        let out = load(&env, &tenant, &dir).await;
        assert!(!out.status.success(), "case {i} must fail");
        assert!(out.stderr.contains(expect), "case {i}: expected {expect:?} in {}", out.stderr);
        assert!(out.stderr.contains("previous snapshot stays"), "{}", out.stderr);
        assert_eq!(learners(&env, &tenant).await, before, "case {i}: nothing lost");
    }
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|b| {
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(b)).find(|p| p.is_file()))
    })
}

/// The HTML report over the admin API (Bearer and Basic; 401 asks for Basic), a load uploaded over the
/// admin API, and the page in headless Chromium: rendered, screenshotted, names and links present.
#[tokio::test]
async fn html_report_over_the_admin_api_in_chromium() {
    let env = sqlite_env("report-html").await;
    let (tenant, token) = env.create_tenant().await;
    let gw = GatewayProc::spawn(&env, "gw", &[]).await;
    let (st, _, _) = gw.scim(&tenant, &token).post("/Users", ada()).await;
    assert_eq!(st.as_u16(), 201);
    // Upload the datasets through the admin API.
    let dir = fixtures(&env);
    let mut files = serde_json::Map::new();
    for e in std::fs::read_dir(&dir).expect("dir") {
        let p = e.expect("entry").path();
        files.insert(
            p.file_name().expect("name").to_string_lossy().into_owned(),
            json!(std::fs::read_to_string(&p).expect("read")),
        );
    }
    let path = format!("/tenants/{tenant}/report");
    let url = format!("/admin/v1{path}");
    let r = gw.admin(reqwest::Method::POST, &path).json(&json!({"files": files})).send().await.expect("upload");
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap_or_default());
    let bad = gw
        .admin(reqwest::Method::POST, &path)
        .json(&json!({"files": {"../Users.csv": "x"}}))
        .send()
        .await
        .expect("upload");
    assert_eq!(bad.status().as_u16(), 400);

    let page = gw.admin(reqwest::Method::GET, &path).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    // Not framed, not cached, and only the page's own script runs (by its hash, not 'unsafe-inline').
    let h = |name: &str| page.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!((h("x-frame-options").as_str(), h("cache-control").as_str()), ("DENY", "no-store"));
    let csp = h("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("script-src 'unsafe-inline'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Ada Lovelace")
            && html.contains("https://learn.microsoft.com/training/modules/intro-to-compute/")
    );
    let anon = reqwest::Client::new().get(format!("{}{url}", gw.origin)).send().await.expect("anonymous");
    assert_eq!(anon.status().as_u16(), 401);
    assert!(anon.headers().get("www-authenticate").is_some_and(|v| v.to_str().unwrap_or("").starts_with("Basic")));
    let basic = reqwest::Client::new()
        .get(format!("{}{url}", gw.origin))
        .basic_auth("admin", Some(&gw.admin_token))
        .send()
        .await
        .expect("basic");
    assert_eq!(basic.status().as_u16(), 200);
    let csv = gw.admin(reqwest::Method::GET, &format!("{path}/learners.csv")).send().await.expect("csv");
    assert!(csv.text().await.expect("csv").starts_with("userId,AADObjectId,matched"));

    // Headless Chromium renders the page (saved to a file: the browser gets no token).
    let Some(browser) = chromium() else {
        assert!(std::env::var("REQUIRE_CHROMIUM").is_err(), "REQUIRE_CHROMIUM is set but chromium is not installed");
        println!("skipped the browser check: chromium not installed");
        return;
    };
    let file = env.dir.path.join("report.html");
    std::fs::write(&file, &html).expect("write page");
    let shot = env.dir.path.join("report.png");
    let dom = Command::new(&browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--dump-dom"])
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("Ada Lovelace") && dom.contains("<svg"), "rendered DOM: {}", &dom[..dom.len().min(500)]);
    let status = Command::new(&browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a real screenshot ({} bytes)", png.len());
    // Kept for people to look at.
    let keep = PathBuf::from(option_env!("CARGO_TARGET_TMPDIR").unwrap_or("/tmp")).join("report-screenshot.png");
    let _ = std::fs::copy(&shot, &keep);
    println!("screenshot: {}", keep.display());
}

/// The datasets as tables of a PostgreSQL database (schema `dbo`, as the Power BI template reads them),
/// with database types (timestamps, integers) rather than text: the same report as from files.
#[tokio::test]
async fn load_from_postgres_tables() {
    let Some(env) = TestEnv::new(Backend::Postgres, "report-pg").await else { return };
    let (tenant, _) = env.create_tenant().await;
    let dir = fixtures(&env);
    {
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(&env.db_url).await.expect("connect");
        sqlx::query("CREATE SCHEMA dbo").execute(&mut c).await.expect("schema");
        for e in std::fs::read_dir(&dir).expect("dir") {
            let p = e.expect("entry").path();
            let table = p.file_stem().expect("stem").to_string_lossy().to_lowercase();
            let text = std::fs::read_to_string(&p).expect("read");
            let header = text.lines().next().expect("header");
            let cols: Vec<String> = header.split(',').map(|c| format!("\"{c}\" text")).collect();
            let create = format!("CREATE TABLE dbo.\"{table}\" ({})", cols.join(", "));
            sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut c).await.expect("create");
            let mut copy = c
                .copy_in_raw(&format!("COPY dbo.\"{table}\" FROM STDIN WITH (FORMAT csv, HEADER true)"))
                .await
                .expect("copy in");
            copy.send(text.as_bytes()).await.expect("send");
            copy.finish().await.expect("finish");
        }
        for alter in [
            "ALTER TABLE dbo.progress ALTER COLUMN \"XP\" TYPE bigint USING \"XP\"::bigint, \
             ALTER COLUMN \"AwardedOn\" TYPE timestamptz USING \"AwardedOn\"::timestamptz",
            "ALTER TABLE dbo.certifications ALTER COLUMN \"AwardedOn\" TYPE integer USING \"AwardedOn\"::integer",
        ] {
            sqlx::query(alter).execute(&mut c).await.expect("alter");
        }
        let _ = c.close().await;
    }
    let out = env.cli(&["report", "load", "--tenant", &tenant, &env.db_url]).await;
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("dbo.progress"), "{}", out.stdout);
    let rows = learners(&env, &tenant).await;
    let l1 = row(&rows, AT_L1);
    assert_eq!(
        (l1["totalXP"].clone(), l1["modulesCompleted"].clone(), l1["certifications"].clone()),
        (json!(300), json!(1), json!(1))
    );
    let certs = table(&env, &tenant, "certifications").await;
    assert_eq!(certs[0]["awardedOn"], "2024-01-15");
    // A bad value in a table names the table, the line of its CSV copy and the column.
    {
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(&env.db_url).await.expect("connect");
        sqlx::query("UPDATE dbo.achievements SET \"AwardedOn\" = 'yesterday' WHERE \"awardType\" = 'Trophy'")
            .execute(&mut c)
            .await
            .expect("update");
        let _ = c.close().await;
    }
    let out = env.cli(&["report", "load", "--tenant", &tenant, &env.db_url]).await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("table dbo.achievements") && out.stderr.contains("column AwardedOn"), "{}", out.stderr);
    assert_eq!(learners(&env, &tenant).await, rows, "the previous snapshot stays");
}
