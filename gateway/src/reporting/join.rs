//! The join (R1–R9): every Learn user of the snapshot, matched through `Users.AADObjectId` to the SCIM
//! user whose `externalId` holds the Entra objectId, with the template's measures and aggregates.

use super::load::{FastMap, normalize_object_id};
use super::model::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The Entra identities the gateway holds, by normalised objectId (R2). Hard-deleted users are not
/// in the store, so their Learn rows come out unmatched (R9).
pub type Identities = HashMap<String, Identity>;

/// Builds the identity map from (externalId, identity) pairs.
pub fn identities(pairs: impl IntoIterator<Item = (String, Identity)>) -> Identities {
    pairs.into_iter().map(|(ext, id)| (normalize_object_id(&ext), id)).filter(|(k, _)| !k.is_empty()).collect()
}

const TOP: usize = 10;

fn ranked<'k>(
    counts: impl IntoIterator<Item = (&'k str, usize)>,
    title: impl Fn(&str) -> (String, Option<String>),
) -> Vec<Ranked> {
    let mut v: Vec<(&str, usize)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v.truncate(TOP);
    v.into_iter()
        .map(|(key, count)| {
            let (title, url) = title(key);
            Ranked { key: key.to_owned(), title, url, count }
        })
        .collect()
}

/// Joins a snapshot with the identities: one row per Learn user (R3–R6), in the Users dataset's order.
pub fn join<'a>(tenant: &str, snapshot: &'a Snapshot, ids: &'a Identities) -> Report<'a> {
    // The template's pseudonym: User_<n>, n = rank by CreatedOn (then by position).
    let mut order: Vec<usize> = (0..snapshot.learners.len()).collect();
    order.sort_by(|&a, &b| {
        let (la, lb) = (&snapshot.learners[a], &snapshot.learners[b]);
        la.created_on.cmp(&lb.created_on).then(a.cmp(&b))
    });
    let mut rank = vec![0usize; order.len()];
    for (n, i) in order.into_iter().enumerate() {
        rank[i] = n + 1;
    }

    let mut rows = Vec::with_capacity(snapshot.learners.len());
    let mut s = Summary { learn_users: snapshot.learners.len(), ..Default::default() };
    let mut modules: FastMap<&str, usize> = FastMap::default();
    let mut paths: FastMap<&str, usize> = FastMap::default();
    let mut certs: FastMap<&str, usize> = FastMap::default();
    let cat = &snapshot.catalog;
    for (i, l) in snapshot.learners.iter().enumerate() {
        let identity = if l.aad_object_id.is_empty() { None } else { ids.get(&l.aad_object_id) };
        let matched = identity.is_some();
        let label = identity
            .and_then(|id| id.display_name.clone().or_else(|| id.user_principal_name.clone()))
            .unwrap_or_else(|| format!("User_{}", rank[i]));
        s.matched += usize::from(matched);
        s.active_learners += usize::from(l.total_xp > 0);
        s.modules_started += l.modules_started.len();
        s.badges += l.modules_completed.len();
        s.trophies += l.paths_completed.len();
        s.certifications += l.certifications.len();
        s.applied_skills += l.applied_skills.len();
        s.users_with_module += usize::from(!l.modules_completed.is_empty());
        s.users_with_path += usize::from(!l.paths_completed.is_empty());
        for a in &l.modules_completed {
            *modules.entry(&*a.uid).or_insert(0) += 1;
        }
        for a in &l.paths_completed {
            *paths.entry(&*a.uid).or_insert(0) += 1;
        }
        for c in &l.certifications {
            *certs.entry(&*c.uid).or_insert(0) += 1;
        }
        rows.push(Row { learner: l, matched, identity, label });
    }
    s.module_completion_rate = if s.modules_started == 0 { 0.0 } else { s.badges as f64 / s.modules_started as f64 };
    // Users are ranked by their label; a label shared by several rows (R6) sums them.
    let mut users_modules: FastMap<&str, usize> = FastMap::default();
    let mut users_paths: FastMap<&str, usize> = FastMap::default();
    let mut users_creds: FastMap<&str, usize> = FastMap::default();
    for r in &rows {
        let l = r.learner;
        for (map, n) in [
            (&mut users_modules, l.modules_completed.len()),
            (&mut users_paths, l.paths_completed.len()),
            (&mut users_creds, l.certifications.len() + l.applied_skills.len()),
        ] {
            if n > 0 {
                *map.entry(r.label.as_str()).or_insert(0) += n;
            }
        }
    }
    // Product → (modules completed, paths completed): each completed item counts for its products.
    let mut by_product: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (uid, n) in &modules {
        for p in cat.modules.get(*uid).map(|m| m.products.as_slice()).unwrap_or_default() {
            by_product.entry(p.clone()).or_default().0 += n;
        }
    }
    for (uid, n) in &paths {
        for p in cat.paths.get(*uid).map(|m| m.products.as_slice()).unwrap_or_default() {
            by_product.entry(p.clone()).or_default().1 += n;
        }
    }
    let user = |k: &str| (k.to_owned(), None);
    let item = |m: &std::collections::BTreeMap<String, CatalogItem>, k: &str| {
        m.get(k).map_or((k.to_owned(), None), |c| {
            (if c.title.is_empty() { k.to_owned() } else { c.title.clone() }, c.url.clone())
        })
    };
    let mut by_product: Vec<(String, usize, usize)> = by_product.into_iter().map(|(p, (m, l))| (p, m, l)).collect();
    by_product.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then_with(|| a.0.cmp(&b.0)));
    Report {
        tenant: tenant.to_owned(),
        snapshot,
        summary: s,
        top_users_modules: ranked(users_modules, user),
        top_users_paths: ranked(users_paths, user),
        top_users_credentials: ranked(users_creds, user),
        top_modules: ranked(modules, |k| item(&cat.modules, k)),
        top_paths: ranked(paths, |k| item(&cat.paths, k)),
        top_certifications: ranked(certs, |k| item(&cat.certifications, k)),
        by_product,
        rows,
    }
}

/// The SCIM users without a Learn profile (R5: not in the per-learner report; listed separately).
pub fn without_learn_activity<'a>(snapshot: &Snapshot, ids: &'a Identities) -> Vec<&'a Identity> {
    let seen: BTreeSet<&str> = snapshot.learners.iter().map(|l| l.aad_object_id.as_str()).collect();
    let mut out: Vec<&Identity> = ids.iter().filter(|(k, _)| !seen.contains(k.as_str())).map(|(_, v)| v).collect();
    out.sort_by(|a, b| a.user_principal_name.cmp(&b.user_principal_name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learner(user: &str, aad: &str, xp: i64) -> Learner {
        Learner { user_id: user.into(), aad_object_id: aad.into(), total_xp: xp, ..Default::default() }
    }

    #[test]
    fn matched_unmatched_duplicates_and_pseudonyms() {
        let mut snap = Snapshot::default();
        snap.learners.push(Learner { created_on: Some("2024-01-02".into()), ..learner("L1", "o1", 300) });
        snap.learners.push(Learner { created_on: Some("2023-01-01".into()), ..learner("L2", "o9", 0) });
        snap.learners.push(learner("L3", "o1", 50));
        let ids = identities([(
            " {O1} ".to_owned(),
            Identity { display_name: Some("Ada".into()), account_enabled: false, ..Default::default() },
        )]);
        let r = join("t", &snap, &ids);
        assert_eq!(r.rows.len(), 3);
        assert!(r.rows[0].matched && r.rows[2].matched, "R6: both rows of o1 keep their own row");
        assert_eq!(r.rows[0].label, "Ada");
        assert!(!r.rows[1].matched);
        assert!(r.rows[1].identity.is_none());
        // L3 has no CreatedOn (sorts first), L2 is 2023, L1 2024.
        assert_eq!(r.rows[1].label, "User_2");
        assert_eq!(r.summary.matched, 2);
        assert_eq!(r.summary.active_learners, 2);
        assert_eq!(r.top_users_modules.len(), 0);
        let ada = r.rows[0].identity.as_ref().expect("identity");
        assert!(!ada.account_enabled, "disabled users stay matched (R9)");
    }
}
