//! The plugin run natively end to end: translation, the mapping job and delivery against an in-memory
//! Entra directory, kv and Learn365 ([`fake`]), with faults (429, 503, lost answers) on the wire.
//! Scenarios for L1–L4, sources, ownership and training plans, and a randomized run (membership
//! changes, mapping changes, renames, user and group deletes, admin enrollments, resyncs) that checks
//! after every change that each user holds exactly what a mapped group entitles them to, that no
//! enrollment the plugin made outlives its last source, and that the plugin never cancels one it did
//! not make.

mod fake;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use scimgw_plugin_sdk::log::Level;
use scimgw_plugin_sdk::{
    ActiveChange, AdminMethod, AdminRequest, Change, Email, Event, Group, JobRun, Member, MembersChange, Operation,
    Outcome, PluginError, Rename, ResourceKind, User,
};
use serde_json::{Value, json};

use crate::config::{Config, OnHardDelete};
use crate::state::{self, Env, UserRec, claims};
use crate::{admin, deliver, job, translate};
use fake::{BASE, Creator, Fake, Fault};

pub const C: [&str; 5] = [
    "c0000000-0000-4000-8000-000000000000",
    "c0000000-0000-4000-8000-000000000001",
    "c0000000-0000-4000-8000-000000000002",
    "c0000000-0000-4000-8000-000000000003",
    "c0000000-0000-4000-8000-000000000004",
];
/// Training plans: T[0] = {C[0], C[1]}, T[1] = {C[2], C[3]}.
pub const T: [&str; 2] = ["70000000-0000-4000-8000-000000000000", "70000000-0000-4000-8000-000000000001"];

#[derive(Clone, Debug, Default)]
struct DirGroup {
    ext: Option<String>,
    name: String,
    members: Vec<String>,
}

/// The gateway's directory and the plugin's kv.
#[derive(Default)]
struct World {
    kv: BTreeMap<String, String>,
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, DirGroup>,
    logs: Vec<String>,
    /// Notifications sent: (recipient, kind, subject, text).
    notes: Vec<(Option<String>, String, String, String)>,
    /// Notifications sent by the current call (the host allows 5).
    call_notes: usize,
}

impl Env for World {
    fn get(&self, key: &str) -> Option<String> {
        self.kv.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: String) -> Result<(), PluginError> {
        assert!(key.len() <= 256 && value.len() <= 64 << 10, "kv limits: {key}");
        self.kv.insert(key.to_owned(), value);
        Ok(())
    }
    fn delete(&mut self, key: &str) {
        self.kv.remove(key);
    }
    fn keys(&self, prefix: &str, after: Option<&str>, limit: u32) -> Vec<String> {
        self.kv
            .range(prefix.to_owned()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .filter(|k| after.is_none_or(|a| k.as_str() > a))
            .take(limit as usize)
            .cloned()
            .collect()
    }
    fn user(&self, id: &str) -> Option<User> {
        self.users.get(id).cloned()
    }
    fn group(&self, id: &str) -> Option<Group> {
        self.groups.get(id).map(|g| group(id, g))
    }
    fn log(&mut self, _level: Level, message: &str) {
        self.logs.push(message.to_owned());
    }
    fn list_users(&self, cursor: Option<&str>, limit: u32) -> (Vec<User>, Option<String>) {
        assert!(limit <= 500, "list-users pages hold at most 500");
        let page: Vec<User> = self
            .users
            .values()
            .filter(|u| cursor.is_none_or(|c| u.id.as_str() > c))
            .take(limit as usize)
            .cloned()
            .collect();
        let next = (page.len() == limit as usize).then(|| page.last().map(|u| u.id.clone())).flatten();
        (page, next)
    }
    fn notify(&mut self, recipient: Option<&str>, kind: &str, subject: &str, text: &str) -> Result<(), PluginError> {
        self.call_notes += 1;
        assert!(self.call_notes <= 5, "at most 5 notifications per call");
        assert!(subject.len() <= 200 && text.len() <= 8 << 10, "notification sizes");
        self.notes.push((recipient.map(str::to_owned), kind.into(), subject.into(), text.into()));
        Ok(())
    }
}

fn oid(id: &str) -> String {
    let n = id.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("{:08x}-0000-4000-8000-{:012x}", n as u32, n & 0xffff_ffff_ffff)
}

fn user(id: &str) -> User {
    let doc = json!({"addresses": [{"type": "work", "locality": "Oslo", "country": "NO"}]});
    User {
        id: id.to_owned(),
        external_id: Some(oid(id).to_uppercase()),
        user_name: format!("{id}@Contoso.com"),
        active: true,
        display_name: Some(format!("User {id}")),
        given_name: Some("Given".into()),
        family_name: Some(id.to_uppercase()),
        emails: vec![Email { value: format!("{id}@contoso.com"), kind: Some("work".into()), primary: true }],
        title: Some("Engineer".into()),
        preferred_language: None,
        employee_number: None,
        department: Some("R&D".into()),
        division: None,
        cost_center: None,
        organization: Some("Contoso".into()),
        manager_id: None,
        scim_json: doc.to_string(),
    }
}

fn group(id: &str, g: &DirGroup) -> Group {
    Group { id: id.to_owned(), external_id: g.ext.clone(), display_name: g.name.clone(), scim_json: "{}".into() }
}

fn members(ids: &[&str]) -> Vec<Member> {
    ids.iter().map(|id| Member { id: (*id).to_owned(), kind: ResourceKind::User }).collect()
}

/// A configuration: `(group, courses, training plans)` entries.
fn config_json(entries: &[(String, Vec<&str>, Vec<&str>)], on_delete: &str) -> String {
    let list: Vec<Value> =
        entries.iter().map(|(g, c, t)| json!({"group": g, "courses": c, "trainingPlans": t})).collect();
    json!({"baseUrl": BASE, "courseMappings": list, "onHardDelete": on_delete}).to_string()
}

/// Drives changes through translate, the job and deliver, keeping Entra's state as the gateway would.
struct Harness {
    world: World,
    fake: Fake,
    config: Config,
    seq: u64,
    outbox: VecDeque<Operation>,
    dead: Vec<String>,
    /// Hard-deleted users: (login, how).
    gone: Vec<(String, OnHardDelete)>,
    /// Every operation produced, in order.
    produced: Vec<Operation>,
}

impl Harness {
    fn new(config: &str) -> Harness {
        let fake = Fake::new(&C, &[(T[0], &[C[0], C[1]]), (T[1], &[C[2], C[3]])]);
        let config = Config::parse(config).expect("config");
        Harness {
            world: World::default(),
            fake,
            config,
            seq: 0,
            outbox: VecDeque::new(),
            dead: Vec::new(),
            gone: Vec::new(),
            produced: Vec::new(),
        }
    }

    fn mapped(entries: &[(&str, &[&str], &[&str])]) -> Harness {
        let e: Vec<(String, Vec<&str>, Vec<&str>)> =
            entries.iter().map(|(g, c, t)| ((*g).to_owned(), c.to_vec(), t.to_vec())).collect();
        Harness::new(&config_json(&e, "keepHistory"))
    }

    /// Translates (kv kept only on success) and queues the operations.
    fn translate(&mut self, event: Event, resync: bool) -> Vec<Operation> {
        self.seq += 1;
        let change =
            Change { seq: if resync { 0 } else { self.seq }, at: "2026-01-01T00:00:00Z".into(), resync, event };
        let saved = self.world.kv.clone();
        let ops = match translate::translate(&mut self.world, &self.config, &change) {
            Ok(ops) => ops,
            Err(e) => {
                self.world.kv = saved;
                panic!("translate failed: {e:?}");
            }
        };
        assert!(ops.len() <= 1000, "{} operations in one call", ops.len());
        self.outbox.extend(ops.iter().cloned());
        self.produced.extend(ops.iter().cloned());
        ops
    }

    fn send(&mut self, event: Event) -> Vec<Operation> {
        let ops = self.translate(event, false);
        self.deliver_all();
        ops
    }

    /// Delivers one operation, retrying as the outcome says (kv writes kept only with `done`).
    fn deliver_one(&mut self, op: &Operation) -> Outcome {
        for attempt in 1..=40 {
            let saved = self.world.kv.clone();
            self.fake.budget = 16;
            let out = deliver::deliver(&mut self.world, &mut self.fake, &self.config, attempt, op).expect("deliver");
            match &out {
                Outcome::Done(_) => return out,
                Outcome::Retry(_) => self.world.kv = saved,
                Outcome::Failed(m) | Outcome::Conflict(m) => {
                    self.world.kv = saved;
                    self.dead.push(m.clone());
                    return out;
                }
            }
        }
        panic!("{op:?} never delivered");
    }

    fn deliver_all(&mut self) {
        while let Some(op) = self.outbox.pop_front() {
            self.deliver_one(&op);
        }
    }

    /// One run of the job to its end (each call's kv kept), then delivery. Returns the summary and calls.
    fn run_job(&mut self) -> (String, usize) {
        let mut cursor = None;
        let mut calls = 0;
        loop {
            calls += 1;
            let run = JobRun { job: job::JOB.into(), scheduled_at_unix_ms: 0, cursor: cursor.take() };
            let r = job::run(&mut self.world, &self.config, &run).expect("job call");
            assert!(r.operations.len() <= 1000);
            self.outbox.extend(r.operations.iter().cloned());
            self.produced.extend(r.operations);
            match r.continue_with {
                Some(c) => cursor = Some(c),
                None => {
                    self.deliver_all();
                    return (r.summary.unwrap_or_default(), calls);
                }
            }
        }
    }

    fn reconfigure(&mut self, json: &str) -> (String, usize) {
        self.config = Config::parse(json).expect("config");
        self.run_job()
    }

    fn create_user(&mut self, id: &str) -> Vec<Operation> {
        let u = user(id);
        self.world.users.insert(id.to_owned(), u.clone());
        self.send(Event::UserUpserted(u))
    }

    fn update_user(&mut self, u: User) -> Vec<Operation> {
        self.world.users.insert(u.id.clone(), u.clone());
        self.send(Event::UserUpserted(u))
    }

    fn set_active(&mut self, id: &str, active: bool) -> Vec<Operation> {
        self.world.users.get_mut(id).unwrap().active = active;
        self.send(Event::UserActiveChanged(ActiveChange { user_id: id.into(), active }))
    }

    fn delete_user(&mut self, id: &str) -> Vec<Operation> {
        let u = self.world.users.remove(id).unwrap();
        for g in self.world.groups.values_mut() {
            g.members.retain(|m| m != id);
        }
        self.gone.push((claims(&u.user_name), self.config.on_hard_delete));
        self.send(Event::UserDeleted(id.into()))
    }

    fn create_group(&mut self, id: &str, name: &str) -> Vec<Operation> {
        let g = DirGroup { ext: Some(oid(id)), name: name.into(), members: Vec::new() };
        self.world.groups.insert(id.into(), g.clone());
        self.send(Event::GroupUpserted(group(id, &g)))
    }

    fn rename_group(&mut self, id: &str, name: &str) -> Vec<Operation> {
        let g = self.world.groups.get_mut(id).unwrap();
        let old = std::mem::replace(&mut g.name, name.to_owned());
        self.send(Event::GroupRenamed(Rename {
            group_id: id.into(),
            old_display_name: Some(old),
            display_name: name.into(),
        }))
    }

    fn delete_group(&mut self, id: &str) -> Vec<Operation> {
        self.world.groups.remove(id);
        self.send(Event::GroupDeleted(id.into()))
    }

    fn add(&mut self, g: &str, users: &[&str]) -> Vec<Operation> {
        let list = &mut self.world.groups.get_mut(g).unwrap().members;
        for u in users {
            if !list.iter().any(|m| m == u) {
                list.push((*u).to_owned());
            }
        }
        self.send(Event::MembersAdded(MembersChange { group_id: g.into(), members: members(users) }))
    }

    fn remove(&mut self, g: &str, users: &[&str]) -> Vec<Operation> {
        self.world.groups.get_mut(g).unwrap().members.retain(|m| !users.contains(&m.as_str()));
        self.send(Event::MembersRemoved(MembersChange { group_id: g.into(), members: members(users) }))
    }

    /// What `target resync` replays: users, then each group followed by its members.
    fn resync(&mut self) {
        self.translate(Event::ResyncStarted, true);
        for u in self.world.users.values().cloned().collect::<Vec<_>>() {
            self.translate(Event::UserUpserted(u), true);
        }
        for (id, g) in self.world.groups.clone() {
            self.translate(Event::GroupUpserted(group(&id, &g)), true);
            if !g.members.is_empty() {
                let refs: Vec<&str> = g.members.iter().map(String::as_str).collect();
                self.translate(
                    Event::MembersAdded(MembersChange { group_id: id.clone(), members: members(&refs) }),
                    true,
                );
            }
        }
        self.translate(Event::ResyncFinished, true);
        self.deliver_all();
    }

    /// Items (with the groups entitling them) a user gets now, by the directory and the configuration.
    fn entitled(&self, user: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (id, g) in &self.world.groups {
            if g.members.iter().any(|m| m == user) {
                for item in self.config.desired(id, g.ext.as_deref(), &g.name).into_keys() {
                    out.entry(item).or_default().insert(id.clone());
                }
            }
        }
        out
    }

    fn learn365_user(&self, id: &str) -> &fake::LUser {
        let login = claims(&self.world.users[id].user_name);
        self.fake.user_by_login(&login).unwrap_or_else(|| panic!("{id} is not a Learn365 user"))
    }

    fn holds(&self, id: &str, item: &str) -> Option<&fake::Enrollment> {
        self.fake.active(&self.learn365_user(id).id, item)
    }

    /// The model: after every change (everything delivered), for every user and item.
    fn check(&self) {
        assert!(self.dead.is_empty(), "dead operations: {:?}", self.dead);
        assert!(
            self.fake.violations.is_empty(),
            "the plugin cancelled what it did not make: {:?}",
            self.fake.violations
        );
        let items: Vec<&str> = C.iter().chain(T.iter()).copied().collect();
        for (id, u) in &self.world.users {
            let lu = self.learn365_user(id);
            assert_eq!(lu.fields.get("IsDisabled"), Some(&json!(!u.active)), "{id} disabled");
            assert_eq!(lu.fields.get("Title").and_then(Value::as_str), u.display_name.as_deref(), "{id} title");
            let want = self.entitled(id);
            for item in &items {
                let held = self.fake.active(&lu.id, item);
                if want.contains_key(*item) {
                    assert!(held.is_some(), "{id} is entitled to {item} but not enrolled");
                } else if let Some(e) = held {
                    assert_ne!(e.creator, Creator::Plugin, "{id} keeps the plugin's {item} without a source");
                }
            }
            let rec: UserRec = state::load(&self.world, &state::user_key(id)).unwrap().expect("user state");
            let groups: BTreeSet<String> = self
                .world
                .groups
                .iter()
                .filter(|(_, g)| g.members.iter().any(|m| m == id))
                .map(|(k, _)| k.clone())
                .collect();
            assert_eq!(rec.g, groups, "{id}'s recorded groups");
            let sources: BTreeMap<String, BTreeSet<String>> =
                rec.e.iter().map(|(k, h)| (k.clone(), h.s.clone())).collect();
            assert_eq!(sources, want, "{id}'s recorded sources");
        }
        for (login, how) in &self.gone {
            match (how, self.fake.user_by_login(login)) {
                (OnHardDelete::Purge, found) => assert!(found.is_none(), "{login} purged"),
                (OnHardDelete::KeepHistory, Some(lu)) => {
                    assert_eq!(lu.fields.get("IsDisabled"), Some(&json!(true)), "{login} kept, disabled");
                    let mine = self.fake.enrollments.iter().filter(|e| e.user == lu.id && e.active);
                    assert!(
                        mine.clone().all(|e| e.creator != Creator::Plugin),
                        "{login}: the plugin's enrollments end"
                    );
                }
                (OnHardDelete::KeepHistory, None) => {}
            }
        }
        assert!(self.world.keys("q:", None, 1).is_empty(), "no group left waiting");
    }
}

fn enrolls(ops: &[Operation]) -> Vec<(String, String, String)> {
    ops.iter()
        .filter_map(|o| match o {
            Operation::Enroll(e) => Some(("enroll".into(), e.item.clone(), e.source.clone().unwrap_or_default())),
            Operation::Unenroll(e) => Some(("unenroll".into(), e.item.clone(), e.source.clone().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

mod assigner;
pub(crate) mod bench_fixture;
mod random;
mod scenarios;
