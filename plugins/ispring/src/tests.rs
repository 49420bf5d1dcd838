//! The translation rules checked natively: scenarios S1–S9 of seed 004 and a randomized run over
//! thousands of membership changes with I12 (and I3/I5/I6) checked after every change, against a
//! small model of iSpring that applies the operations the plugin emits.

use std::collections::{BTreeMap, BTreeSet};

use scimgw_plugin_sdk::{
    ActiveChange, Change, CustomOp, Email, Event, Group, Member, MembersChange, Operation, Ordering, PluginError,
    Rename, ResourceKind, User,
};

use crate::config::Config;
use crate::translate::{
    self, Env, MOVE_USERS, MembersPayload, MovePayload, SET_MEMBERS, SET_STATUS, StatusPayload, UserExtra,
};

/// Entra (the gateway's directory) and the plugin's kv.
#[derive(Default)]
struct World {
    kv: BTreeMap<String, String>,
    users: BTreeMap<String, User>,
    group_names: BTreeMap<String, String>,
    /// Entra memberships per user, in the order added.
    memberships: BTreeMap<String, Vec<String>>,
}

impl Env for World {
    fn get(&self, key: &str) -> Option<String> {
        self.kv.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: String) -> Result<(), PluginError> {
        self.kv.insert(key.to_owned(), value);
        Ok(())
    }
    fn delete(&mut self, key: &str) {
        self.kv.remove(key);
    }
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.kv.range(prefix.to_owned()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(k, _)| k.clone()).collect()
    }
    fn user(&self, id: &str) -> Option<User> {
        self.users.get(id).cloned()
    }
    fn group(&self, id: &str) -> Option<Group> {
        self.group_names.get(id).map(|n| group(id, n))
    }
    fn groups_of(&self, user: &str) -> Vec<String> {
        self.memberships.get(user).cloned().unwrap_or_default()
    }
}

/// iSpring as the operations leave it.
#[derive(Default, Debug)]
struct ISpring {
    /// user → department key (`""` root).
    users: BTreeMap<String, String>,
    status: BTreeMap<String, u8>,
    departments: BTreeMap<String, String>,
    groups: BTreeMap<String, (String, BTreeSet<String>)>,
    /// (user, department) joins, in order.
    joins: Vec<(String, String)>,
    calls: usize,
}

impl ISpring {
    fn join(&mut self, user: &str, dept: &str) {
        let old = self.users.insert(user.to_owned(), dept.to_owned());
        if old.as_deref() != Some(dept) {
            self.joins.push((user.to_owned(), dept.to_owned()));
        }
    }

    fn apply(&mut self, op: &Operation) {
        self.calls += 1;
        match op {
            Operation::UpsertUser(u) => {
                let extra: UserExtra = serde_json::from_str(&u.fields_json).unwrap();
                if !self.users.contains_key(&u.user_id) || extra.repair {
                    self.join(&u.user_id, &extra.department);
                    self.status.insert(u.user_id.clone(), if u.active { 1 } else { 3 });
                }
            }
            Operation::DeleteUser(id) => {
                self.users.remove(id);
                self.status.remove(id);
                for (_, members) in self.groups.values_mut() {
                    members.remove(id);
                }
            }
            Operation::UpsertDepartment(d) => {
                self.departments.insert(d.key.clone(), d.name.clone());
            }
            Operation::AssignDepartment(m) => {
                assert!(m.container.is_empty() || self.departments.contains_key(&m.container));
                if self.users.contains_key(&m.user_id) {
                    self.join(&m.user_id, &m.container);
                }
            }
            Operation::UpsertGroup(g) => {
                self.groups.entry(g.key.clone()).or_default().0 = g.name.clone();
            }
            Operation::Custom(CustomOp { kind, payload_json, ordering }) => match kind.as_str() {
                MOVE_USERS => {
                    assert_eq!(*ordering, Ordering::Barrier);
                    let p: MovePayload = serde_json::from_str(payload_json).unwrap();
                    for m in p.moves {
                        for u in m.users {
                            if self.users.contains_key(&u) {
                                self.join(&u, &m.department);
                            }
                        }
                    }
                }
                SET_MEMBERS => {
                    let p: MembersPayload = serde_json::from_str(payload_json).unwrap();
                    let users = p.users.into_iter().filter(|u| self.users.contains_key(u)).collect();
                    self.groups.get_mut(&p.group).expect("set-members after upsert-group").1 = users;
                }
                SET_STATUS => {
                    let p: StatusPayload = serde_json::from_str(payload_json).unwrap();
                    if self.users.contains_key(&p.user) {
                        self.status.insert(p.user, p.status);
                    }
                }
                other => panic!("unexpected custom op {other}"),
            },
            other => panic!("unexpected op {}", other.name()),
        }
    }

    fn dept_name(&self, user: &str) -> String {
        let key = &self.users[user];
        if key.is_empty() { "Root".to_owned() } else { self.departments[key].clone() }
    }

    fn group_names_of(&self, user: &str) -> BTreeSet<String> {
        self.groups.values().filter(|(_, m)| m.contains(user)).map(|(n, _)| n.clone()).collect()
    }
}

fn user(id: &str) -> User {
    User {
        id: id.to_owned(),
        external_id: None,
        user_name: format!("{id}@contoso.com"),
        active: true,
        display_name: Some(id.to_owned()),
        given_name: Some("Given".to_owned()),
        family_name: Some(id.to_uppercase()),
        emails: vec![Email { value: format!("{id}@contoso.com"), kind: Some("work".into()), primary: true }],
        title: None,
        preferred_language: None,
        employee_number: None,
        department: None,
        division: None,
        cost_center: None,
        organization: None,
        manager_id: None,
        scim_json: "{}".into(),
    }
}

fn group(id: &str, name: &str) -> Group {
    Group { id: id.to_owned(), external_id: None, display_name: name.to_owned(), scim_json: "{}".into() }
}

fn members(ids: &[&str]) -> Vec<Member> {
    ids.iter().map(|id| Member { id: (*id).to_owned(), kind: ResourceKind::User }).collect()
}

/// Drives events through the plugin into the model, keeping Entra's state as the gateway would.
struct Harness {
    world: World,
    ispring: ISpring,
    config: Config,
    seq: u64,
}

impl Harness {
    fn new(groups_on: bool) -> Harness {
        let config = Config::parse(&format!(r#"{{"baseUrl":"https://x","addUsersToGroups":{groups_on}}}"#)).unwrap();
        Harness { world: World::default(), ispring: ISpring::default(), config, seq: 0 }
    }

    fn set_option(&mut self, on: bool) {
        self.config.add_users_to_groups = on;
    }

    fn send(&mut self, event: Event, resync: bool) -> Vec<Operation> {
        self.seq += 1;
        let change = Change { seq: self.seq, at: "2026-01-01T00:00:00Z".into(), resync, event };
        let ops = translate::translate(&mut self.world, &self.config, &change).expect("translate");
        for op in &ops {
            self.ispring.apply(op);
        }
        ops
    }

    fn create_user(&mut self, id: &str) -> Vec<Operation> {
        let u = user(id);
        self.world.users.insert(id.to_owned(), u.clone());
        self.send(Event::UserUpserted(u), false)
    }

    fn create_group(&mut self, id: &str, name: &str) {
        self.world.group_names.insert(id.to_owned(), name.to_owned());
        self.send(Event::GroupUpserted(group(id, name)), false);
    }

    fn add(&mut self, g: &str, users: &[&str]) {
        for u in users {
            let list = self.world.memberships.entry((*u).to_owned()).or_default();
            if !list.iter().any(|x| x == g) {
                list.push(g.to_owned());
            }
        }
        self.send(Event::MembersAdded(MembersChange { group_id: g.to_owned(), members: members(users) }), false);
    }

    fn remove(&mut self, g: &str, users: &[&str]) {
        for u in users {
            if let Some(list) = self.world.memberships.get_mut(*u) {
                list.retain(|x| x != g);
            }
        }
        self.send(Event::MembersRemoved(MembersChange { group_id: g.to_owned(), members: members(users) }), false);
    }

    fn delete_group(&mut self, g: &str) {
        self.world.group_names.remove(g);
        for list in self.world.memberships.values_mut() {
            list.retain(|x| x != g);
        }
        self.send(Event::GroupDeleted(g.to_owned()), false);
    }

    fn delete_user(&mut self, u: &str) {
        self.world.users.remove(u);
        self.world.memberships.remove(u);
        self.send(Event::UserDeleted(u.to_owned()), false);
    }

    /// What the gateway replays on `target resync`: users, groups, then memberships group by group.
    fn resync(&mut self) {
        self.send(Event::ResyncStarted, true);
        for u in self.world.users.values().cloned().collect::<Vec<_>>() {
            self.send(Event::UserUpserted(u), true);
        }
        for (id, name) in self.world.group_names.clone() {
            self.send(Event::GroupUpserted(group(&id, &name)), true);
            let mut in_group: Vec<String> = Vec::new();
            for (u, list) in &self.world.memberships {
                if list.contains(&id) {
                    in_group.push(u.clone());
                }
            }
            if !in_group.is_empty() {
                let refs: Vec<&str> = in_group.iter().map(String::as_str).collect();
                self.send(Event::MembersAdded(MembersChange { group_id: id.clone(), members: members(&refs) }), true);
            }
        }
        self.send(Event::ResyncFinished, true);
    }

    /// I12 and I3/I5: every provisioned user in exactly one department, the one of the most recently
    /// added remaining group (root without); I6: mirrored groups list exactly the Entra members.
    fn check(&self, groups_on: bool) {
        for id in self.world.users.keys() {
            let dept = self.ispring.users.get(id).unwrap_or_else(|| panic!("{id} not provisioned"));
            let want = self.world.memberships.get(id).and_then(|l| l.last()).cloned().unwrap_or_default();
            assert_eq!(dept, &want, "department of {id}");
        }
        assert_eq!(self.ispring.users.len(), self.world.users.len());
        if groups_on {
            for (g, (_, members)) in &self.ispring.groups {
                if !self.world.group_names.contains_key(g) {
                    continue; // Deleted in Entra: kept in iSpring.
                }
                let want: BTreeSet<String> =
                    self.world.memberships.iter().filter(|(_, l)| l.contains(g)).map(|(u, _)| u.clone()).collect();
                assert_eq!(members, &want, "members of group {g}");
            }
        }
    }
}

fn names(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn s1_s2_andrey_ends_in_the_last_group() {
    for on in [true, false] {
        let mut h = Harness::new(on);
        h.create_user("andrey");
        h.create_group("g-eu", "Marketing Europe");
        h.create_group("g-cn", "Marketing China");
        h.add("g-eu", &["andrey"]);
        h.add("g-cn", &["andrey"]);
        assert_eq!(h.ispring.dept_name("andrey"), "Marketing China");
        let want = if on { names(&["Marketing Europe", "Marketing China"]) } else { BTreeSet::new() };
        assert_eq!(h.ispring.group_names_of("andrey"), want);
        assert_eq!(h.ispring.groups.is_empty(), !on);
        h.check(on);
    }
}

#[test]
fn s3_s4_order_decides() {
    let mut h = Harness::new(false);
    h.create_user("a");
    h.create_group("gx", "Team X");
    h.create_group("gp", "Project A");
    h.add("gx", &["a"]);
    h.add("gp", &["a"]);
    assert_eq!(h.ispring.dept_name("a"), "Project A");
}

#[test]
fn s5_no_group_is_root_and_s6_joins_every_department_passed() {
    let mut h = Harness::new(false);
    h.create_user("b");
    assert_eq!(h.ispring.dept_name("b"), "Root");
    h.create_user("a");
    h.create_group("gp", "Project A");
    h.create_group("gx", "Team X");
    h.add("gp", &["a"]);
    h.add("gx", &["a"]);
    let joined: Vec<&str> = h.ispring.joins.iter().filter(|(u, _)| u == "a").map(|(_, d)| d.as_str()).collect();
    assert_eq!(joined, ["", "gp", "gx"], "a passes through root, Project A and Team X");
}

#[test]
fn s7_s8_option_switched_on_later() {
    let mut h = Harness::new(false);
    h.create_user("a");
    h.create_user("c");
    h.create_group("gp", "Project A");
    h.create_group("gx", "Team X");
    h.add("gp", &["a"]);
    h.add("gx", &["a"]);
    h.set_option(true);
    // S7: no change from Entra, no groups.
    assert!(h.ispring.groups.is_empty());
    // A user attribute change alone creates no group.
    let mut a = user("a");
    a.family_name = Some("Other".into());
    h.world.users.insert("a".into(), a.clone());
    h.send(Event::UserUpserted(a), false);
    assert!(h.ispring.groups.is_empty());
    // S8: C added to Team X → the group with its complete membership; Project A still absent.
    h.add("gx", &["c"]);
    assert_eq!(h.ispring.groups.len(), 1);
    assert_eq!(h.ispring.groups["gx"], ("Team X".to_owned(), names(&["a", "c"])));
    assert_eq!(h.ispring.dept_name("c"), "Team X");
    // A resync creates the missing group with full membership, and moves nobody.
    let joins = h.ispring.joins.len();
    h.resync();
    assert_eq!(h.ispring.groups["gp"], ("Project A".to_owned(), names(&["a"])));
    assert_eq!(h.ispring.joins.len(), joins, "a resync of an unchanged directory moves nobody");
    h.check(true);
}

#[test]
fn s9_option_switched_off_freezes_groups() {
    let mut h = Harness::new(true);
    h.create_user("a");
    h.create_group("gp", "Project A");
    h.create_group("gx", "Team X");
    h.add("gp", &["a"]);
    h.add("gx", &["a"]);
    h.set_option(false);
    h.remove("gx", &["a"]);
    assert_eq!(h.ispring.dept_name("a"), "Project A");
    assert_eq!(h.ispring.groups["gx"].1, names(&["a"]), "frozen");
    assert_eq!(h.ispring.groups["gp"].1, names(&["a"]));
}

#[test]
fn removal_rules_i4_i5_and_group_deletion_i10() {
    let mut h = Harness::new(true);
    for u in ["a", "b"] {
        h.create_user(u);
    }
    for (g, n) in [("g1", "One"), ("g2", "Two"), ("g3", "Three")] {
        h.create_group(g, n);
    }
    h.add("g1", &["a", "b"]);
    h.add("g2", &["a"]);
    h.add("g3", &["a"]);
    // Removing a non-current group moves nothing.
    let joins = h.ispring.joins.len();
    h.remove("g2", &["a"]);
    assert_eq!(h.ispring.joins.len(), joins);
    assert_eq!(h.ispring.dept_name("a"), "Three");
    // Removing the current one: the most recently added remaining group.
    h.remove("g3", &["a"]);
    assert_eq!(h.ispring.dept_name("a"), "One");
    // Deleting the group: everyone out, department and group kept (emptied).
    h.delete_group("g1");
    assert_eq!(h.ispring.dept_name("a"), "Root");
    assert_eq!(h.ispring.dept_name("b"), "Root");
    assert!(h.ispring.departments.contains_key("g1"));
    assert!(h.ispring.groups["g1"].1.is_empty());
    h.check(true);
}

#[test]
fn i1_only_identity_changes_reach_ispring_and_i8_status() {
    let mut h = Harness::new(false);
    let ops = h.create_user("f");
    let Operation::UpsertUser(op) = &ops[0] else { panic!("{ops:?}") };
    assert_eq!((op.login.as_str(), op.first_name.as_deref()), ("f@contoso.com", Some("Given")));
    let mut f = user("f");
    f.title = Some("Analyst".into());
    f.manager_id = Some("boss".into());
    f.department = Some("Finance".into());
    assert!(h.send(Event::UserUpserted(f.clone()), false).is_empty(), "job title, manager, department: nothing");
    f.family_name = Some("Ivanova".into());
    let ops = h.send(Event::UserUpserted(f.clone()), false);
    assert!(matches!(&ops[..], [Operation::UpsertUser(u)] if u.last_name.as_deref() == Some("Ivanova")));
    h.send(Event::UserActiveChanged(ActiveChange { user_id: "f".into(), active: false }), false);
    assert_eq!(h.ispring.status["f"], 3);
    assert!(h.send(Event::UserActiveChanged(ActiveChange { user_id: "f".into(), active: false }), false).is_empty());
    h.send(Event::UserActiveChanged(ActiveChange { user_id: "f".into(), active: true }), false);
    assert_eq!(h.ispring.status["f"], 1);
    h.delete_user("f");
    assert!(!h.ispring.users.contains_key("f"));
}

#[test]
fn rename_follows_and_unknown_users_are_picked_up_from_the_directory() {
    let mut h = Harness::new(false);
    // A user provisioned before the target existed: only the directory knows it.
    h.world.users.insert("old".into(), user("old"));
    h.create_group("gs", "Sales");
    h.add("gs", &["old"]);
    assert_eq!(h.ispring.dept_name("old"), "Sales");
    h.world.group_names.insert("gs".into(), "Sales EMEA".into());
    h.send(
        Event::GroupRenamed(Rename {
            group_id: "gs".into(),
            old_display_name: Some("Sales".into()),
            display_name: "Sales EMEA".into(),
        }),
        false,
    );
    assert_eq!(h.ispring.dept_name("old"), "Sales EMEA");
}

#[test]
fn bulk_moves_are_barriers_and_single_moves_are_keyed_by_user() {
    let mut h = Harness::new(false);
    for u in ["a", "b", "c"] {
        h.create_user(u);
    }
    h.create_group("g", "G");
    h.world.memberships.insert("a".into(), vec!["g".into()]);
    let ops = h.send(Event::MembersAdded(MembersChange { group_id: "g".into(), members: members(&["a"]) }), false);
    assert!(matches!(&ops[..], [Operation::AssignDepartment(m)] if m.user_id == "a" && m.container == "g"));
    for u in ["b", "c"] {
        h.world.memberships.insert(u.into(), vec!["g".into()]);
    }
    let ops =
        h.send(Event::MembersAdded(MembersChange { group_id: "g".into(), members: members(&["b", "c", "b"]) }), false);
    let [Operation::Custom(c)] = &ops[..] else { panic!("{ops:?}") };
    let p: MovePayload = serde_json::from_str(&c.payload_json).unwrap();
    assert_eq!((&c.ordering, p.moves.len(), p.moves[0].users.len()), (&Ordering::Barrier, 1, 2));
}

/// A deterministic PRNG for the randomized run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn i12_holds_after_every_change_in_a_random_run() {
    for (seed, on) in [(1u64, false), (2, true), (3, true)] {
        let mut rng = Rng(seed);
        let mut h = Harness::new(on);
        let mut users: Vec<String> = (0..40).map(|i| format!("u{i:02}")).collect();
        let mut groups: Vec<String> = (0..8).map(|i| format!("g{i}")).collect();
        for u in users.clone() {
            h.create_user(&u);
        }
        for g in groups.clone() {
            h.create_group(&g, &format!("Group {g}"));
        }
        let mut next_id = 100;
        for step in 0..5_000 {
            let roll = rng.below(100);
            if roll < 50 {
                let g = groups[rng.below(groups.len())].clone();
                let n = 1 + rng.below(3);
                let picked: Vec<String> = (0..n).map(|_| users[rng.below(users.len())].clone()).collect();
                let refs: Vec<&str> = picked.iter().map(String::as_str).collect();
                h.add(&g, &refs);
            } else if roll < 88 {
                let g = groups[rng.below(groups.len())].clone();
                let n = 1 + rng.below(2);
                let picked: Vec<String> = (0..n).map(|_| users[rng.below(users.len())].clone()).collect();
                let refs: Vec<&str> = picked.iter().map(String::as_str).collect();
                h.remove(&g, &refs);
            } else if roll < 91 {
                let i = rng.below(groups.len());
                let g = groups.remove(i);
                h.delete_group(&g);
                let fresh = format!("g{next_id}");
                next_id += 1;
                h.create_group(&fresh, &format!("Group {fresh}"));
                groups.push(fresh);
            } else if roll < 94 {
                let i = rng.below(users.len());
                let u = users.remove(i);
                h.delete_user(&u);
                let fresh = format!("u{next_id}");
                next_id += 1;
                h.create_user(&fresh);
                users.push(fresh);
            } else if roll < 96 {
                h.resync();
            } else {
                let u = users[rng.below(users.len())].clone();
                let active = rng.below(2) == 0;
                h.world.users.get_mut(&u).unwrap().active = active;
                h.send(Event::UserActiveChanged(ActiveChange { user_id: u, active }), false);
            }
            // Check after every change (cheap here): a failure names the step.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.check(on)))
                .unwrap_or_else(|_| panic!("seed {seed}, step {step}"));
        }
    }
}
