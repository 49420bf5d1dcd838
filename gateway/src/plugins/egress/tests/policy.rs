//! The allowlist: which entries parse, and which URLs a policy lets through.

use super::*;

#[test]
fn policy_rejects_bare_star_and_misplaced_wildcards() {
    for bad in ["*", "https://*", "https://*/", "http://*"] {
        let err = Policy::new(&hosts(&[bad]), true, false).unwrap_err().to_string();
        assert!(err.contains("bare '*'"), "{bad}: {err}");
    }
    for bad in ["https://api.*.example.com", "https://*example.com", "https://a*.example.com"] {
        let err = Policy::new(&hosts(&[bad]), false, false).unwrap_err().to_string();
        assert!(err.contains("leading '*.'"), "{bad}: {err}");
    }
    let err = Policy::new(&hosts(&["https://*.com"]), false, false).unwrap_err().to_string();
    assert!(err.contains("too broad"), "{err}");
    let err = Policy::new(&hosts(&["https://*.10.0.0.1"]), false, false).unwrap_err().to_string();
    assert!(err.contains("IP address"), "{err}");
}

#[test]
fn policy_rejects_paths_userinfo_bad_schemes_and_missing_scheme() {
    for bad in ["https://api.example.com/v1", "https://api.example.com/?x=1", "https://api.example.com#frag"] {
        let err = Policy::new(&hosts(&[bad]), false, false).unwrap_err().to_string();
        assert!(err.contains("path, query or fragment"), "{bad}: {err}");
    }
    let err = Policy::new(&hosts(&["https://u:p@api.example.com"]), false, false).unwrap_err().to_string();
    assert!(err.contains("user info"), "{err}");
    let err = Policy::new(&hosts(&["ftp://api.example.com"]), false, false).unwrap_err().to_string();
    assert!(err.contains("unsupported scheme 'ftp'"), "{err}");
    let err = Policy::new(&hosts(&["api.example.com"]), false, false).unwrap_err().to_string();
    assert!(err.contains("no scheme"), "{err}");
    let err = Policy::new(&hosts(&[""]), false, false).unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    let err = Policy::new(&hosts(&["https://api.example.com:99999"]), false, false).unwrap_err().to_string();
    assert!(err.contains("not a valid host"), "{err}");
    // A trailing slash alone is accepted.
    assert!(Policy::new(&hosts(&["https://api.example.com/"]), false, false).is_ok());
}

#[test]
fn empty_allowlist_allows_nothing() {
    let p = Policy::new(&[], true, true).unwrap();
    let msg = denied(p.check_url(&url("https://api.example.com/")));
    assert_eq!(msg, "host api.example.com is not in the target's allowed hosts");
}

#[test]
fn exact_host_default_ports_and_case_insensitivity() {
    let p = Policy::new(&hosts(&["HTTPS://API.Example.com"]), false, false).unwrap();
    assert!(p.check_url(&url("https://api.example.com/x?y=1")).is_ok());
    assert!(p.check_url(&url("https://API.EXAMPLE.COM/")).is_ok());
    assert!(p.check_url(&url("https://api.example.com:443/")).is_ok());
    assert!(p.check_url(&url("https://api.example.com./")).is_ok());
    let msg = denied(p.check_url(&url("https://api.example.com:8443/")));
    assert_eq!(msg, "host api.example.com:8443 is not in the target's allowed hosts");
    let msg = denied(p.check_url(&url("https://api.evil.com/")));
    assert_eq!(msg, "host api.evil.com is not in the target's allowed hosts");
    denied(p.check_url(&url("https://other.api.example.com/")));

    let p = Policy::new(&hosts(&["https://api.example.com:8443"]), false, false).unwrap();
    assert!(p.check_url(&url("https://api.example.com:8443/")).is_ok());
    denied(p.check_url(&url("https://api.example.com/")));
}

#[test]
fn wildcard_matches_subdomains_not_apex() {
    let p = Policy::new(&hosts(&["https://*.example.com"]), false, false).unwrap();
    assert!(p.check_url(&url("https://a.example.com/")).is_ok());
    assert!(p.check_url(&url("https://a.b.EXAMPLE.com/")).is_ok());
    denied(p.check_url(&url("https://example.com/")));
    denied(p.check_url(&url("https://badexample.com/")));
    denied(p.check_url(&url("https://example.com.evil.net/")));
    denied(p.check_url(&url("https://a.example.com:444/")));
}

#[test]
fn idna_hosts_match_their_punycode_form() {
    let p = Policy::new(&hosts(&["https://Bücher.example"]), false, false).unwrap();
    assert!(p.check_url(&url("https://xn--bcher-kva.example/")).is_ok());
    assert!(p.check_url(&url("https://bücher.example/")).is_ok());
    let p = Policy::new(&hosts(&["https://*.bücher.example"]), false, false).unwrap();
    assert!(p.check_url(&url("https://shop.xn--bcher-kva.example/")).is_ok());
}

#[test]
fn https_only_unless_allow_http_and_http_entry() {
    let entries = hosts(&["https://api.example.com", "http://legacy.example.com"]);
    let strict = Policy::new(&entries, false, false).unwrap();
    assert_eq!(
        denied(strict.check_url(&url("http://legacy.example.com/"))),
        "http:// is not allowed for this target (https only)"
    );
    let lax = Policy::new(&entries, true, false).unwrap();
    assert!(lax.check_url(&url("http://legacy.example.com/")).is_ok());
    // http is only allowed towards entries whose scheme is http.
    assert_eq!(
        denied(lax.check_url(&url("http://api.example.com/"))),
        "host api.example.com is not in the target's allowed hosts for http://"
    );
    denied(lax.check_url(&url("https://legacy.example.com/")));
    assert!(denied(lax.check_url(&url("ftp://api.example.com/"))).contains("ftp://"));
}

#[test]
fn userinfo_in_url_is_denied() {
    let p = Policy::new(&hosts(&["https://api.example.com"]), false, false).unwrap();
    assert!(denied(p.check_url(&url("https://u:p@api.example.com/"))).contains("user info"));
    assert!(denied(p.check_url(&url("https://u@api.example.com/"))).contains("user info"));
}
