//! One test's world for the child-process tests: a temp directory, a database (a SQLite file in it, or a
//! fresh PostgreSQL database on the server of `TEST_POSTGRES_URL`, dropped at the end), a credential key,
//! the environment every process gets, and the `gateway` CLI run against them (every run kept, to check
//! that no output shows a secret).

use super::bins::{gateway_bin, plugin_file, profile_dir};
use crate::common::{Backend, postgres_url, unique_tenant};
use base64::Engine as _;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

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
    #[expect(dead_code, reason = "for scenarios that differ per backend; none does yet")]
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
        let name = unique_tenant();
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

    /// Waits (90 s at most) until the target has translated every change and delivered every operation,
    /// then asserts it is active with no dead operations (unless `dead_ok`); returns its status.
    pub async fn caught_up(&self, tenant: &str, target: &str, gw: &super::GatewayProc, dead_ok: bool) -> Value {
        let what = format!("target {target} to catch up");
        let s = super::poll(&what, Duration::from_secs(90), Duration::from_millis(50), async || {
            let s = self.target_status(tenant, target).await;
            (s["pending"] == 0 && s["cursor_seq"] == s["last_seq"] && s["resync_running"] != true).then_some(s)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(30)));
        assert_eq!(s["state"], "active", "{s}");
        if !dead_ok {
            assert_eq!(s["dead"], 0, "dead operations: {:?}", self.outbox(tenant, target, true).await);
        }
        s
    }

    /// `gateway target config` with `config`, then the 2.5 s the server takes to read it (it reads
    /// target configurations at most 2 s old).
    pub async fn reconfigure(&self, tenant: &str, target: &str, config: &Value) {
        self.cli_json(&["target", "config", "--tenant", tenant, target, "--config", &config.to_string()]).await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
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
