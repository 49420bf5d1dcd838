//! OAuth2 client credentials: one fetch shared and reused, refresh before expiry, one resend after a
//! `401`, token-endpoint failures, the policy applied to the token URL, and credential validation.

use super::*;

const CLIENT_SECRET: &str = "very-secret-cs";

fn oauth2_secret(token_url: &str) -> String {
    serde_json::json!({
        "type": "oauth2-client-credentials",
        "tokenUrl": token_url,
        "clientId": "client-1",
        "clientSecret": CLIENT_SECRET,
        "scope": "users groups",
    })
    .to_string()
}

/// `creds()` plus an OAuth2 credential `api` whose token endpoint is `token_url`.
fn oauth2_creds(token_url: &str) -> HashMap<String, String> {
    let mut c = creds();
    c.insert("api".to_string(), oauth2_secret(token_url));
    c
}

fn token_body(token: &str, expires_in: u64) -> Vec<u8> {
    format!(r#"{{"access_token":"{token}","expires_in":{expires_in},"token_type":"bearer"}}"#).into_bytes()
}

fn bearer(url: String, credential: &str) -> Request {
    Request { auth: Some(Auth::Bearer(credential.to_string())), ..get(url) }
}

/// A server with `/token` issuing `tok-1`, `tok-2`, … (lifetime `expires_in`) and an API
/// answering every other path with `api(request)`.
async fn oauth2_server(
    expires_in: u64,
    token_delay: Duration,
    api: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> (TestServer, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let server = TestServer::start(move |r| {
        if r.target == "/token" {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let body = token_body(&format!("tok-{n}"), expires_in);
            delayed(token_delay, http_reply(200, &[("content-type", "application/json")], &body))
        } else {
            api(r)
        }
    })
    .await;
    (server, fetches)
}

fn api_requests(server: &TestServer) -> Vec<Recorded> {
    server.requests().into_iter().filter(|r| r.target != "/token").collect()
}

#[tokio::test]
async fn oauth2_token_is_fetched_once_and_reused() {
    let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let creds = oauth2_creds(&server.url("/token"));
    let mut budget = Budget::new(egress.limits());
    for _ in 0..3 {
        let resp = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
        assert_eq!(resp.status, 200);
    }
    // A clone shares the cache.
    let clone = egress.clone();
    clone.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // Token fetches do not consume the call's budget.
    assert_eq!(budget.remaining(), 12);
    let api = api_requests(&server);
    assert_eq!(api.len(), 4);
    assert!(api.iter().all(|r| r.header("authorization") == Some("Bearer tok-1")));

    // The token request: form-encoded client credentials, nothing else.
    let token_req = server.requests().into_iter().find(|r| r.target == "/token").unwrap();
    assert_eq!(token_req.method, "POST");
    assert_eq!(token_req.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(token_req.header("authorization"), None);
    let form: HashMap<String, String> = url::form_urlencoded::parse(&token_req.body).into_owned().collect();
    assert_eq!(form.len(), 4);
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "client-1");
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_eq!(form["scope"], "users groups");

    // Nothing about the token or the credential in Debug output.
    let debug = format!("{egress:?}");
    assert!(!debug.contains("tok-1") && !debug.contains(CLIENT_SECRET), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth2_concurrent_requests_share_one_fetch() {
    let (server, fetches) = oauth2_server(1800, Duration::from_millis(300), |_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = Arc::new(local_policy(&server));
    let creds = Arc::new(oauth2_creds(&server.url("/token")));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (egress, policy, creds) = (egress.clone(), policy.clone(), creds.clone());
        let url = server.url(&format!("/users/{i}"));
        tasks.spawn(async move {
            let mut budget = Budget::new(egress.limits());
            egress.send(&policy, &creds, &mut budget, bearer(url, "api")).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap().status, 200);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    let api = api_requests(&server);
    assert_eq!(api.len(), 8);
    assert!(api.iter().all(|r| r.header("authorization") == Some("Bearer tok-1")));
}

#[test]
fn refresh_margin_is_ten_percent_capped_at_a_minute() {
    assert_eq!(refresh_after(Duration::from_secs(1800)), Duration::from_secs(1740));
    assert_eq!(refresh_after(Duration::from_secs(300)), Duration::from_secs(270));
    assert_eq!(refresh_after(Duration::from_secs(1)), Duration::from_millis(900));
    assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    assert_eq!(refresh_after(Duration::from_secs(10 * 24 * 3600)), MAX_TOKEN_LIFETIME - Duration::from_secs(60));
}

#[tokio::test]
async fn oauth2_token_is_refetched_after_expiry() {
    // expires_in 1 s: used for 0.9 s.
    let (server, fetches) = oauth2_server(1, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let creds = oauth2_creds(&server.url("/token"));
    let mut budget = Budget::new(egress.limits());
    egress.send(&policy, &creds, &mut budget, bearer(server.url("/a"), "api")).await.unwrap();
    egress.send(&policy, &creds, &mut budget, bearer(server.url("/b"), "api")).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(950)).await;
    egress.send(&policy, &creds, &mut budget, bearer(server.url("/c"), "api")).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let auth: Vec<_> = api_requests(&server).iter().map(|r| r.header("authorization").unwrap().to_string()).collect();
    assert_eq!(auth, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn oauth2_changed_credential_gets_its_own_token() {
    let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let mut budget = Budget::new(egress.limits());
    let creds = oauth2_creds(&server.url("/token"));
    egress.send(&policy, &creds, &mut budget, bearer(server.url("/a"), "api")).await.unwrap();
    let mut rotated = creds.clone();
    rotated.insert("api".into(), oauth2_secret(&server.url("/token")).replace(CLIENT_SECRET, "rotated-cs"));
    egress.send(&policy, &rotated, &mut budget, bearer(server.url("/b"), "api")).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let auth: Vec<_> = api_requests(&server).iter().map(|r| r.header("authorization").unwrap().to_string()).collect();
    assert_eq!(auth, ["Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn oauth2_401_refetches_and_resends_once() {
    // The LMS has revoked tok-1 although it has not expired yet.
    let (server, fetches) = oauth2_server(1800, Duration::ZERO, |r| {
        if r.header("authorization") == Some("Bearer tok-1") {
            http_reply(401, &[], b"expired")
        } else {
            http_reply(201, &[], b"created")
        }
    })
    .await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let creds = oauth2_creds(&server.url("/token"));
    let mut budget = Budget::new(egress.limits());
    let body = br#"{"userName":"ada"}"#.to_vec();
    let req = Request {
        method: Method::Post,
        url: server.url("/users"),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Some(body.clone()),
        auth: Some(Auth::Bearer("api".into())),
    };
    let resp = egress.send(&policy, &creds, &mut budget, req).await.unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body, b"created");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(budget.remaining(), 15);
    let api = api_requests(&server);
    assert_eq!(api.len(), 2);
    assert_eq!(api[0].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(api[1].header("authorization"), Some("Bearer tok-2"));
    assert!(api.iter().all(|r| r.method == "POST" && r.body == body));
    assert_eq!(api[1].header("content-type"), Some("application/json"));
    // The new token is cached.
    egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn oauth2_second_401_is_returned_without_looping() {
    let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(401, &[], b"no")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let creds = oauth2_creds(&server.url("/token"));
    let mut budget = Budget::new(egress.limits());
    let resp = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.body, b"no");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(api_requests(&server).len(), 2);
}

#[tokio::test]
async fn oauth2_token_endpoint_errors() {
    // 0 = 401 without a body, 1 = 400 invalid_client, 2 = 503, then working.
    let mode = Arc::new(AtomicUsize::new(0));
    let m = mode.clone();
    let server = TestServer::start(move |r| match (r.target.as_str(), m.load(Ordering::SeqCst)) {
        ("/token", 0) => http_reply(401, &[], b""),
        ("/token", 1) => http_reply(400, &[], br#"{"error":"invalid_client","error_description":"bad"}"#),
        ("/token", 2) => http_reply(503, &[], b"down"),
        ("/token", _) => http_reply(200, &[], &token_body("tok-ok", 1800)),
        _ => http_reply(200, &[], b"ok"),
    })
    .await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let creds = oauth2_creds(&server.url("/token"));
    let mut budget = Budget::new(egress.limits());
    let r = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await;
    assert_eq!(
        r,
        Err(EgressError::Denied("credential 'api': the token endpoint refused the client credentials (401)".into()))
    );
    mode.store(1, Ordering::SeqCst);
    let msg = denied(egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await);
    assert_eq!(msg, "credential 'api': the token endpoint refused the client credentials (400, invalid_client)");
    mode.store(2, Ordering::SeqCst);
    let r = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await;
    assert_eq!(r, Err(EgressError::Transport("credential 'api': the token endpoint failed (503)".into())));
    for err in [r.unwrap_err().to_string(), msg] {
        assert!(!err.contains(CLIENT_SECRET) && !err.contains("client-1"), "{err}");
    }
    assert!(api_requests(&server).is_empty());
    // Failures are not cached: once the endpoint works, the next call succeeds.
    mode.store(3, Ordering::SeqCst);
    let resp = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(api_requests(&server)[0].header("authorization"), Some("Bearer tok-ok"));
    assert_eq!(server.requests().iter().filter(|r| r.target == "/token").count(), 4);
}

#[tokio::test]
async fn oauth2_token_endpoint_timeout_is_timeout() {
    let server = TestServer::start(|r| match r.target.as_str() {
        "/token" => Reply::Hang,
        _ => http_reply(200, &[], b"ok"),
    })
    .await;
    let egress = Egress::new(Limits { request_timeout: Duration::from_millis(300), ..limits() }).unwrap();
    let creds = oauth2_creds(&server.url("/token"));
    let mut budget = Budget::new(egress.limits());
    let r = egress.send(&local_policy(&server), &creds, &mut budget, bearer(server.url("/u"), "api")).await;
    assert_eq!(r, Err(EgressError::Timeout));
    assert!(api_requests(&server).is_empty());
}

#[test]
fn token_responses_are_parsed_strictly() {
    let now = Instant::now();
    let (value, at) = parse_token_response("api", &token_body("abc", 1800), now).unwrap();
    assert_eq!(value, "Bearer abc");
    assert!(value.is_sensitive());
    assert_eq!(at, Some(now + Duration::from_secs(1740)));
    // expires_in as a string, or missing (default lifetime); token_type in any case.
    let (_, at) =
        parse_token_response("api", br#"{"access_token":"a","expires_in":"60","token_type":"Bearer"}"#, now).unwrap();
    assert_eq!(at, Some(now + Duration::from_secs(54)));
    let (_, at) = parse_token_response("api", br#"{"access_token":"a"}"#, now).unwrap();
    assert_eq!(at, Some(now + Duration::from_secs(270)));
    // expires_in 0: used once, not cached.
    let (_, at) = parse_token_response("api", &token_body("a", 0), now).unwrap();
    assert_eq!(at, None);
    for bad in [
        &br#"not json with secret-tok"#[..],
        br#"{"token":"secret-tok"}"#,
        br#"{"access_token":""}"#,
        br#"{"access_token":"secret-tok","expires_in":-5}"#,
        br#"{"access_token":"secret-tok","expires_in":[1]}"#,
        b"{\"access_token\":\"secret\\ntok\"}",
    ] {
        match parse_token_response("api", bad, now) {
            Err(EgressError::Transport(m)) => {
                assert!(m.starts_with("credential 'api': the token endpoint's response is unusable"), "{m}");
                assert!(!m.contains("secret"), "{m}");
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bad)),
        }
    }
    let msg = denied(parse_token_response("api", br#"{"access_token":"a","token_type":"mac"}"#, now));
    assert!(msg.contains("\"mac\" token"), "{msg}");
}

#[tokio::test]
async fn oauth2_token_url_must_be_allowed_by_the_policy() {
    let token_server = TestServer::start(|_| http_reply(200, &[], &token_body("tok", 1800))).await;
    let api = TestServer::start(|_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let creds = oauth2_creds(&token_server.url("/token"));
    let mut budget = Budget::new(egress.limits());
    let r = egress.send(&local_policy(&api), &creds, &mut budget, bearer(api.url("/users"), "api")).await;
    assert_eq!(
        denied(r),
        format!(
            "credential 'api': token URL: host 127.0.0.1:{} is not in the target's allowed hosts for http://",
            token_server.port()
        )
    );
    // http:// token URL under an https-only policy.
    let strict = Policy::new(&[format!("http://127.0.0.1:{}", api.port())], false, true).unwrap();
    let msg = denied(egress.send(&strict, &creds, &mut budget, bearer(api.url("/users"), "api")).await);
    assert!(msg.contains("http:// is not allowed"), "{msg}");
    assert_eq!(token_server.connections.load(Ordering::SeqCst), 0);
    assert_eq!(api.connections.load(Ordering::SeqCst), 0);

    // A token cached under a policy that allows the token URL is not used under one that
    // does not.
    let both = Policy::new(
        &[format!("http://127.0.0.1:{}", api.port()), format!("http://127.0.0.1:{}", token_server.port())],
        true,
        true,
    )
    .unwrap();
    egress.send(&both, &creds, &mut budget, bearer(api.url("/users"), "api")).await.unwrap();
    denied(egress.send(&local_policy(&api), &creds, &mut budget, bearer(api.url("/users"), "api")).await);
    assert_eq!(api.requests().len(), 1);
}

#[tokio::test]
async fn oauth2_guarded_policy_refuses_private_token_url() {
    let token_server = TestServer::start(|_| http_reply(200, &[], &token_body("tok", 1800))).await;
    let egress = Egress::new(limits()).unwrap();
    let creds = oauth2_creds(&token_server.url("/token"));
    let policy = Policy::new(
        &[format!("http://127.0.0.1:{}", token_server.port()), "https://api.example.com".to_string()],
        true,
        false,
    )
    .unwrap();
    let mut budget = Budget::new(egress.limits());
    let msg =
        denied(egress.send(&policy, &creds, &mut budget, bearer("https://api.example.com/u".into(), "api")).await);
    assert!(msg.starts_with("credential 'api': token URL: address 127.0.0.1 is loopback"), "{msg}");
    assert_eq!(token_server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn non_oauth2_credentials_are_unaffected() {
    let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let mut creds = oauth2_creds(&server.url("/token"));
    // JSON that is not an OAuth2 credential is an ordinary secret.
    creds.insert("json-key".into(), r#"{"type":"api-key","key":"k1"}"#.into());
    let mut budget = Budget::new(egress.limits());
    egress.send(&policy, &creds, &mut budget, bearer(server.url("/a"), "lms-token")).await.unwrap();
    let mut req = get(server.url("/b"));
    req.auth = Some(Auth::Header { header: "X-Api-Key".into(), credential: "json-key".into() });
    egress.send(&policy, &creds, &mut budget, req).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 0);
    let api = api_requests(&server);
    assert_eq!(api[0].header("authorization"), Some("Bearer s3cr3t-token"));
    assert_eq!(api[1].header("x-api-key"), Some(r#"{"type":"api-key","key":"k1"}"#));
}

#[tokio::test]
async fn oauth2_credential_with_other_auth_kinds_is_denied() {
    let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
    let egress = Egress::new(limits()).unwrap();
    let policy = local_policy(&server);
    let mut creds = oauth2_creds(&server.url("/token"));
    creds.insert("broken".into(), r#"{"type":"oauth2-client-credentials","tokenUrl":"https://x.example/t"}"#.into());
    let mut budget = Budget::new(egress.limits());
    for auth in [
        Auth::Basic("api".into()),
        Auth::Header { header: "X-Api-Key".into(), credential: "api".into() },
        Auth::HmacSha256 { header: "X-Sig".into(), credential: "api".into() },
    ] {
        let mut req = get(server.url("/a"));
        req.auth = Some(auth);
        let msg = denied(egress.send(&policy, &creds, &mut budget, req).await);
        assert_eq!(
            msg,
            "credential 'api' is an OAuth2 client-credentials credential and can only be used with bearer auth"
        );
    }
    let msg = denied(egress.send(&policy, &creds, &mut budget, bearer(server.url("/a"), "broken")).await);
    assert_eq!(msg, "credential 'broken' is not a valid OAuth2 client-credentials credential: clientId is missing");
    // Direct header building never sends the configuration as a header value.
    let msg = denied(build_headers(&[], Some(&Auth::Bearer("api".into())), &creds, b""));
    assert!(msg.contains("obtained by the host"), "{msg}");
    assert_eq!(fetches.load(Ordering::SeqCst), 0);
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn validate_credential_checks_oauth2_credentials_only() {
    // Ordinary secrets, including JSON that does not claim an OAuth2 type.
    for ok in ["s3cr3t", "user:pass", "{not json", r#"{"key":"v"}"#, r#"{"type":"api-key"}"#, "[1,2]"] {
        assert_eq!(validate_credential(ok), Ok(()), "{ok}");
    }
    let good = oauth2_secret("https://acme.ispringlearn.com/api/v3/token");
    assert_eq!(validate_credential(&good), Ok(()));
    let minimal =
        r#"{"type":"oauth2-client-credentials","tokenUrl":"https://a.example/t","clientId":"c","clientSecret":"s"}"#;
    assert_eq!(validate_credential(minimal), Ok(()));
    // The good credential with `field` removed (None) or set.
    let with = |field: &str, value: Option<serde_json::Value>| {
        let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&good).unwrap();
        match value {
            Some(value) => v.insert(field.to_string(), value),
            None => v.remove(field),
        };
        serde_json::Value::Object(v).to_string()
    };
    let s = |text: &str| Some(serde_json::Value::from(text));
    for (secret, needle) in [
        (with("clientSecret", None), "clientSecret is missing"),
        (with("clientId", None), "clientId is missing"),
        (with("tokenUrl", None), "tokenUrl is missing"),
        (with("clientSecret", Some(12345.into())), "clientSecret must be a string"),
        (with("clientId", s(" ")), "clientId is empty"),
        (with("scope", s("")), "scope is empty"),
        (with("tokenUrl", s("/api/v3/token")), "tokenUrl is not a valid URL"),
        (with("tokenUrl", s("ftp://a.example/t")), "https://"),
        (with("tokenUrl", s("https://u:p@a.example/t")), "user info"),
        (with("client_secret", s("x")), "unknown field \"client_secret\""),
    ] {
        let err = validate_credential(&secret).unwrap_err().to_string();
        assert!(err.starts_with("invalid oauth2-client-credentials credential: "), "{err}");
        assert!(err.contains(needle), "{secret}: {err}");
        assert!(!err.contains(CLIENT_SECRET) && !err.contains("12345"), "{err}");
    }
    // A misspelt OAuth type would otherwise be sent verbatim as a secret.
    let typo = good.replace("oauth2-client-credentials", "oauth2_client_credentials");
    let err = validate_credential(&typo).unwrap_err().to_string();
    assert!(err.contains("unsupported credential type \"oauth2_client_credentials\""), "{err}");
}
