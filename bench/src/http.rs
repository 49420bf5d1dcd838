//! A deliberately small HTTP/1.1 keep-alive client on a raw tokio `TcpStream`.
//!
//! The benchmark shares a 2-core machine with the server under test, so the client
//! avoids everything it does not need: one request in flight per connection, no
//! pipelining, no TLS, no redirects, no compression. It understands
//! `Content-Length` bodies, `Transfer-Encoding: chunked` bodies, read-until-close
//! bodies, interim `1xx` responses and `Connection: close`.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head accepted (status line + headers).
const MAX_HEAD: usize = 64 * 1024;
/// Largest single chunk / Content-Length accepted, as a sanity bound.
const MAX_BODY: usize = 512 * 1024 * 1024;

/// Where requests go: parsed once from `--base-url`, shared by all connections.
#[derive(Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// Path prefix of the SCIM base URL, without a trailing slash (e.g. `/scim/v2/t1`).
    pub base_path: String,
    /// Constant header block sent with every request (Host, Authorization, Content-Type).
    fixed_headers: Vec<u8>,
}

impl Target {
    pub fn parse(base_url: &str, token: &str) -> Result<Self> {
        let rest = base_url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("only plain http:// base URLs are supported, got {base_url:?}"))?;
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(p) => (&rest[..p], &rest[p..]),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            bail!("base URL must not contain a query or fragment: {base_url:?}");
        }
        if authority.is_empty() {
            bail!("base URL has no host: {base_url:?}");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| anyhow!("bad IPv6 host in {base_url:?}"))?;
            let port = match v6[end + 1..].strip_prefix(':') {
                Some(p) => p.parse().with_context(|| format!("bad port in {base_url:?}"))?,
                None => 80,
            };
            (v6[..end].to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().with_context(|| format!("bad port in {base_url:?}"))?),
                None => (authority.to_string(), 80),
            }
        };
        if token.contains(['\r', '\n']) {
            bail!("token must not contain line breaks");
        }
        let mut fixed_headers = Vec::with_capacity(128 + token.len());
        fixed_headers.extend_from_slice(b"Host: ");
        fixed_headers.extend_from_slice(authority.as_bytes());
        fixed_headers.extend_from_slice(b"\r\nAuthorization: Bearer ");
        fixed_headers.extend_from_slice(token.as_bytes());
        fixed_headers.extend_from_slice(b"\r\nContent-Type: application/scim+json\r\n");
        Ok(Self { host, port, base_path: path.trim_end_matches('/').to_string(), fixed_headers })
    }
}

/// Failure of one attempt; `retryable` means nothing of a response was received on
/// a connection that had been used before (the server may have closed it while idle).
struct AttemptError {
    err: anyhow::Error,
    retryable: bool,
}

impl AttemptError {
    fn fatal(err: anyhow::Error) -> Self {
        Self { err, retryable: false }
    }
}

/// One keep-alive connection; reconnects lazily after errors or `Connection: close`.
pub struct Conn {
    target: Arc<Target>,
    stream: Option<TcpStream>,
    /// Read buffer; unread data is `rbuf[rpos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    body: Vec<u8>,
    received_any: bool,
    /// Set while a request is in progress; if a request future is dropped (timeout),
    /// the connection is in an unknown state and is discarded on the next request.
    in_flight: bool,
    /// Number of TCP connections opened so far.
    pub connects: u64,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Self {
        Self {
            target,
            stream: None,
            rbuf: Vec::with_capacity(32 * 1024),
            rpos: 0,
            wbuf: Vec::with_capacity(8 * 1024),
            body: Vec::with_capacity(32 * 1024),
            received_any: false,
            in_flight: false,
            connects: 0,
        }
    }

    /// Body of the last successful response.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Sends `method {base_path}{path_and_query}` and reads the whole response.
    /// Returns the status code; the body is available via [`Conn::body`].
    pub async fn request(&mut self, method: &str, path_and_query: &str, body: Option<&[u8]>) -> Result<u16> {
        if self.in_flight {
            self.stream = None;
        }
        self.in_flight = true;
        self.build_request(method, path_and_query, body);
        let is_head = method.eq_ignore_ascii_case("HEAD");
        let reused = self.stream.is_some();
        let result = match self.attempt(is_head).await {
            Ok(status) => Ok(status),
            Err(e) if reused && e.retryable => {
                // Stale keep-alive connection: reconnect and send once more.
                self.attempt(is_head).await.map_err(|e| e.err)
            }
            Err(e) => Err(e.err),
        };
        self.in_flight = false;
        result
    }

    fn build_request(&mut self, method: &str, path_and_query: &str, body: Option<&[u8]>) {
        let w = &mut self.wbuf;
        w.clear();
        w.extend_from_slice(method.as_bytes());
        w.push(b' ');
        w.extend_from_slice(self.target.base_path.as_bytes());
        w.extend_from_slice(path_and_query.as_bytes());
        w.extend_from_slice(b" HTTP/1.1\r\n");
        w.extend_from_slice(&self.target.fixed_headers);
        match body {
            Some(b) => {
                // Writing into a Vec cannot fail.
                let _ = write!(w, "Content-Length: {}\r\n\r\n", b.len());
                w.extend_from_slice(b);
            }
            None => w.extend_from_slice(b"\r\n"),
        }
    }

    async fn attempt(&mut self, is_head: bool) -> Result<u16, AttemptError> {
        if self.stream.is_none() {
            let t = &self.target;
            let stream = TcpStream::connect((t.host.as_str(), t.port))
                .await
                .with_context(|| format!("connect to {}:{}", t.host, t.port))
                .map_err(AttemptError::fatal)?;
            stream.set_nodelay(true).context("set TCP_NODELAY").map_err(AttemptError::fatal)?;
            self.connects += 1;
            self.stream = Some(stream);
        }
        // No pipelining: anything left over from a previous response is garbage.
        self.rbuf.clear();
        self.rpos = 0;
        self.received_any = false;

        let Some(stream) = self.stream.as_mut() else {
            return Err(AttemptError::fatal(anyhow!("not connected")));
        };
        if let Err(e) = stream.write_all(&self.wbuf).await {
            self.stream = None;
            return Err(AttemptError { err: anyhow::Error::new(e).context("write request"), retryable: true });
        }
        match self.read_response(is_head).await {
            Ok((status, close)) => {
                if close {
                    self.stream = None;
                }
                Ok(status)
            }
            Err(err) => {
                self.stream = None;
                Err(AttemptError { err, retryable: !self.received_any })
            }
        }
    }

    /// Reads more bytes into `rbuf`; returns the number read (0 = EOF).
    async fn read_more(&mut self) -> Result<usize> {
        let stream = self.stream.as_mut().context("not connected")?;
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        } else if self.rpos >= 64 * 1024 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        self.rbuf.reserve(16 * 1024);
        let n = stream.read_buf(&mut self.rbuf).await.context("read response")?;
        if n > 0 {
            self.received_any = true;
        }
        Ok(n)
    }

    /// Ensures at least `n` unread bytes are buffered.
    async fn fill(&mut self, n: usize) -> Result<()> {
        while self.rbuf.len() - self.rpos < n {
            if self.read_more().await? == 0 {
                bail!("connection closed by server in the middle of a response");
            }
        }
        Ok(())
    }

    /// Returns the absolute index of the next `needle` at or after `rpos`, reading as needed.
    async fn find_buffered(&mut self, needle: &[u8], limit: usize, what: &str) -> Result<usize> {
        let mut scan = self.rpos;
        loop {
            if let Some(p) = find(&self.rbuf[scan..], needle) {
                return Ok(scan + p);
            }
            if self.rbuf.len() - self.rpos > limit {
                bail!("{what} longer than {limit} bytes");
            }
            // Re-scan the tail in case the needle straddles the read boundary; offsets
            // are relative to rpos because read_more may compact the buffer.
            let back = (self.rbuf.len() - self.rpos).saturating_sub(needle.len() - 1);
            if self.read_more().await? == 0 {
                if self.received_any || self.rpos < self.rbuf.len() {
                    bail!("connection closed by server in the middle of a response");
                }
                bail!("connection closed by server before a response");
            }
            scan = self.rpos + back;
        }
    }

    /// Reads one response into `self.body`; returns (status, connection-must-close).
    async fn read_response(&mut self, is_head: bool) -> Result<(u16, bool)> {
        loop {
            let end = self.find_buffered(b"\r\n\r\n", MAX_HEAD, "response head").await?;
            let head = parse_head(&self.rbuf[self.rpos..end])?;
            self.rpos = end + 4;
            if (100..200).contains(&head.status) && head.status != 101 {
                continue; // interim response (100 Continue, 103 Early Hints)
            }
            self.body.clear();
            let mut close = head.close;
            if is_head || head.status == 204 || head.status == 304 || head.status == 101 {
                return Ok((head.status, close));
            }
            if head.chunked {
                self.read_chunked().await?;
            } else if let Some(n) = head.content_length {
                self.read_body_bytes(n).await?;
            } else {
                // No framing: the body runs until the server closes the connection.
                loop {
                    self.body.extend_from_slice(&self.rbuf[self.rpos..]);
                    self.rpos = self.rbuf.len();
                    if self.body.len() > MAX_BODY {
                        bail!("response body larger than {MAX_BODY} bytes");
                    }
                    if self.read_more().await? == 0 {
                        break;
                    }
                }
                close = true;
            }
            return Ok((head.status, close));
        }
    }

    async fn read_body_bytes(&mut self, n: usize) -> Result<()> {
        if n > MAX_BODY {
            bail!("response body of {n} bytes exceeds the {MAX_BODY}-byte limit");
        }
        self.fill(n).await?;
        self.body.extend_from_slice(&self.rbuf[self.rpos..self.rpos + n]);
        self.rpos += n;
        Ok(())
    }

    async fn read_chunked(&mut self) -> Result<()> {
        loop {
            let line_end = self.find_buffered(b"\r\n", 4096, "chunk size line").await?;
            let line = &self.rbuf[self.rpos..line_end];
            let size_part = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
            let size = std::str::from_utf8(size_part)
                .ok()
                .and_then(|s| usize::from_str_radix(s, 16).ok())
                .ok_or_else(|| anyhow!("bad chunk size line {:?}", String::from_utf8_lossy(line)))?;
            self.rpos = line_end + 2;
            if size == 0 {
                // Trailer section: header lines until an empty line.
                loop {
                    let e = self.find_buffered(b"\r\n", MAX_HEAD, "chunked trailer").await?;
                    let empty = e == self.rpos;
                    self.rpos = e + 2;
                    if empty {
                        return Ok(());
                    }
                }
            }
            if self.body.len() + size > MAX_BODY {
                bail!("chunked response body exceeds the {MAX_BODY}-byte limit");
            }
            self.read_body_bytes(size).await?;
            self.fill(2).await?;
            if &self.rbuf[self.rpos..self.rpos + 2] != b"\r\n" {
                bail!("chunk not terminated by CRLF");
            }
            self.rpos += 2;
        }
    }
}

struct Head {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
}

fn parse_head(head: &[u8]) -> Result<Head> {
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let bad_status = || anyhow!("bad status line {:?}", String::from_utf8_lossy(status_line));
    let rest = status_line.strip_prefix(b"HTTP/1.").ok_or_else(bad_status)?;
    let http10 = rest.first() == Some(&b'0');
    let code = rest.get(2..5).ok_or_else(bad_status)?;
    let status = std::str::from_utf8(code).ok().and_then(|s| s.parse::<u16>().ok()).ok_or_else(bad_status)?;
    let mut h = Head { status, content_length: None, chunked: false, close: http10 };
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| anyhow!("bad Content-Length {:?}", String::from_utf8_lossy(value)))?;
            h.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default().trim_ascii();
            h.chunked = last.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    h.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    h.close = false;
                }
            }
        }
    }
    Ok(h)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_base_url() -> Result<()> {
        let t = Target::parse("http://127.0.0.1:8080/scim/v2/t1/", "tok")?;
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 8080);
        assert_eq!(t.base_path, "/scim/v2/t1");
        let t = Target::parse("http://[::1]/x", "tok")?;
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert!(Target::parse("https://example.com", "tok").is_err());
        Ok(())
    }

    #[test]
    fn parses_head() -> Result<()> {
        let h = parse_head(b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\nconnection: close")?;
        assert_eq!((h.status, h.content_length, h.close, h.chunked), (201, Some(12), true, false));
        let h = parse_head(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip, chunked")?;
        assert_eq!((h.status, h.close, h.chunked), (200, true, true));
        Ok(())
    }

    /// Serves canned responses, one per request, on a fresh listener. Each entry is
    /// (raw response, close-after-writing).
    async fn canned(responses: Vec<(&'static [u8], bool)>) -> Result<Arc<Target>> {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            let mut responses = responses.into_iter();
            'accept: while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = Vec::new();
                loop {
                    // Read one request head (the tests send bodies with Content-Length 0 or none).
                    while find(&buf, b"\r\n\r\n").is_none() {
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => continue 'accept,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = find(&buf, b"\r\n\r\n").unwrap_or_default() + 4;
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let body_len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while buf.len() < end + body_len {
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => continue 'accept,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..end + body_len);
                    let Some((resp, close)) = responses.next() else {
                        return;
                    };
                    // Dribble the response out in small pieces to exercise partial reads.
                    for piece in resp.chunks(7) {
                        if sock.write_all(piece).await.is_err() {
                            continue 'accept;
                        }
                    }
                    if close {
                        continue 'accept;
                    }
                }
            }
        });
        Ok(Arc::new(Target::parse(&format!("http://127.0.0.1:{port}/scim/v2/t"), "tok")?))
    }

    async fn within<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(Duration::from_secs(5), f).await?
    }

    #[tokio::test]
    async fn framing_and_reconnects() -> Result<()> {
        let target = canned(vec![
            // Content-Length, keep-alive.
            (b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\n{\"id\":\"a\"}", false),
            // Interim 100 then chunked with extensions and a trailer.
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  4;x=y\r\nabcd\r\n0000A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
                false,
            ),
            // 204 without body, then the server silently drops the idle connection.
            (b"HTTP/1.1 204 No Content\r\n\r\n", true),
            // Served on a new connection after the transparent retry; read-until-close body.
            (b"HTTP/1.0 200 OK\r\n\r\nuntil close", true),
            (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false),
        ])
        .await?;
        let mut c = Conn::new(target);
        assert_eq!(within(c.request("POST", "/Users", Some(b"{}"))).await?, 201);
        assert_eq!(c.body(), b"{\"id\":\"a\"}");
        assert_eq!(within(c.request("GET", "/Users", None)).await?, 200);
        assert_eq!(c.body(), b"abcd0123456789");
        assert_eq!(within(c.request("PATCH", "/Users/a", Some(b"{}"))).await?, 204);
        assert!(c.body().is_empty());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(within(c.request("GET", "/x", None)).await?, 200);
        assert_eq!(c.body(), b"until close");
        assert_eq!(within(c.request("GET", "/y", None)).await?, 404);
        assert_eq!(c.connects, 3);
        // The canned server is exhausted and closes: a fresh connection failing is an error.
        assert!(within(c.request("GET", "/z", None)).await.is_err());
        Ok(())
    }
}
