//! Tests of outbound plugin HTTP, one file per concern, and what they share: a tiny HTTP/1.1 server
//! (tokio net only) that records every request and answers as each test tells it, and small helpers.

mod client;
mod credentials;
mod oauth2;
mod policy;
mod ssrf;

use super::budget::*;
use super::client::*;
use super::credentials::*;
use super::oauth2::*;
use super::policy::*;
use super::ssrf::*;
use super::*;
use sha2::Sha256;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

// ----- tiny HTTP/1.1 test server (tokio net only, no io-util) -----

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

enum Reply {
    Bytes(Vec<u8>),
    /// Read the request, then never answer.
    Hang,
    /// Answer after a pause.
    Delayed(Duration, Vec<u8>),
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct TestServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(handler);
        let (reqs, conns) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                tasks.spawn(serve_conn(stream, handler.clone(), reqs.clone()));
            }
        });
        TestServer { addr, requests, connections, task }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_some(stream: &TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 8192];
    loop {
        if stream.readable().await.is_err() {
            return false;
        }
        match stream.try_read(&mut tmp) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                return true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return false,
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        if stream.writable().await.is_err() {
            return false;
        }
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return false,
        }
    }
    true
}

async fn serve_conn(stream: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Recorded>>>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !read_some(&stream, &mut buf).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut start = lines.next().unwrap_or_default().split(' ');
        let method = start.next().unwrap_or_default().to_string();
        let target = start.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize =
            headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            if !read_some(&stream, &mut buf).await {
                return;
            }
        }
        let body = buf[body_start..body_start + len].to_vec();
        buf.drain(..body_start + len);
        let rec = Recorded { method, target, headers, body };
        log.lock().unwrap().push(rec.clone());
        match handler(&rec) {
            Reply::Bytes(bytes) => {
                if !write_all(&stream, &bytes).await {
                    return;
                }
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Reply::Delayed(pause, bytes) => {
                tokio::time::sleep(pause).await;
                if !write_all(&stream, &bytes).await {
                    return;
                }
            }
        }
    }
}

fn http_reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Reply::Bytes(bytes)
}

fn delayed(pause: Duration, reply: Reply) -> Reply {
    match reply {
        Reply::Bytes(bytes) => Reply::Delayed(pause, bytes),
        other => other,
    }
}

fn chunked_reply(chunk: usize, count: usize) -> Reply {
    let mut bytes = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..count {
        bytes.extend_from_slice(format!("{chunk:x}\r\n").as_bytes());
        bytes.extend(std::iter::repeat_n(b'a', chunk));
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    Reply::Bytes(bytes)
}

// ----- helpers -----

fn hosts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn denied(r: Result<impl fmt::Debug, EgressError>) -> String {
    match r {
        Err(EgressError::Denied(msg)) => msg,
        other => panic!("expected Denied, got {other:?}"),
    }
}

/// http + private allowed, only this server's origin.
fn local_policy(server: &TestServer) -> Policy {
    Policy::new(&[format!("http://127.0.0.1:{}", server.port())], true, true).unwrap()
}

fn limits() -> Limits {
    Limits { connect_timeout: Duration::from_secs(2), request_timeout: Duration::from_secs(5), ..Limits::default() }
}

fn creds() -> HashMap<String, String> {
    HashMap::from([
        ("lms-token".to_string(), "s3cr3t-token".to_string()),
        ("lms-basic".to_string(), "user:pass".to_string()),
        ("lms-key".to_string(), "api-key-123".to_string()),
        ("lms-hmac".to_string(), "hmac-signing-key".to_string()),
        ("bad".to_string(), "line\nbreak".to_string()),
    ])
}

fn get(url: String) -> Request {
    Request { method: Method::Get, url, headers: vec![], body: None, auth: None }
}

/// Independent HMAC-SHA256 (RFC 2104 over the sha2 crate, not the hmac crate).
fn reference_hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    use sha2::Digest;
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&ipad).chain_update(msg).finalize();
    let outer = Sha256::new().chain_update(&opad).chain_update(inner).finalize();
    hex::encode(outer)
}
