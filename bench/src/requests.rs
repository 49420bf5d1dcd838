//! What each phase sends and accepts: the Entra-shaped request bodies and paths for item `i`
//! (deterministic, so runs are comparable) and the check of each answer.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::Value;

use crate::cli::Phase;
use crate::phases::Ctx;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Fills `path` (relative to the base URL) and `body` (empty = no body) for item `i`;
/// returns the method, or None when the item cannot be built (missing id) and is skipped.
pub(crate) fn build_request(ctx: &Ctx, i: usize, path: &mut String, body: &mut Vec<u8>) -> Option<&'static str> {
    // Writing into a String or Vec cannot fail, hence the ignored results.
    match ctx.phase {
        Phase::Create => {
            path.push_str("/Users");
            let _ = write!(
                body,
                concat!(
                    r#"{{"schemas":["{us}","{es}"],"externalId":"{ext}","userName":"user{i:06}@bench.example.com","#,
                    r#""active":true,"displayName":"Bench User {i}","#,
                    r#""emails":[{{"primary":true,"type":"work","value":"user{i}@bench.example.com"}}],"#,
                    r#""name":{{"formatted":"Bench User {i}","familyName":"User{i}","givenName":"Bench"}},"#,
                    r#""title":"Engineer","{es}":{{"employeeNumber":"{i}","department":"Dept {dept}","organization":"Contoso"}},"#,
                    r#""meta":{{"resourceType":"User"}},"roles":[]}}"#
                ),
                us = USER_SCHEMA,
                es = ENTERPRISE_SCHEMA,
                ext = uuid_like(1, i as u64),
                i = i,
                dept = i % 20,
            );
            Some("POST")
        }
        Phase::Precheck => {
            path.push_str("/Users?filter=");
            let filter = format!("userName eq \"user{i:06}@bench.example.com\"");
            form_encode(&filter, path);
            Some("GET")
        }
        Phase::Groups => {
            path.push_str("/Groups");
            let _ = write!(
                body,
                concat!(
                    r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","#,
                    r#""http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"#,
                    r#""externalId":"{ext}","displayName":"Bench Group {g}","meta":{{"resourceType":"Group"}}}}"#
                ),
                ext = uuid_like(2, i as u64),
                g = i,
            );
            Some("POST")
        }
        Phase::Members => {
            let per_round = ctx.groups * ctx.patches_per_group;
            let round = i / per_round;
            let g = (i % per_round) / ctx.patches_per_group;
            let k = i % ctx.patches_per_group;
            let gid = ctx.group_ids.get(round * ctx.groups + g)?.as_deref()?;
            let first = k * ctx.members_per_patch;
            let count = ctx.members_per_patch.min(ctx.members_per_group - first);
            let base = g * ctx.members_per_group + round * ctx.members_per_group + first;
            body.extend_from_slice(br#"{"schemas":[""#);
            body.extend_from_slice(PATCH_SCHEMA.as_bytes());
            body.extend_from_slice(br#""],"Operations":[{"op":"Add","path":"members","value":["#);
            let mut any = false;
            for j in 0..count {
                let Some(Some(uid)) = ctx.user_ids.get((base + j) % ctx.users) else {
                    continue;
                };
                if any {
                    body.push(b',');
                }
                any = true;
                body.extend_from_slice(br#"{"$ref":null,"value":"#);
                json_string(body, uid);
                body.push(b'}');
            }
            if !any {
                return None;
            }
            body.extend_from_slice(b"]}]}");
            path.push_str("/Groups/");
            path_encode(gid, path);
            Some("PATCH")
        }
        Phase::GroupPost => {
            path.push_str("/Groups");
            let _ = write!(
                body,
                concat!(
                    r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"#,
                    r#""externalId":"{ext}","displayName":"Bench Large Group {i}","members":["#
                ),
                ext = uuid_like(3, i as u64),
                i = i,
            );
            let mut any = false;
            for uid in ctx.user_ids.iter().take(ctx.members_per_group).flatten() {
                if any {
                    body.push(b',');
                }
                any = true;
                body.extend_from_slice(br#"{"value":"#);
                json_string(body, uid);
                body.push(b'}');
            }
            body.extend_from_slice(b"]}");
            Some("POST")
        }
        Phase::Replace => {
            let uid = ctx.user_ids.get(i)?.as_deref()?;
            path.push_str("/Users/");
            path_encode(uid, path);
            let _ = write!(
                body,
                concat!(
                    r#"{{"schemas":["{ps}"],"Operations":["#,
                    r#"{{"op":"Replace","path":"displayName","value":"Bench User {i} v2"}},"#,
                    r#"{{"op":"Replace","path":"name.givenName","value":"Benched"}},"#,
                    r#"{{"op":"Replace","path":"{es}:department","value":"Dept X"}},"#,
                    r#"{{"op":"Replace","path":"active","value":"True"}}]}}"#
                ),
                ps = PATCH_SCHEMA,
                es = ENTERPRISE_SCHEMA,
                i = i,
            );
            Some("PATCH")
        }
        Phase::List => {
            let page = i % ctx.list_pages.max(1);
            let _ = write!(path, "/Users?startIndex={}&count={}", 1 + page * ctx.page_size, ctx.page_size);
            Some("GET")
        }
    }
}

/// Validates a response; Ok(Some(id)) for creates, Err(reason) for an unexpected answer.
pub(crate) fn check_response(phase: Phase, status: u16, body: &[u8]) -> Result<Option<String>, String> {
    let expect = |ok: &[u16]| {
        if ok.contains(&status) { Ok(()) } else { Err(format!("unexpected status {status}")) }
    };
    match phase {
        Phase::Create | Phase::Groups | Phase::GroupPost => {
            expect(&[201])?;
            let v: Value =
                serde_json::from_slice(body).map_err(|e| format!("status 201 but the body is not JSON ({e})"))?;
            match v.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => Ok(Some(id.to_string())),
                _ => Err("status 201 but no \"id\" in the body".to_string()),
            }
        }
        Phase::Precheck => {
            expect(&[200])?;
            let total =
                serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("totalResults").and_then(Value::as_u64));
            match total {
                Some(1) => Ok(None),
                Some(n) => Err(format!("status 200 but totalResults={n}, expected 1")),
                None => Err("status 200 but no numeric totalResults".to_string()),
            }
        }
        Phase::Members | Phase::Replace => expect(&[200, 204]).map(|()| None),
        Phase::List => expect(&[200]).map(|()| None),
    }
}

/// Deterministic UUID-v4-shaped string for (namespace, index).
pub(crate) fn uuid_like(namespace: u64, i: u64) -> String {
    let a = splitmix64((namespace << 48) ^ i);
    let b = splitmix64(a ^ 0xA5A5_A5A5_A5A5_A5A5);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// application/x-www-form-urlencoded as Entra sends filters: space → `+`, `"` → `%22`, `@` → `%40`.
pub(crate) fn form_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// Percent-encodes one path segment (ids are normally UUIDs and pass unchanged).
fn path_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}
