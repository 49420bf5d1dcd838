//! The randomized model run: thousands of changes (memberships, mapping changes applied by the job,
//! renames, objectId / SCIM id / name references, user creates, disables, UPN changes and deletes,
//! group deletes, admin enrollments, resyncs), with a fault on every few requests, and the model checked
//! after every one ([`Harness::check`]).

use super::*;

/// A deterministic PRNG (splitmix64).
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
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const NAMES: [&str; 6] = ["Sales", "New hires", "Engineering", "Support", "Marketing", "Ops"];

fn random_config(rng: &mut Rng, h: &Harness) -> String {
    let groups: Vec<String> = h.world.groups.keys().cloned().collect();
    let mut used = BTreeSet::new();
    let mut entries = Vec::new();
    for _ in 0..rng.below(5) {
        let reference = match rng.below(4) {
            0 => rng.pick(&NAMES).to_string(),
            1 => rng.pick(&NAMES).to_lowercase(),
            2 if !groups.is_empty() => {
                let g = rng.pick(&groups);
                let ext = h.world.groups[g].ext.clone().unwrap();
                if rng.below(2) == 0 { ext.to_uppercase() } else { ext }
            }
            _ if !groups.is_empty() => rng.pick(&groups).clone(),
            _ => continue,
        };
        if !used.insert(reference.to_lowercase()) {
            continue;
        }
        let mut courses: Vec<&str> = C.iter().copied().filter(|_| rng.below(3) == 0).collect();
        let plans: Vec<&str> = T.iter().copied().filter(|_| rng.below(4) == 0).collect();
        if courses.is_empty() && plans.is_empty() {
            courses.push(*rng.pick(&C));
        }
        entries.push((reference, courses, plans));
    }
    config_json(&entries, if rng.below(2) == 0 { "keepHistory" } else { "purge" })
}

fn some_users(rng: &mut Rng, users: &[String], most: usize) -> Vec<String> {
    (0..1 + rng.below(most)).map(|_| rng.pick(users).clone()).collect()
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut h = Harness::mapped(&[]);
    h.fake.fault_every = 5 + seed as usize % 3;
    let mut next = 0usize;
    let mut fresh = |prefix: &str| {
        next += 1;
        format!("{prefix}{next:03}")
    };
    let mut users: Vec<String> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    for _ in 0..12 {
        let u = fresh("u");
        h.create_user(&u);
        users.push(u);
    }
    for _ in 0..5 {
        let g = fresh("g");
        let name: &&str = rng.pick(&NAMES);
        h.create_group(&g, name);
        groups.push(g);
    }
    let json = random_config(&mut rng, &h);
    h.reconfigure(&json);
    for step in 0..steps {
        let roll = rng.below(100);
        let what: String;
        if roll < 32 {
            let g = rng.pick(&groups).clone();
            let picked = some_users(&mut rng, &users, 3);
            what = format!("add {picked:?} to {g}");
            let refs: Vec<&str> = picked.iter().map(String::as_str).collect();
            h.add(&g, &refs);
        } else if roll < 54 {
            let g = rng.pick(&groups).clone();
            let picked = some_users(&mut rng, &users, 2);
            what = format!("remove {picked:?} from {g}");
            let refs: Vec<&str> = picked.iter().map(String::as_str).collect();
            h.remove(&g, &refs);
        } else if roll < 60 {
            let json = random_config(&mut rng, &h);
            what = format!("configure {json}");
            h.reconfigure(&json);
        } else if roll < 66 {
            let g = rng.pick(&groups).clone();
            let name = rng.pick(&NAMES).to_string();
            what = format!("rename {g} to {name}");
            h.rename_group(&g, &name);
        } else if roll < 70 {
            let u = rng.pick(&users).clone();
            let item = *rng.pick(&[C[0], C[1], C[2], C[3], C[4], T[0], T[1]]);
            let login = claims(&h.world.users[&u].user_name);
            if rng.below(2) == 0 {
                what = format!("admin enrolls {u} in {item}");
                h.fake.admin_enroll(&login, item);
            } else {
                what = format!("admin enrolls {u} in {item} just before the plugin does");
                h.fake.races.push((login, item.to_owned()));
            }
        } else if roll < 75 {
            let u = rng.pick(&users).clone();
            let active = rng.below(2) == 0;
            what = format!("{u} active={active}");
            h.set_active(&u, active);
        } else if roll < 78 {
            let i = rng.below(users.len());
            let u = users.remove(i);
            what = format!("delete user {u} ({:?})", h.config.on_hard_delete);
            h.delete_user(&u);
            let n = fresh("u");
            h.create_user(&n);
            users.push(n);
        } else if roll < 81 {
            let u = rng.pick(&users).clone();
            let mut doc = h.world.users[&u].clone();
            doc.user_name = format!("{}.{step}@contoso.com", u);
            doc.department = Some(format!("Dept {}", rng.below(3)));
            what = format!("{u} changes UPN and department");
            h.update_user(doc);
        } else if roll < 84 {
            let i = rng.below(groups.len());
            let g = groups.remove(i);
            what = format!("delete group {g}");
            h.delete_group(&g);
            let n = fresh("g");
            let name: &&str = rng.pick(&NAMES);
            h.create_group(&n, name);
            groups.push(n);
        } else if roll < 86 {
            what = "resync".into();
            h.resync();
        } else if roll < 88 {
            what = "job".into();
            let (summary, _) = h.run_job();
            assert!(summary.contains("nothing to do"), "the job finds nothing to do after the changes: {summary}");
        } else {
            let u = rng.pick(&users).clone();
            let mut doc = h.world.users[&u].clone();
            doc.manager_id = Some(format!("m{}", rng.below(5)));
            what = format!("{u} gets a manager");
            let ops = h.update_user(doc);
            assert!(ops.is_empty(), "a manager is not a Learn365 field");
        }
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.check())) {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("seed {seed}, step {step} ({what}): {}", msg.unwrap_or_default());
        }
    }
    assert!(h.fake.requests > 1000, "{} requests", h.fake.requests);
    let by = |c: &dyn Fn(&fake::Creator) -> bool| h.fake.enrollments.iter().filter(|e| c(&e.creator)).count();
    eprintln!(
        "seed {seed}: {} requests, enrollments plugin {} admin {} plan {}, active {}, ops {}, logs {}: theirs {} restored {}",
        h.fake.requests,
        by(&|c| *c == Creator::Plugin),
        by(&|c| *c == Creator::Admin),
        by(&|c| matches!(c, Creator::Plan(_))),
        h.fake.enrollments.iter().filter(|e| e.active).count(),
        h.produced.len(),
        h.world.logs.len(),
        h.world.logs.iter().filter(|l| l.contains("not the plugin's")).count(),
        h.world.logs.iter().filter(|l| l.contains("enrolled again")).count(),
    );
}

#[test]
fn the_model_holds_after_every_change_in_random_runs() {
    for seed in 1..=6 {
        run(seed, 1_500);
    }
}
