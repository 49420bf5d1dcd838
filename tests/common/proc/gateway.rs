//! `gateway serve` as a child process: spawned on a free port with the test's environment, ready once
//! `/healthz` answers, `kill -9` and restart with the same environment, log captured to a file (its tail
//! printed when the test fails), `/metrics` counters, admin API requests and SCIM clients of its tenants.

use super::bins::gateway_bin;
use super::env::TestEnv;
use super::free_port;
use crate::common::ScimClient;
use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `gateway serve` child process. Killed on drop; its stdout and stderr go to `log_path` (the tail is
/// printed when the test fails).
pub struct GatewayProc {
    pub label: String,
    #[expect(dead_code, reason = "tests use `origin`; the bare port is there for the next one")]
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
    pub fn scim(&self, tenant: &str, token: &str) -> ScimClient {
        ScimClient::new(self.http.clone(), &self.origin, tenant, token)
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
