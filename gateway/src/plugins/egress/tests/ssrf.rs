//! The SSRF guard: the special-purpose address ranges, the resolver's filter, and the guarded client
//! refusing private addresses end to end.

use super::*;

#[test]
fn special_purpose_addresses_are_restricted() {
    let blocked = [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.1", "documentation"),
        ("203.0.113.7", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("240.0.0.1", "reserved"),
        ("192.0.0.8", "IETF"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:7f00:1::1", "loopback"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fc00::1", "ULA"),
        ("fd12:3456::1", "ULA"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("100::1", "discard"),
        ("4000::1", "reserved"),
    ];
    for (ip, reason) in blocked {
        let ip: IpAddr = ip.parse().unwrap();
        let got = ip_restriction(ip);
        assert!(got.is_some_and(|r| r.contains(reason)), "{ip}: expected {reason}, got {got:?}");
    }
    for ip in [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.32.0.1",
        "100.128.0.1",
        "192.169.0.1",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2606:4700:4700::1111",
        "2a00:1450:4001:81b::200e",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(ip_restriction(ip), None, "{ip}");
    }
}

#[test]
fn literal_private_hosts_denied_even_when_allowlisted() {
    let entries = hosts(&[
        "https://127.0.0.1",
        "https://[::ffff:127.0.0.1]",
        "https://169.254.169.254",
        "https://10.0.0.5",
        "https://[fd00::1]",
        "https://[::1]",
    ]);
    let guarded = Policy::new(&entries, false, false).unwrap();
    for (u, needle) in [
        ("https://127.0.0.1/", "address 127.0.0.1 is loopback"),
        ("https://[::ffff:127.0.0.1]/", "address ::ffff:127.0.0.1 is loopback"),
        ("https://[::ffff:7f00:1]/", "address ::ffff:127.0.0.1 is loopback"),
        ("https://169.254.169.254/", "address 169.254.169.254 is link-local"),
        ("https://10.0.0.5/", "address 10.0.0.5 is private"),
        ("https://[fd00::1]/", "unique local"),
        ("https://[::1]/", "loopback"),
    ] {
        let msg = denied(guarded.check_url(&url(u)));
        assert!(msg.contains(needle), "{u}: {msg}");
    }
    // Alternative IPv4 spellings normalise to the same address in http(s) URLs.
    let p = Policy::new(&hosts(&["https://127.0.0.1"]), false, false).unwrap();
    for u in ["https://2130706433/", "https://0x7f.0.0.1/", "https://127.1/"] {
        assert!(denied(p.check_url(&url(u))).contains("loopback"), "{u}");
    }
    let open = Policy::new(&entries, false, true).unwrap();
    for u in ["https://127.0.0.1/", "https://[::ffff:127.0.0.1]/", "https://169.254.169.254/"] {
        assert!(open.check_url(&url(u)).is_ok(), "{u}");
    }
}

#[test]
fn resolver_filter_drops_private_and_fails_when_nothing_remains() {
    let public: SocketAddr = "93.184.216.34:0".parse().unwrap();
    let private: SocketAddr = "10.0.0.5:0".parse().unwrap();
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:0".parse().unwrap();
    let kept = filter_resolved("api.example.com", vec![private, public, mapped]).unwrap();
    assert_eq!(kept, vec![public]);
    let err = filter_resolved("api.example.com", vec![private, mapped]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "address 10.0.0.5 of api.example.com is private (RFC 1918); private and \
         special-purpose addresses are not allowed for this target"
    );
}

// ----- SSRF guard end to end (guarded client) -----

#[tokio::test]
async fn guarded_policy_refuses_literal_private_addresses() {
    let server = TestServer::start(|_| http_reply(200, &[], b"")).await;
    let port = server.port();
    let egress = Egress::new(limits()).unwrap();
    let policy = Policy::new(
        &[
            format!("http://127.0.0.1:{port}"),
            format!("http://[::ffff:127.0.0.1]:{port}"),
            "http://169.254.169.254".to_string(),
        ],
        true,
        false,
    )
    .unwrap();
    let mut budget = Budget::new(egress.limits());
    for (u, needle) in [
        (format!("http://127.0.0.1:{port}/"), "address 127.0.0.1 is loopback"),
        (format!("http://[::ffff:127.0.0.1]:{port}/"), "address ::ffff:127.0.0.1 is loopback"),
        ("http://169.254.169.254/latest/meta-data/".to_string(), "address 169.254.169.254 is link-local"),
    ] {
        let msg = denied(egress.send(&policy, &creds(), &mut budget, get(u.clone())).await);
        assert!(msg.contains(needle), "{u}: {msg}");
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn guarded_policy_refuses_hostname_resolving_to_loopback_at_connect_time() {
    let server = TestServer::start(|_| http_reply(200, &[], b"reached")).await;
    let port = server.port();
    let egress = Egress::new(limits()).unwrap();
    let entry = vec![format!("http://localhost:{port}")];
    // The policy check itself passes (a host name), the resolver refuses at connect time.
    let guarded = Policy::new(&entry, true, false).unwrap();
    assert!(guarded.check_url(&url(&format!("http://localhost:{port}/"))).is_ok());
    let mut budget = Budget::new(egress.limits());
    let msg = denied(egress.send(&guarded, &creds(), &mut budget, get(format!("http://localhost:{port}/"))).await);
    assert!(msg.contains("of localhost is loopback"), "{msg}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);

    // Control: the same request through an allow_private policy reaches the server
    // (if localhost resolves to ::1 first, happy eyeballs falls back to 127.0.0.1).
    let open = Policy::new(&entry, true, true).unwrap();
    let resp = egress.send(&open, &creds(), &mut budget, get(format!("http://localhost:{port}/"))).await.unwrap();
    assert_eq!(resp.body, b"reached");
}
