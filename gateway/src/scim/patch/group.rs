//! PATCH on a Group's `members`: never a document edit. `add`/`replace`/`remove` on `members`, and
//! `remove` on `members[value eq "…" or …]`, become [`MemberChange`]s in operation order.

use super::filter_terms::value_eq_ids;
use super::ops::{PatchOpKind, PatchOutcome, require_value};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::Filter;
use crate::scim::members::MemberChange;
use crate::scim::resource::parse_member_refs;
use crate::scim::schema::AttributeDef;
use serde_json::Value;

pub(super) fn members_attr(
    sub: Option<&AttributeDef>,
    kind: PatchOpKind,
    value: Option<&Value>,
    out: &mut PatchOutcome,
) -> ScimResult<()> {
    if let Some(s) = sub {
        return Err(ScimError::invalid_path(format!(
            "'members.{}' cannot be patched; target 'members' or 'members[value eq \"id\"]'",
            s.name
        )));
    }
    let change = match kind {
        PatchOpKind::Add => {
            let refs = parse_member_refs(require_value(value, kind)?)?;
            if refs.is_empty() {
                return Ok(());
            }
            MemberChange::Add(refs)
        }
        PatchOpKind::Replace => MemberChange::Replace(parse_member_refs(require_value(value, kind)?)?),
        PatchOpKind::Remove => match value {
            None | Some(Value::Null) => MemberChange::RemoveAll,
            Some(v) => {
                let ids: Vec<String> = parse_member_refs(v)?.into_iter().map(|r| r.value).collect();
                if ids.is_empty() {
                    return Ok(());
                }
                MemberChange::Remove(ids)
            }
        },
    };
    out.member_changes.push(change);
    Ok(())
}

pub(super) fn members_filtered(
    filter: &Filter,
    sub: Option<&AttributeDef>,
    kind: PatchOpKind,
    out: &mut PatchOutcome,
) -> ScimResult<()> {
    if kind != PatchOpKind::Remove || sub.is_some() {
        return Err(ScimError::invalid_path(
            "a value filter on 'members' is only supported in a remove operation without a sub-attribute",
        ));
    }
    let ids = value_eq_ids(filter)
        .ok_or_else(|| ScimError::invalid_filter("only value eq filters are supported on members"))?;
    out.member_changes.push(MemberChange::Remove(ids));
    Ok(())
}
