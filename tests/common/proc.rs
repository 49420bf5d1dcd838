//! The real `gateway` binary as a child process, for the delivery tests: building and locating it, a
//! per-test database (a SQLite file in a temp dir, or a fresh PostgreSQL database on the server of
//! `TEST_POSTGRES_URL`, dropped at the end), `gateway serve` processes (spawn, wait for `/healthz`,
//! `kill -9`, restart with the same environment, log captured to a file), the CLI against the same
//! database and key, a SCIM client, and a **sink**: an HTTP server on 127.0.0.1 that records every request
//! and answers from a script the test can change at runtime.

use super::{Backend, Resp, SCIM_JSON, read};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

// ---- the binary and the plugins ----------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate lives in the workspace").to_path_buf()
}

/// `<target>/<profile>` of the running test executable (`<target>/<profile>/deps/integration-…`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent().and_then(Path::parent).expect("<target>/<profile>/deps/<test exe>").to_path_buf()
}

/// The `gateway` binary next to the test executable, built (or found fresh) once per test run with
/// `cargo build -p gateway --bin gateway` into the same target directory.
pub fn gateway_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("gateway", "gateway")).clone()
}

/// The iSpring Learn simulator (`sims/ispring`), built like [`gateway_bin`].
pub fn ispring_sim_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("ispring-sim", "ispring-sim")).clone()
}

/// Builds (or finds fresh) binary `bin` of workspace package `package` in this test's target directory
/// and profile.
fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    let profile = profile_dir();
    let target = profile.parent().expect("target dir").to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", package, "--bin", bin]);
    if profile.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    cmd.env("CARGO_TARGET_DIR", &target).current_dir(workspace_root());
    // What cargo set for this test process describes the tests crate; build scripts that watch these
    // (ring's watches CARGO_MANIFEST_DIR) would otherwise rebuild, and the next `cargo test` back.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || ["CARGO_CRATE_NAME", "CARGO_BIN_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"]
                .contains(&k.as_ref())
            || ["CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"].contains(&k.as_ref())
        {
            cmd.env_remove(k.as_ref());
        }
    }
    let started = Instant::now();
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build -p {package} --bin {bin} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = profile.join(bin);
    assert!(path.exists(), "{} was not built", path.display());
    eprintln!("{bin} binary: {} (build check {:?})", path.display(), started.elapsed());
    path
}

/// Where `scripts/build-plugins.sh` put the plugin components.
pub fn plugins_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SCIMGW_PLUGINS_DIR").filter(|d| !d.is_empty()) {
        return d.into();
    }
    if let Some(c) = std::env::var_os("SCIMGW_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(c).join("plugins");
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/scimgw/plugins")
}

/// A built plugin component, e.g. `plugin_file("webhook")`.
pub fn plugin_file(name: &str) -> PathBuf {
    let p = plugins_dir().join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "plugin component {} is missing: build the plugins with `bash scripts/build-plugins.sh` \
         (or point SCIMGW_PLUGINS_DIR at them)",
        p.display()
    );
    p
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Polls `probe` every `every` until it returns `Some`, or fails after `timeout` with `what`.
pub async fn poll<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(every).await;
    }
}

// ---- per-test directory and database -----------------------------------------------------------------

/// A directory under the system temp dir, removed on drop (kept, and named, when the test failed).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("scimgw-{label}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The output of one CLI run.
#[derive(Debug, Clone)]
pub struct CliOut {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOut {
    /// stdout as JSON, asserting the command succeeded.
    pub fn json(&self) -> Value {
        assert!(
            self.status.success(),
            "gateway {} failed ({}):\n{}{}",
            self.args.join(" "),
            self.status,
            self.stdout,
            self.stderr
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("gateway {}: stdout is not JSON ({e}):\n{}", self.args.join(" "), self.stdout))
    }
}

/// One test's database, credential key and directory: everything `gateway serve` and the CLI share.
pub struct TestEnv {
    pub backend: Backend,
    pub db_url: String,
    /// The credential sealing key (base64 of 32 bytes), given to every process of this test.
    pub key: String,
    pub dir: TempDir,
    /// (maintenance URL, database name) of a PostgreSQL database to drop at the end.
    pg: Option<(String, String)>,
    /// Every CLI run of this test (to check that no output shows a secret).
    transcript: Mutex<Vec<CliOut>>,
}

/// `TEST_POSTGRES_URL`, or None (skip) when unset, unless `REQUIRE_POSTGRES=1` (then panic), like the
/// in-process harness.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set \
                     (e.g. postgres://postgres@127.0.0.1:5432/scimgw_test)"
                );
            }
            println!("skipped: TEST_POSTGRES_URL not set");
            None
        }
    }
}

/// `url` with its database name replaced by `db` (query string kept).
fn with_database(url: &str, db: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    let after_scheme = main.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match main[after_scheme..].find('/') {
        Some(i) => &main[..after_scheme + i],
        None => main,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn pg_exec(url: &str, sql: String) -> Result<(), String> {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect(url).await.map_err(|e| format!("connect {url}: {e}"))?;
    sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut c).await.map_err(|e| format!("{sql}: {e}"))?;
    let _ = c.close().await;
    Ok(())
}

impl TestEnv {
    /// A fresh environment on `backend`; None when PostgreSQL is not configured (see [`postgres_url`]).
    pub async fn new(backend: Backend, label: &str) -> Option<TestEnv> {
        let dir = TempDir::new(label);
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let (db_url, pg) = match backend {
            Backend::Sqlite => (format!("sqlite://{}/gateway.db", dir.path.display()), None),
            Backend::Postgres => {
                // CREATE and DROP DATABASE run on the server's maintenance database (`postgres`): the
                // database TEST_POSTGRES_URL names need not exist.
                let server = with_database(&postgres_url()?, "postgres");
                let name = format!("scimgw_t_{}", uuid::Uuid::new_v4().simple());
                pg_exec(&server, format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| panic!("cannot create the test database: {e}"));
                (with_database(&server, &name), Some((server, name)))
            }
        };
        Some(TestEnv { backend, db_url, key, dir, pg, transcript: Mutex::new(Vec::new()) })
    }

    /// The environment every process of this test gets (on top of an empty one: nothing leaks in from
    /// the developer's shell but PATH and HOME).
    pub fn vars(&self) -> Vec<(String, String)> {
        let cache = profile_dir().join("scimgw-it-plugin-cache");
        let mut v = vec![
            ("DATABASE_URL".to_owned(), self.db_url.clone()),
            ("GATEWAY_CREDENTIAL_KEY".to_owned(), self.key.clone()),
            ("GATEWAY_PLUGIN_CACHE_DIR".to_owned(), cache.display().to_string()),
            ("GATEWAY_LOG_FORMAT".to_owned(), "json".to_owned()),
            ("RUST_LOG".to_owned(), "info,sqlx=warn".to_owned()),
            ("RUST_BACKTRACE".to_owned(), "1".to_owned()),
        ];
        for k in ["PATH", "HOME", "TMPDIR"] {
            if let Ok(val) = std::env::var(k) {
                v.push((k.to_owned(), val));
            }
        }
        v
    }

    /// Runs `gateway ARGS…` against this test's database and key.
    pub async fn cli(&self, args: &[&str]) -> CliOut {
        let mut cmd = tokio::process::Command::new(gateway_bin());
        cmd.env_clear().envs(self.vars()).args(args).current_dir(&self.dir.path).stdin(Stdio::null());
        let out = cmd.output().await.expect("gateway CLI runs");
        let out = CliOut {
            args: args.iter().map(|s| s.to_string()).collect(),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if let Ok(mut t) = self.transcript.lock() {
            t.push(out.clone());
        }
        out
    }

    /// Runs the CLI and returns stdout as JSON, asserting success.
    pub async fn cli_json(&self, args: &[&str]) -> Value {
        self.cli(args).await.json()
    }

    /// Everything the CLI printed in this test (stdout and stderr of every run).
    pub fn cli_transcript(&self) -> String {
        let t = self.transcript.lock().expect("transcript");
        // The command lines are left out: they may carry secrets (`--credential name=secret`) on purpose.
        t.iter()
            .map(|o| format!("$ gateway {} …\n{}{}", o.args[..o.args.len().min(2)].join(" "), o.stdout, o.stderr))
            .collect()
    }

    /// `gateway tenant create` with a fresh name: (name, token).
    pub async fn create_tenant(&self) -> (String, String) {
        let name = super::unique_tenant();
        let v = self.cli_json(&["tenant", "create", &name]).await;
        (name, v["token"].as_str().expect("token").to_owned())
    }

    /// `gateway plugin add <plugins>/<file>.wasm --name NAME`.
    pub async fn add_plugin(&self, file: &str, name: &str) -> Value {
        let path = plugin_file(file);
        let v = self.cli_json(&["plugin", "add", &path.display().to_string(), "--name", name]).await;
        assert_eq!(v["name"], name, "{v}");
        v
    }

    /// `gateway target status --tenant T NAME`.
    pub async fn target_status(&self, tenant: &str, target: &str) -> Value {
        self.cli_json(&["target", "status", "--tenant", tenant, target]).await
    }

    /// `gateway outbox list|dead --tenant T --target N`.
    pub async fn outbox(&self, tenant: &str, target: &str, dead: bool) -> Vec<Value> {
        let cmd = if dead { "dead" } else { "list" };
        let v = self.cli_json(&["outbox", cmd, "--tenant", tenant, "--target", target, "--limit", "10000"]).await;
        v.as_array().expect("outbox rows").clone()
    }

    /// The tenant's change log (`gateway changes`), in order.
    pub async fn changes(&self, tenant: &str) -> Vec<Value> {
        let out = self.cli(&["changes", tenant, "--limit", "1000000"]).await;
        assert!(out.status.success(), "gateway changes failed: {}", out.stderr);
        out.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("change line {l}: {e}")))
            .collect()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some((server, name)) = self.pg.take() {
            // Drop runs inside the test's runtime: use a thread with its own.
            let res = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(pg_exec(&server, format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
            })
            .join();
            if let Ok(Err(e)) = res {
                eprintln!("could not drop the test database: {e}");
            }
        }
    }
}

// ---- gateway serve -----------------------------------------------------------------------------------

/// A `gateway serve` child process. Killed on drop; its stdout and stderr go to `log_path` (the tail is
/// printed when the test fails).
pub struct GatewayProc {
    pub label: String,
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    /// The admin API's bearer token.
    pub admin_token: String,
    pub log_path: PathBuf,
    vars: Vec<(String, String)>,
    child: Option<Child>,
    pub http: reqwest::Client,
    starts: u32,
}

impl GatewayProc {
    /// Starts `gateway serve` on a free port with the test's environment plus `extra`, and waits until
    /// `/healthz` answers.
    pub async fn spawn(env: &TestEnv, label: &str, extra: &[(&str, &str)]) -> GatewayProc {
        gateway::plugins::egress::install_crypto_provider();
        let port = free_port();
        let admin_token = format!("admin-{}", uuid::Uuid::new_v4().simple());
        let mut vars = env.vars();
        vars.push(("GATEWAY_BIND".into(), format!("127.0.0.1:{port}")));
        vars.push(("GATEWAY_ADMIN_TOKEN".into(), admin_token.clone()));
        vars.push(("GATEWAY_WORKERS".into(), "2".into()));
        for (k, v) in extra {
            vars.retain(|(name, _)| name != k);
            vars.push((k.to_string(), v.to_string()));
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        let mut p = GatewayProc {
            label: label.to_owned(),
            port,
            origin: format!("http://127.0.0.1:{port}"),
            admin_token,
            log_path: env.dir.path.join(format!("{label}.log")),
            vars,
            child: None,
            http,
            starts: 0,
        };
        p.start().await;
        p
    }

    fn start_child(&mut self) {
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log_path).expect("log file");
        let _ = writeln!(log, "=== {} start #{} ===", self.label, self.starts);
        let err = log.try_clone().expect("log file clone");
        let child = Command::new(gateway_bin())
            .arg("serve")
            .env_clear()
            .envs(self.vars.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn gateway serve");
        self.child = Some(child);
    }

    async fn start(&mut self) {
        self.start_child();
        let started = Instant::now();
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("{} exited during startup ({status}):\n{}", self.label, self.log_tail(40));
            }
            let ok = self
                .http
                .get(format!("{}/healthz", self.origin))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!("{} did not answer /healthz within 60 s:\n{}", self.label, self.log_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (no graceful shutdown), and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again with the same environment and port (after [`kill9`] or a crash).
    pub async fn restart(&mut self) {
        self.kill9();
        self.start().await;
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let mut f = match std::fs::File::open(&self.log_path) {
            Ok(f) => f,
            Err(e) => return format!("(no log: {e})"),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(256 * 1024)));
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        let lines: Vec<&str> = s.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!("--- {} log tail ({}) ---\n{}", self.label, self.log_path.display(), lines[from..].join("\n"))
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let r = self.http.get(format!("{}/metrics", self.origin)).send().await.expect("GET /metrics");
        r.text().await.unwrap_or_default()
    }

    /// Sum of a counter over all label sets in `/metrics` (0 when absent).
    pub async fn counter(&self, name: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    }

    /// A SCIM client for a tenant of this process.
    pub fn scim(&self, tenant: &str, token: &str) -> Scim {
        Scim { base: format!("{}/scim/v2/{tenant}", self.origin), token: token.to_owned(), http: self.http.clone() }
    }

    /// An admin API request (`path` under `/admin/v1`) with the admin token.
    pub fn admin(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/admin/v1{path}", self.origin))
            .header(AUTHORIZATION, format!("Bearer {}", self.admin_token))
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(60));
        }
    }
}

// ---- SCIM client -------------------------------------------------------------------------------------

/// A tenant's SCIM endpoint on a gateway process, used the way Entra does.
#[derive(Clone)]
pub struct Scim {
    /// `http://127.0.0.1:<port>/scim/v2/<tenant>`
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Scim {
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .header(CONTENT_TYPE, SCIM_JSON)
    }

    /// One request; Err when it got no answer (connection refused or reset, timeout).
    pub async fn try_call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Resp, reqwest::Error> {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let resp = rb.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Ok((status, headers, body))
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        read(rb.send().await.expect("request is answered")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(&body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(&body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// POSTs an Entra-style user; returns its id (asserting 201).
    pub async fn create_user(&self, user_name: &str) -> String {
        let (st, _, body) = self.post("/Users", super::entra_user(user_name)).await;
        assert_eq!(st.as_u16(), 201, "create user {user_name}: {body}");
        body["id"].as_str().expect("user id").to_owned()
    }

    /// POSTs an Entra-style group without members; returns its id (asserting 201).
    pub async fn create_group(&self, display_name: &str) -> String {
        let (st, _, body) = self.post("/Groups", super::entra_group(display_name)).await;
        assert_eq!(st.as_u16(), 201, "create group {display_name}: {body}");
        body["id"].as_str().expect("group id").to_owned()
    }

    /// PATCH asserting 2xx.
    pub async fn patch_ok(&self, path: &str, ops: Value) {
        let (st, _, body) = self.patch(path, super::patch_op(ops)).await;
        assert!(st.is_success(), "PATCH {path}: {st} {body}");
    }
}

// ---- the sink ----------------------------------------------------------------------------------------

/// How the sink answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
    /// Wait this long before answering (a slow LMS).
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply { status, retry_after: None, body: String::new(), delay: Duration::ZERO }
    }
    pub fn ok() -> Reply {
        Reply::status(200)
    }
    pub fn retry_after(mut self, v: &str) -> Reply {
        self.retry_after = Some(v.to_owned());
        self
    }
    pub fn body(mut self, b: &str) -> Reply {
        self.body = b.to_owned();
        self
    }
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// When it arrived (before any scripted delay).
    pub at: Instant,
    /// Arrival order (0-based) at this sink.
    pub n: usize,
    pub path: String,
    pub op_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub raw: Vec<u8>,
    /// The body as JSON (Null when it is not JSON).
    pub body: Value,
    /// What the sink answered.
    pub status: u16,
}

impl Hit {
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }
    pub fn resource_id(&self) -> &str {
        self.body["resourceId"].as_str().unwrap_or("")
    }
    pub fn seq(&self) -> i64 {
        self.body["seq"].as_i64().unwrap_or(-1)
    }
    pub fn op(&self) -> &str {
        self.op_id.as_deref().unwrap_or("")
    }
    /// One line for failure messages.
    pub fn line(&self) -> String {
        format!(
            "#{} {} op={} seq={} {} {} resync={}",
            self.n,
            self.status,
            self.op(),
            self.seq(),
            self.kind(),
            self.resource_id(),
            self.body["resync"]
        )
    }
}

struct Script {
    queue: VecDeque<Reply>,
    default: Reply,
}

struct SinkState {
    hits: Mutex<Vec<Hit>>,
    script: Mutex<Script>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers from a script: queued one-shot
/// replies first (in order), then the default reply (200 unless changed).
pub struct Sink {
    pub port: u16,
    /// `http://127.0.0.1:<port>/hook`
    pub url: String,
    /// `http://127.0.0.1:<port>` (for a target's allowed hosts)
    pub origin: String,
    state: Arc<SinkState>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn sink_handler(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<SinkState>>) -> HttpResponse {
    let at = Instant::now();
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let reply = {
        let mut s = state.script.lock().expect("script");
        let default = s.default.clone();
        s.queue.pop_front().unwrap_or(default)
    };
    {
        let mut hits = state.hits.lock().expect("hits");
        let n = hits.len();
        hits.push(Hit {
            at,
            n,
            path: req.path().to_owned(),
            op_id: h("x-scimgw-op-id"),
            idempotency_key: h("idempotency-key"),
            signature: h("x-scimgw-signature"),
            content_type: h("content-type"),
            raw: body.to_vec(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            status: reply.status,
        });
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(reply.status).expect("a valid status code for the sink"),
    );
    if let Some(ra) = &reply.retry_after {
        resp.insert_header(("Retry-After", ra.as_str()));
    }
    resp.body(reply.body)
}

impl Sink {
    pub fn start() -> Sink {
        let state = Arc::new(SinkState {
            hits: Mutex::new(Vec::new()),
            script: Mutex::new(Script { queue: VecDeque::new(), default: Reply::ok() }),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            let res: std::io::Result<()> = sys.block_on(async move {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                let port = listener.local_addr()?.port();
                let data = web::Data::new(st);
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(16 << 20))
                        .default_service(web::to(sink_handler))
                })
                .workers(2)
                .shutdown_timeout(1)
                .listen(listener)?
                .run();
                let _ = tx.send((port, server.handle()));
                server.await
            });
            if let Err(e) = res {
                eprintln!("sink failed: {e}");
            }
        });
        let (port, handle) = rx.recv_timeout(Duration::from_secs(30)).expect("sink reports its port");
        Sink {
            port,
            url: format!("http://127.0.0.1:{port}/hook"),
            origin: format!("http://127.0.0.1:{port}"),
            state,
            handle,
            thread: Some(thread),
        }
    }

    /// The reply once the queue is empty.
    pub fn set_default(&self, r: Reply) {
        self.state.script.lock().expect("script").default = r;
    }

    /// Queues `r` for the next `n` requests (after what is queued already).
    pub fn push(&self, r: Reply, n: usize) {
        let mut s = self.state.script.lock().expect("script");
        for _ in 0..n {
            s.queue.push_back(r.clone());
        }
    }

    /// Every request so far, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().expect("hits").clone()
    }

    /// The requests answered with 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<Hit> {
        self.hits().into_iter().filter(Hit::delivered).collect()
    }

    /// Waits until `cond` holds for the hits so far; returns them, or Err with the hits listed.
    pub async fn wait(&self, what: &str, timeout: Duration, cond: impl Fn(&[Hit]) -> bool) -> Result<Vec<Hit>, String> {
        let r = poll(what, timeout, Duration::from_millis(25), async || {
            let h = self.hits();
            cond(&h).then_some(h)
        })
        .await;
        r.map_err(|e| format!("{e}\nsink received {} request(s):\n{}", self.hits().len(), self.dump(80)))
    }

    /// The last `n` hits, one per line.
    pub fn dump(&self, n: usize) -> String {
        let h = self.hits();
        let from = h.len().saturating_sub(n);
        h[from..].iter().map(|h| format!("  {}\n", h.line())).collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
