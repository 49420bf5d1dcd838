//! The sink: an HTTP server on 127.0.0.1 standing in for an LMS. It records every request (headers the
//! delivery contract names, raw and JSON body, arrival time and order) and answers from a script the test
//! changes at runtime: queued one-shot replies first, then a default (200 unless changed).

use super::poll;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    #[expect(dead_code, reason = "tests use `url` and `origin`; the bare port is there for the next one")]
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
