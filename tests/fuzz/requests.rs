//! The request generator of the fuzz harness: structure-aware mutations of what Microsoft Entra sends
//! (user and group bodies, PATCH operations, filters, query parameters) plus what no client should send
//! (URN keys with multibyte characters, deep nesting, wrong types, raw bytes, odd content types,
//! malformed paths). Deterministic for a seed: a failure is reproduced with `FUZZ_SEED`.

use serde_json::{Map, Value, json};

/// splitmix64: small, fast, good enough to drive mutations, and identical on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One request to send.
pub struct Req {
    pub method: reqwest::Method,
    /// Path and query below the tenant's SCIM root (`/Users?filter=…`).
    pub path: String,
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
}

const ATTRS: &[&str] = &[
    "userName",
    "displayName",
    "active",
    "title",
    "externalId",
    "emails",
    "emails.value",
    "emails.type",
    "name.givenName",
    "name.familyName",
    "name",
    "phoneNumbers",
    "addresses",
    "roles",
    "members",
    "members.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "meta.lastModified",
    "id",
    "groups",
    "nickName",
    "preferredLanguage",
    "locale",
    "timezone",
    "userType",
    "noSuchAttr",
    "x.y.z",
];
const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "Eq", "xx", ""];
const CONTENT_TYPES: &[&str] = &[
    "application/scim+json",
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=zz",
    "application/xml",
    "",
    ";;;",
    "application/scim+json; charset=latin1",
    "APPLICATION/JSON",
];

fn multibyte(rng: &mut Rng) -> String {
    let chars = ['é', 'ß', '€', '𝄞', '中', '\u{200b}', '\u{fffd}', 'ñ', '\u{0301}'];
    (0..1 + rng.below(24)).map(|_| *rng.pick(&chars)).collect()
}

fn string(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => String::new(),
        1 => multibyte(rng),
        2 => "x".repeat(rng.below(3000)),
        3 => format!("user{}@contoso.com", rng.below(50)),
        4 => "\"\\/\u{0000}\u{001f}".to_owned(),
        5 => format!("urn:x{}", multibyte(rng)),
        6 => "True".to_owned(),
        7 => format!("{}", rng.next()),
        8 => "2026-12-06T10:00:00Z".to_owned(),
        _ => format!("v{}", rng.below(1000)),
    }
}

/// A JSON value of a random shape (depth-bounded unless `deep`).
fn value(rng: &mut Rng, depth: usize) -> Value {
    if depth > 4 {
        return json!(string(rng));
    }
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.next() as i64),
        3 => json!((rng.next() % 1000) as f64 / 7.0),
        4 | 5 => json!(string(rng)),
        6 => Value::Array((0..rng.below(5)).map(|_| value(rng, depth + 1)).collect()),
        7 => {
            let mut m = Map::new();
            for _ in 0..rng.below(5) {
                m.insert(key(rng), value(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => json!([{"value": string(rng), "type": "work", "primary": rng.chance(50)}]),
    }
}

fn key(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => format!("urn:x{}", multibyte(rng)),
        1 => format!("urn:ietf:params:scim:schemas:core:2.0:User:{}", multibyte(rng)),
        2 => (*rng.pick(ATTRS)).to_owned(),
        3 => multibyte(rng),
        4 => "schemas".to_owned(),
        _ => rng.pick(ATTRS).to_ascii_uppercase(),
    }
}

pub fn entra_user(rng: &mut Rng) -> Value {
    let n = rng.below(1_000_000);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": format!("ext{n}"),
        "userName": format!("fuzz{n}@contoso.com"),
        "active": true,
        "displayName": format!("Fuzz {n}"),
        "emails": [{"primary": true, "type": "work", "value": format!("fuzz{n}@contoso.com")}],
        "name": {"formatted": "F Z", "familyName": "Z", "givenName": "F"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D", "employeeNumber": "1"},
        "roles": []
    })
}

fn entra_group(rng: &mut Rng, members: &[String]) -> Value {
    let mut g = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": format!("g{}", rng.next()),
        "displayName": format!("Fuzz Group {}", rng.below(1_000_000)),
    });
    if !members.is_empty() && rng.chance(50) {
        let picked: Vec<Value> = (0..rng.below(5)).map(|_| json!({"value": rng.pick(members)})).collect();
        g["members"] = Value::Array(picked);
    }
    g
}

/// Mutates a valid body in place: drop, retype, add odd keys, nest, blow up.
fn mutate(rng: &mut Rng, body: &mut Value) {
    let Value::Object(m) = body else { return };
    for _ in 0..1 + rng.below(3) {
        match rng.below(8) {
            0 => {
                let keys: Vec<String> = m.keys().cloned().collect();
                if !keys.is_empty() {
                    m.remove(rng.pick(&keys).as_str());
                }
            }
            1 => {
                let keys: Vec<String> = m.keys().cloned().collect();
                if !keys.is_empty() {
                    let k = rng.pick(&keys).clone();
                    m.insert(k, value(rng, 0));
                }
            }
            2 => {
                m.insert(key(rng), value(rng, 0));
            }
            3 => {
                let mut deep = json!("bottom");
                for _ in 0..rng.below(200) {
                    deep = json!([deep]);
                }
                m.insert("nickName".into(), deep);
            }
            4 => {
                let n = rng.below(1_200);
                m.insert(
                    "emails".into(),
                    Value::Array((0..n).map(|i| json!({"value": format!("e{i}@x.y")})).collect()),
                );
            }
            5 => {
                m.insert("schemas".into(), value(rng, 0));
            }
            6 => {
                m.insert(format!("urn:x{}", multibyte(rng)), json!("v"));
            }
            _ => {
                m.insert("userName".into(), json!(string(rng)));
            }
        }
    }
}

/// A filter expression: grammar-shaped with random attributes and operators, sometimes broken.
pub fn filter(rng: &mut Rng, depth: usize) -> String {
    let leaf = |rng: &mut Rng| {
        let attr = rng.pick(ATTRS).to_string();
        let op = rng.pick(OPS).to_string();
        if op.eq_ignore_ascii_case("pr") {
            format!("{attr} pr")
        } else {
            let v = match rng.below(5) {
                0 => "true".to_owned(),
                1 => "null".to_owned(),
                2 => format!("{}", rng.below(100)),
                3 => format!("\"{}\"", multibyte(rng)),
                _ => format!("\"user{}@contoso.com\"", rng.below(50)),
            };
            format!("{attr} {op} {v}")
        }
    };
    if depth > 3 {
        return leaf(rng);
    }
    match rng.below(9) {
        0 => format!("{} and {}", filter(rng, depth + 1), filter(rng, depth + 1)),
        1 => format!("{} or {}", filter(rng, depth + 1), filter(rng, depth + 1)),
        2 => format!("not ({})", filter(rng, depth + 1)),
        3 => format!("emails[{}]", filter(rng, depth + 1)),
        4 => format!("({}", filter(rng, depth + 1)),
        5 => (0..rng.below(300)).map(|_| "(").collect::<String>(),
        6 => multibyte(rng),
        _ => leaf(rng),
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn patch_op(rng: &mut Rng, members: &[String]) -> Value {
    let op = *rng.pick(&["add", "Add", "replace", "Replace", "remove", "Remove", "frob", ""]);
    let path = match rng.below(8) {
        0 => Value::Null,
        1 => json!(format!("emails[{}].value", filter(rng, 2))),
        2 => json!(format!("members[value eq \"{}\"]", members.first().cloned().unwrap_or_default())),
        3 => json!(format!("urn:x{}", multibyte(rng))),
        4 => json!(rng.pick(ATTRS)),
        5 => json!(filter(rng, 1)),
        _ => json!(rng.pick(ATTRS)),
    };
    let value = match rng.below(5) {
        0 if !members.is_empty() => json!([{"value": rng.pick(members)}]),
        1 => {
            let mut m = Map::new();
            m.insert(key(rng), value(rng, 0));
            Value::Object(m)
        }
        _ => value(rng, 0),
    };
    let mut o = json!({"op": op, "path": path, "value": value});
    if rng.chance(10) {
        o.as_object_mut().map(|m| m.remove("path"));
    }
    o
}

fn patch_body(rng: &mut Rng, members: &[String]) -> Value {
    let n = if rng.chance(5) { rng.below(1_200) } else { 1 + rng.below(5) };
    let ops: Vec<Value> = (0..n).map(|_| patch_op(rng, members)).collect();
    let mut b = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    if rng.chance(10) {
        mutate(rng, &mut b);
    }
    b
}

fn query(rng: &mut Rng) -> String {
    let mut q: Vec<String> = Vec::new();
    for _ in 0..rng.below(4) {
        q.push(match rng.below(7) {
            0 => format!("filter={}", encode(&filter(rng, 0))),
            1 => format!("startIndex={}", *rng.pick(&["0", "-5", "1", "99999999999999999999", "x", "1e3"])),
            2 => format!("count={}", *rng.pick(&["0", "-1", "5", "1000", "100000", "abc"])),
            3 => format!("sortBy={}", encode(rng.pick::<&str>(ATTRS))),
            4 => format!("sortOrder={}", *rng.pick(&["ascending", "descending", "sideways"])),
            5 => format!("attributes={}", encode(rng.pick::<&str>(ATTRS))),
            _ => format!("excludedAttributes={}", encode(&multibyte(rng))),
        });
    }
    if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) }
}

/// The next request, given the ids created so far (never the sentinel user's).
pub fn request(rng: &mut Rng, users: &[String], groups: &[String]) -> Req {
    use reqwest::Method;
    let json_ct = |rng: &mut Rng| -> Option<String> {
        if rng.chance(90) { Some("application/scim+json".into()) } else { Some((*rng.pick(CONTENT_TYPES)).into()) }
    };
    let some_id = |rng: &mut Rng, ids: &[String]| -> String {
        if ids.is_empty() || rng.chance(10) {
            match rng.below(4) {
                0 => encode(&multibyte(rng)),
                1 => "00000000-0000-0000-0000-000000000000".into(),
                2 => "a%00b".into(),
                _ => "%FF%FE".into(),
            }
        } else {
            rng.pick(ids).clone()
        }
    };
    let (kind, ids) = if rng.chance(65) { ("Users", users) } else { ("Groups", groups) };
    match rng.below(14) {
        0 | 1 => {
            let mut b = if kind == "Users" { entra_user(rng) } else { entra_group(rng, users) };
            if rng.chance(60) {
                mutate(rng, &mut b);
            }
            Req {
                method: Method::POST,
                path: format!("/{kind}"),
                content_type: json_ct(rng),
                body: Some(b.to_string().into_bytes()),
            }
        }
        2 | 3 => {
            let b = patch_body(rng, users);
            let id = some_id(rng, ids);
            Req {
                method: Method::PATCH,
                path: format!("/{kind}/{id}"),
                content_type: json_ct(rng),
                body: Some(b.to_string().into_bytes()),
            }
        }
        4 => {
            let mut b = if kind == "Users" { entra_user(rng) } else { entra_group(rng, users) };
            mutate(rng, &mut b);
            let id = some_id(rng, ids);
            Req {
                method: Method::PUT,
                path: format!("/{kind}/{id}"),
                content_type: json_ct(rng),
                body: Some(b.to_string().into_bytes()),
            }
        }
        5 | 6 => Req { method: Method::GET, path: format!("/{kind}{}", query(rng)), content_type: None, body: None },
        7 => {
            let id = some_id(rng, ids);
            Req { method: Method::GET, path: format!("/{kind}/{id}{}", query(rng)), content_type: None, body: None }
        }
        8 => {
            let id = some_id(rng, ids);
            Req { method: Method::DELETE, path: format!("/{kind}/{id}"), content_type: None, body: None }
        }
        9 => {
            // Raw bytes, truncated JSON, huge numbers.
            let body = match rng.below(4) {
                0 => (0..rng.below(2000)).map(|_| rng.next() as u8).collect(),
                1 => {
                    let s = entra_user(rng).to_string();
                    s.as_bytes()[..rng.below(s.len())].to_vec()
                }
                2 => {
                    b"{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:User\"], \"userName\": 1e999999}".to_vec()
                }
                _ => format!("[{}]", "[".repeat(rng.below(5000))).into_bytes(),
            };
            let method = rng.pick(&[Method::POST, Method::PATCH, Method::PUT]).clone();
            let path =
                if method == Method::POST { format!("/{kind}") } else { format!("/{kind}/{}", some_id(rng, ids)) };
            Req { method, path, content_type: Some((*rng.pick(CONTENT_TYPES)).into()), body: Some(body) }
        }
        10 => {
            let mut b = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
            if rng.chance(70) {
                b["filter"] = json!(filter(rng, 0));
            }
            if rng.chance(30) {
                b["sortBy"] = json!(rng.pick(ATTRS));
            }
            if rng.chance(30) {
                b["count"] = value(rng, 3);
            }
            if rng.chance(20) {
                mutate(rng, &mut b);
            }
            Req {
                method: Method::POST,
                path: format!("/{kind}/.search"),
                content_type: json_ct(rng),
                body: Some(b.to_string().into_bytes()),
            }
        }
        11 => {
            let path = rng
                .pick(&[
                    "/Schemas",
                    "/ResourceTypes",
                    "/ServiceProviderConfig",
                    "/Schemas/urn:x",
                    "/Me",
                    "/",
                    "/Users/",
                    "//Users",
                    "/Users/%2e%2e/Groups",
                ])
                .to_string();
            Req { method: Method::GET, path, content_type: None, body: None }
        }
        12 => {
            let method = rng
                .pick(&[
                    Method::OPTIONS,
                    Method::HEAD,
                    Method::TRACE,
                    Method::from_bytes(b"FROB").unwrap_or(Method::GET),
                ])
                .clone();
            Req { method, path: format!("/{kind}"), content_type: None, body: None }
        }
        _ => {
            // Members of every shape on a group.
            let id = some_id(rng, groups);
            let mut values: Vec<Value> = (0..rng.below(50))
                .map(|_| match (users.is_empty(), rng.below(10)) {
                    (_, 0) => json!({"value": "a\u{0}b"}),
                    (true, _) => json!({"value": "nobody"}),
                    (false, _) => json!({"value": rng.pick(users)}),
                })
                .collect();
            if rng.chance(30) {
                values.push(value(rng, 0));
            }
            let op = *rng.pick(&["Add", "Remove", "Replace"]);
            let b = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations": [{"op": op, "path": "members", "value": values}]});
            Req {
                method: Method::PATCH,
                path: format!("/Groups/{id}"),
                content_type: json_ct(rng),
                body: Some(b.to_string().into_bytes()),
            }
        }
    }
}
