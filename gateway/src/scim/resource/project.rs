//! Projection of a rendered resource (RFC 7644 §3.4.2.5, §3.9): `attributes` / `excludedAttributes`
//! together with each attribute's `returned` characteristic.

use super::doc::{attr_path_string, is_absent};
use crate::scim::filter::AttrPath;
use crate::scim::schema::{AttributeDef, ResourceSchema, Returned};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Sel {
    /// A whole extension (`urn:…:enterprise:2.0:User`).
    Ext(String),
    /// `ext` = extension URN (canonical), `attr`/`sub` canonical names.
    Attr { ext: Option<String>, attr: String, sub: Option<String> },
}

fn resolve_sel(p: &AttrPath, schema: &ResourceSchema) -> Option<Sel> {
    let s = attr_path_string(p);
    if let Some(ext) = schema.extension(&s) {
        return Some(Sel::Ext(ext.id.clone()));
    }
    if let Some(r) = schema.resolve(&s) {
        return Some(Sel::Attr {
            ext: r.extension.map(str::to_owned),
            attr: r.attr.name.clone(),
            sub: r.sub.map(|x| x.name.clone()),
        });
    }
    // Attributes the schema may not define (e.g. `members`/`groups` with minimal schemas).
    let (ext, rest) = schema.split_urn(&s)?;
    let (name, sub) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b.to_owned())),
        None => (rest, None),
    };
    Some(Sel::Attr { ext: ext.map(str::to_owned), attr: name.to_owned(), sub })
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) and the `returned`
/// characteristic to a rendered resource: `returned: never` is always dropped, `always` always kept,
/// `request` only when listed in `attributes`.
pub fn project(doc: &Value, schema: &ResourceSchema, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let inc: Vec<Sel> = attributes.iter().filter_map(|p| resolve_sel(p, schema)).collect();
    let exc: Vec<Sel> = excluded.iter().filter_map(|p| resolve_sel(p, schema)).collect();
    // Unresolvable `attributes` entries still switch to "only what is listed" mode.
    let inc_mode = !attributes.is_empty();
    let Some(obj) = doc.as_object() else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("schemas") {
            // A schema removed from the tenant is no longer listed (nor its values served, below).
            let known = |u: &Value| {
                u.as_str().is_none_or(|u| u.eq_ignore_ascii_case(&schema.core.id) || schema.extension(u).is_some())
            };
            let kept = match v.as_array() {
                Some(a) => Value::Array(a.iter().filter(|u| known(u)).cloned().collect()),
                None => v.clone(),
            };
            out.insert(k.clone(), kept);
            continue;
        }
        if k.len() > 4 && k[..4].eq_ignore_ascii_case("urn:") && schema.extension(k).is_none() {
            continue; // the values of an extension the tenant no longer has
        }
        if let Some(ext) = schema.extension(k) {
            let ext_id = ext.id.as_str();
            let whole_inc = inc.iter().any(|s| matches!(s, Sel::Ext(u) if u == ext_id));
            let whole_exc = exc.iter().any(|s| matches!(s, Sel::Ext(u) if u == ext_id));
            let mut eo = Map::new();
            if let Some(o) = v.as_object() {
                for (ak, av) in o {
                    let ctx = Ctx { ext: Some(ext_id), inc: &inc, exc: &exc, inc_mode, whole_inc, whole_exc };
                    if let Some(pv) = project_attr(&ctx, ext.attr(ak), ak, av) {
                        eo.insert(ak.clone(), pv);
                    }
                }
            }
            if !eo.is_empty() {
                out.insert(k.clone(), Value::Object(eo));
            }
            continue;
        }
        let ctx = Ctx { ext: None, inc: &inc, exc: &exc, inc_mode, whole_inc: false, whole_exc: false };
        if let Some(pv) = project_attr(&ctx, schema.core_attr(k), k, v) {
            out.insert(k.clone(), pv);
        }
    }
    Value::Object(out)
}

struct Ctx<'a> {
    ext: Option<&'a str>,
    inc: &'a [Sel],
    exc: &'a [Sel],
    inc_mode: bool,
    whole_inc: bool,
    whole_exc: bool,
}

fn sel_hits<'s>(sels: &'s [Sel], ext: Option<&str>, name: &str) -> (bool, Vec<&'s str>) {
    let mut whole = false;
    let mut subs = vec![];
    for s in sels {
        if let Sel::Attr { ext: e, attr, sub } = s
            && e.as_deref().map(str::to_ascii_lowercase) == ext.map(str::to_ascii_lowercase)
            && attr.eq_ignore_ascii_case(name)
        {
            match sub {
                None => whole = true,
                Some(x) => subs.push(x.as_str()),
            }
        }
    }
    (whole, subs)
}

fn project_attr(ctx: &Ctx<'_>, def: Option<&AttributeDef>, name: &str, v: &Value) -> Option<Value> {
    let returned = def.map_or(Returned::Default, |d| d.returned);
    if returned == Returned::Never {
        return None;
    }
    let (inc_whole, inc_subs) = sel_hits(ctx.inc, ctx.ext, name);
    let (exc_whole, exc_subs) = sel_hits(ctx.exc, ctx.ext, name);
    let inc_whole = inc_whole || ctx.whole_inc;
    let exc_whole = exc_whole || ctx.whole_exc;
    if returned == Returned::Always {
        return Some(filter_subs(def, v, |_, _| true));
    }
    if ctx.inc_mode {
        if inc_whole {
            // whole attribute requested: everything but never-returned / excluded sub-attributes
            return non_empty(filter_subs(def, v, |sn, sr| {
                sr == Returned::Always || !exc_subs.iter().any(|x| x.eq_ignore_ascii_case(sn))
            }));
        }
        if inc_subs.is_empty() {
            return None;
        }
        return non_empty(filter_subs(def, v, |sn, sr| {
            sr == Returned::Always || inc_subs.iter().any(|x| x.eq_ignore_ascii_case(sn))
        }));
    }
    if returned == Returned::Request || exc_whole {
        return None;
    }
    non_empty(filter_subs(def, v, |sn, sr| {
        sr == Returned::Always || (sr != Returned::Request && !exc_subs.iter().any(|x| x.eq_ignore_ascii_case(sn)))
    }))
}

fn non_empty(v: Value) -> Option<Value> {
    if is_absent(&v) { None } else { Some(v) }
}

/// Keeps the sub-attributes of a complex value (each element when multi-valued) for which `keep`
/// holds; `returned: never` sub-attributes are always dropped; elements left empty are dropped.
fn filter_subs(def: Option<&AttributeDef>, v: &Value, keep: impl Fn(&str, Returned) -> bool + Copy) -> Value {
    let filter_obj = |o: &Map<String, Value>| -> Map<String, Value> {
        o.iter()
            .filter(|(k, _)| {
                let r = def.and_then(|d| d.sub(k)).map_or(Returned::Default, |s| s.returned);
                r != Returned::Never && keep(k, r)
            })
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect()
    };
    match v {
        Value::Object(o) => Value::Object(filter_obj(o)),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter_map(|e| match e {
                    Value::Object(o) => {
                        let f = filter_obj(o);
                        (!f.is_empty()).then_some(Value::Object(f))
                    }
                    other => Some(other.clone()),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}
