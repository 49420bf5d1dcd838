//! Requests end to end against a local server: injected auth, size caps, timeouts, redirects not
//! followed, the budget and connection pooling.

use super::*;

#[tokio::test]
async fn get_returns_status_headers_and_body() {
    let server = TestServer::start(|_| {
        http_reply(201, &[("x-lms-id", "42"), ("content-type", "application/json")], b"{\"id\":42}")
    })
    .await;
    let egress = Egress::new(limits()).unwrap();
    let mut budget = Budget::new(egress.limits());
    let mut req = get(server.url("/api/users?filter=a%20b"));
    req.headers = vec![("Accept".into(), "application/json".into()), ("Idempotency-Key".into(), "op-1".into())];
    let resp = egress.send(&local_policy(&server), &creds(), &mut budget, req).await.unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(resp.header("X-LMS-Id"), Some("42"));
    assert_eq!(resp.body, b"{\"id\":42}");
    assert_eq!(budget.remaining(), 15);
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/api/users?filter=a%20b");
    assert_eq!(seen[0].header("idempotency-key"), Some("op-1"));
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    assert_eq!(seen[0].header("authorization"), None);
}

#[tokio::test]
async fn post_with_hmac_signature_matches_independent_computation() {
    let server = TestServer::start(|_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let mut budget = Budget::new(egress.limits());
    let body = br#"{"userName":"ada@example.com","active":true}"#.to_vec();
    let req = Request {
        method: Method::Post,
        url: server.url("/hooks"),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Some(body.clone()),
        auth: Some(Auth::HmacSha256 { header: "X-Signature".into(), credential: "lms-hmac".into() }),
    };
    let resp = egress.send(&local_policy(&server), &creds(), &mut budget, req).await.unwrap();
    assert_eq!(resp.status, 200);
    let seen = server.requests();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].body, body);
    let expected = format!("sha256={}", reference_hmac_sha256(b"hmac-signing-key", &body));
    assert_eq!(seen[0].header("x-signature"), Some(expected.as_str()));

    // Empty body: HMAC over the empty string.
    let mut req = get(server.url("/ping"));
    req.auth = Some(Auth::HmacSha256 { header: "X-Signature".into(), credential: "lms-hmac".into() });
    egress.send(&local_policy(&server), &creds(), &mut budget, req).await.unwrap();
    let expected = format!("sha256={}", reference_hmac_sha256(b"hmac-signing-key", b""));
    assert_eq!(server.requests()[1].header("x-signature"), Some(expected.as_str()));
}

#[tokio::test]
async fn bearer_basic_and_header_auth_are_injected() {
    let server = TestServer::start(|_| http_reply(204, &[], b"")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let mut budget = Budget::new(egress.limits());
    for auth in [
        Auth::Bearer("lms-token".into()),
        Auth::Basic("lms-basic".into()),
        Auth::Header { header: "X-Api-Key".into(), credential: "lms-key".into() },
    ] {
        let mut req = get(server.url("/me"));
        req.auth = Some(auth);
        let resp = egress.send(&policy, &creds(), &mut budget, req).await.unwrap();
        assert_eq!(resp.status, 204);
    }
    let seen = server.requests();
    assert_eq!(seen[0].header("authorization"), Some("Bearer s3cr3t-token"));
    assert_eq!(seen[1].header("authorization"), Some("Basic dXNlcjpwYXNz"));
    assert_eq!(seen[2].header("x-api-key"), Some("api-key-123"));
}

#[tokio::test]
async fn denied_requests_send_nothing() {
    let server = TestServer::start(|_| http_reply(200, &[], b"")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let mut budget = Budget::new(egress.limits());
    let mut req = get(server.url("/"));
    req.auth = Some(Auth::Bearer("nope".into()));
    let r = egress.send(&policy, &creds(), &mut budget, req).await;
    assert_eq!(r, Err(EgressError::Denied("unknown credential 'nope'".into())));
    let mut req = get(server.url("/"));
    req.headers = vec![("Host".into(), "internal".into())];
    assert!(denied(egress.send(&policy, &creds(), &mut budget, req).await).contains("host"));
    let r = egress.send(&policy, &creds(), &mut budget, get("http://127.0.0.1:1/".into())).await;
    assert_eq!(denied(r), "host 127.0.0.1:1 is not in the target's allowed hosts for http://");
    let r = egress.send(&policy, &creds(), &mut budget, get("not a url".into())).await;
    assert!(denied(r).starts_with("invalid URL"));
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    // Every call consumed budget, including denied ones.
    assert_eq!(budget.remaining(), 12);
}

#[tokio::test]
async fn response_over_cap_is_too_large() {
    let server = TestServer::start(|r| match r.target.as_str() {
        "/declared" => http_reply(200, &[], &vec![b'x'; 20_000]),
        "/exact" => http_reply(200, &[], &vec![b'x'; 16_384]),
        _ => chunked_reply(4096, 256), // 1 MiB, no content-length
    })
    .await;
    let egress = Egress::new(Limits { max_response_bytes: 16_384, ..limits() }).unwrap();
    let policy = local_policy(&server);
    let mut budget = Budget::new(egress.limits());
    let r = egress.send(&policy, &creds(), &mut budget, get(server.url("/declared"))).await;
    assert_eq!(r, Err(EgressError::TooLarge));
    let r = egress.send(&policy, &creds(), &mut budget, get(server.url("/chunked"))).await;
    assert_eq!(r, Err(EgressError::TooLarge));
    let r = egress.send(&policy, &creds(), &mut budget, get(server.url("/exact"))).await.unwrap();
    assert_eq!(r.body.len(), 16_384);
}

#[tokio::test]
async fn request_body_over_cap_is_too_large_and_not_sent() {
    let server = TestServer::start(|_| http_reply(200, &[], b"")).await;
    let egress = Egress::new(Limits { max_request_bytes: 1024, ..limits() }).unwrap();
    let mut budget = Budget::new(egress.limits());
    let req = Request {
        method: Method::Put,
        url: server.url("/big"),
        headers: vec![],
        body: Some(vec![0u8; 1025]),
        auth: None,
    };
    let r = egress.send(&local_policy(&server), &creds(), &mut budget, req).await;
    assert_eq!(r, Err(EgressError::TooLarge));
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn server_that_never_answers_times_out() {
    let server = TestServer::start(|_| Reply::Hang).await;
    let egress = Egress::new(Limits { request_timeout: Duration::from_millis(300), ..limits() }).unwrap();
    let mut budget = Budget::new(egress.limits());
    let started = Instant::now();
    let r = egress.send(&local_policy(&server), &creds(), &mut budget, get(server.url("/slow"))).await;
    assert_eq!(r, Err(EgressError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn call_deadline_caps_the_request_timeout() {
    let server = TestServer::start(|_| Reply::Hang).await;
    let egress = Egress::new(limits()).unwrap();
    let mut budget = Budget::new(egress.limits()).with_deadline(Instant::now() + Duration::from_millis(200));
    let started = Instant::now();
    let r = egress.send(&local_policy(&server), &creds(), &mut budget, get(server.url("/"))).await;
    assert_eq!(r, Err(EgressError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3));
    // Past the deadline nothing is sent.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = egress.send(&local_policy(&server), &creds(), &mut budget, get(server.url("/"))).await;
    assert_eq!(r, Err(EgressError::Timeout));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn connect_timeout_maps_to_timeout() {
    // A listener with a full accept queue: Linux drops further SYNs, so connect() hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let mut saturated = false;
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            _ => {
                saturated = true;
                break;
            }
        }
    }
    assert!(saturated, "could not saturate the accept queue");
    let egress = Egress::new(Limits {
        connect_timeout: Duration::from_millis(200),
        request_timeout: Duration::from_secs(10),
        ..Limits::default()
    })
    .unwrap();
    let policy = Policy::new(&[format!("http://127.0.0.1:{}", addr.port())], true, true).unwrap();
    let mut budget = Budget::new(egress.limits());
    let started = Instant::now();
    let r = egress.send(&policy, &creds(), &mut budget, get(format!("http://{addr}/"))).await;
    assert_eq!(r, Err(EgressError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let server = TestServer::start(|r| match r.target.as_str() {
        "/start" => http_reply(302, &[("location", "/elsewhere")], b""),
        _ => http_reply(200, &[], b"followed"),
    })
    .await;
    let egress = Egress::new(limits()).unwrap();
    let mut budget = Budget::new(egress.limits());
    let resp = egress.send(&local_policy(&server), &creds(), &mut budget, get(server.url("/start"))).await.unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("location"), Some("/elsewhere"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn budget_exhaustion_stops_sending() {
    let server = TestServer::start(|_| http_reply(200, &[], b"")).await;
    let egress = Egress::new(Limits { max_requests_per_call: 2, ..limits() }).unwrap();
    let policy = local_policy(&server);
    let mut budget = Budget::new(egress.limits());
    for _ in 0..2 {
        egress.send(&policy, &creds(), &mut budget, get(server.url("/"))).await.unwrap();
    }
    let r = egress.send(&policy, &creds(), &mut budget, get(server.url("/"))).await;
    assert_eq!(r, Err(EgressError::BudgetExhausted));
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn connections_are_pooled_across_sends() {
    let server = TestServer::start(|_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    for _ in 0..5 {
        let mut budget = Budget::new(egress.limits());
        egress.send(&policy, &creds(), &mut budget, get(server.url("/"))).await.unwrap();
        // Let the finished connection go back to the idle pool before the next request.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.requests().len(), 5);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connection_refused_is_transport_error_without_query() {
    // Bind then drop to get a port with (almost certainly) no listener.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let egress = Egress::new(limits()).unwrap();
    let policy = Policy::new(&[format!("http://127.0.0.1:{port}")], true, true).unwrap();
    let mut budget = Budget::new(egress.limits());
    let r = egress.send(&policy, &creds(), &mut budget, get(format!("http://127.0.0.1:{port}/x?token=leak"))).await;
    match r {
        Err(EgressError::Transport(msg)) => assert!(!msg.contains("leak"), "{msg}"),
        other => panic!("expected Transport, got {other:?}"),
    }
}
