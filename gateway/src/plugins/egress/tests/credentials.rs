//! Headers and credentials: reserved and invalid plugin headers, the injected auth headers, redacted
//! `Debug` output and the per-call budget.

use super::*;

#[test]
fn reserved_and_invalid_plugin_headers_are_denied() {
    let c = creds();
    for name in [
        "Authorization",
        "host",
        "Content-Length",
        "transfer-encoding",
        "Connection",
        "Proxy-Authorization",
        "proxy-connection",
        "Upgrade",
    ] {
        let headers = vec![(name.to_string(), "x".to_string())];
        let msg = denied(build_headers(&headers, None, &c, b""));
        assert!(msg.contains(&name.to_ascii_lowercase()), "{name}: {msg}");
    }
    // The header an Auth injects cannot be supplied by the plugin, in any case.
    let auth = Auth::Header { header: "X-Api-Key".to_string(), credential: "lms-key".to_string() };
    let headers = vec![("x-API-key".to_string(), "mine".to_string())];
    let msg = denied(build_headers(&headers, Some(&auth), &c, b""));
    assert!(msg.contains("x-api-key"), "{msg}");
    // Invalid names and values.
    let msg = denied(build_headers(&[("bad name".into(), "v".into())], None, &c, b""));
    assert!(msg.contains("invalid header name \"bad name\""), "{msg}");
    let msg = denied(build_headers(&[("x-a".into(), "v\r\nx-b: y".into())], None, &c, b""));
    assert_eq!(msg, "invalid value for header x-a");
    // Auth headers may not target routing/framing headers.
    let auth = Auth::Header { header: "Host".to_string(), credential: "lms-key".to_string() };
    assert!(denied(build_headers(&[], Some(&auth), &c, b"")).contains("host"));
}

#[test]
fn unknown_or_unusable_credentials_are_denied_without_leaking() {
    let c = creds();
    let msg = denied(build_headers(&[], Some(&Auth::Bearer("x".into())), &c, b""));
    assert_eq!(msg, "unknown credential 'x'");
    let msg = denied(build_headers(&[], Some(&Auth::Bearer("bad".into())), &c, b""));
    assert!(msg.contains("'bad'") && !msg.contains("line"), "{msg}");
}

#[test]
fn auth_header_values() {
    let c = creds();
    let map = build_headers(&[], Some(&Auth::Bearer("lms-token".into())), &c, b"").unwrap();
    assert_eq!(map["authorization"], "Bearer s3cr3t-token");
    assert!(map["authorization"].is_sensitive());
    let map = build_headers(&[], Some(&Auth::Basic("lms-basic".into())), &c, b"").unwrap();
    assert_eq!(map["authorization"], "Basic dXNlcjpwYXNz");
    // RFC 4231 test case 2.
    assert_eq!(
        hmac_sha256_header(b"Jefe", b"what do ya want for nothing?").unwrap(),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn debug_output_is_redacted() {
    let req = Request {
        method: Method::Post,
        url: "https://u:pw@api.example.com/v1/users?token=abc#f".to_string(),
        headers: vec![("X-Trace".into(), "secret-value".into())],
        body: Some(b"{\"password\":\"p\"}".to_vec()),
        auth: Some(Auth::Bearer("lms-token".into())),
    };
    let s = format!("{req:?}");
    assert!(s.contains("https://api.example.com/v1/users"), "{s}");
    for leak in ["token=abc", "pw", "secret-value", "password"] {
        assert!(!s.contains(leak), "{leak} in {s}");
    }
}

#[test]
fn budget_and_deadline() {
    let mut b = Budget::new(&Limits { max_requests_per_call: 2, ..Limits::default() });
    assert_eq!(b.remaining(), 2);
    assert!(b.take().is_ok() && b.take().is_ok());
    assert_eq!(b.take(), Err(EgressError::BudgetExhausted));
    let past = Budget::new(&Limits::default()).with_deadline(Instant::now());
    assert_eq!(past.timeout(Duration::from_secs(10)), Err(EgressError::Timeout));
    let soon = Budget::new(&Limits::default()).with_deadline(Instant::now() + Duration::from_secs(2));
    assert!(soon.timeout(Duration::from_secs(10)).unwrap() <= Duration::from_secs(2));
}

#[test]
fn send_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let egress = Egress::new(Limits::default()).unwrap();
    let policy = Policy::new(&[], false, false).unwrap();
    let creds = HashMap::new();
    let mut budget = Budget::new(egress.limits());
    let fut = egress.send(&policy, &creds, &mut budget, get("https://example.com/".into()));
    assert_send(&fut);
}
