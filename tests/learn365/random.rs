//! Random membership and mapping changes through the whole chain, every user's active enrollments
//! checked against a model after every change; the same run with 5 % 503 and 2 % 429 injected by the
//! simulator ends in the same state as the clean one.

use super::*;
use crate::common::Backend;
use std::collections::BTreeMap;

const USERS: usize = 10;
const GROUPS: usize = 4;
const STEPS: usize = 36;

/// SplitMix64: a small deterministic generator for the steps.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

struct World {
    c: [String; 3],
    t: String,
    /// Items (lower-case ids) each group's members get, with a plan's courses expanded.
    mapped: Vec<Vec<String>>,
    members: Vec<BTreeSet<usize>>,
}

impl World {
    fn config(&self, alt: bool) -> Value {
        let [c1, c2, _] = &self.c;
        let mut maps = vec![
            json!({"group": "G0", "courses": [c1]}),
            json!({"group": "G1", "courses": [c1, c2]}),
            json!({"group": "G2", "trainingPlans": [self.t]}),
        ];
        if alt {
            maps.push(json!({"group": "G3", "courses": [c2]}));
        }
        json!({"courseMappings": maps})
    }

    fn remap(&mut self, alt: bool) {
        let [c1, c2, c3] = self.c.clone().map(|c| c.to_lowercase());
        let t = self.t.to_lowercase();
        self.mapped = vec![vec![c1.clone()], vec![c1, c2.clone()], vec![t, c3], if alt { vec![c2] } else { vec![] }];
    }

    fn expected(&self, user: usize) -> BTreeSet<String> {
        (0..GROUPS).filter(|g| self.members[*g].contains(&user)).flat_map(|g| self.mapped[g].clone()).collect()
    }
}

fn upn(i: usize) -> String {
    format!("r{i}@contoso.com")
}

/// Runs the seeded steps; returns every user's active items at the end.
async fn run(label: &str, faults: Option<Value>, check_every_step: bool) -> Option<BTreeMap<String, BTreeSet<String>>> {
    let sim = learn365(&[]).await;
    let c = [sim.course("C1").await, sim.course("C2").await, sim.course("C3").await];
    let t = sim.plan("T", &[&c[2]]).await;
    let mut w = World { c, t, mapped: Vec::new(), members: vec![BTreeSet::new(); GROUPS] };
    w.remap(false);
    let r = Rig::new(Backend::Sqlite, label, sim, w.config(false)).await?;
    let faulty = faults.is_some();
    if let Some(f) = faults {
        r.sim.faults(f).await;
    }
    let mut ids = Vec::new();
    for i in 0..USERS {
        ids.push(r.user(&upn(i)).await);
    }
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        groups.push(r.group(&format!("G{g}")).await);
    }
    let mut rng = Rng(0x5eed_1365);
    let mut alt = false;
    for step in 0..STEPS {
        let g = rng.next(GROUPS);
        match rng.next(10) {
            0 if step > 4 => {
                alt = !alt;
                r.configure(w.config(alt)).await;
                w.remap(alt);
                r.apply_mappings().await;
            }
            1..=5 => {
                let picked: BTreeSet<usize> = (0..1 + rng.next(3)).map(|_| rng.next(USERS)).collect();
                let refs: Vec<&str> = picked.iter().map(|u| ids[*u].as_str()).collect();
                r.add(&groups[g], &refs).await;
                w.members[g].extend(picked);
            }
            _ => {
                let Some(&u) = w.members[g].iter().nth(rng.next(w.members[g].len().max(1))) else { continue };
                r.remove(&groups[g], &[&ids[u]]).await;
                w.members[g].remove(&u);
            }
        }
        if check_every_step {
            let s = r.synced().await;
            for u in 0..USERS {
                assert_eq!(s.active_items(&upn(u)), w.expected(u), "step {step}: user {u}");
            }
        }
    }
    let s = r.synced().await;
    for u in 0..USERS {
        assert_eq!(s.active_items(&upn(u)), w.expected(u), "end: user {u}");
    }
    if faulty {
        let stats = r.sim.ok(reqwest::Method::GET, "/_sim/stats", None).await;
        assert!(stats["faults"]["503"].as_u64() > Some(0) && stats["faults"]["429"].as_u64() > Some(0), "{stats}");
    }
    // By name: each run has its own simulator, so its own ids.
    let names: BTreeMap<String, &str> =
        w.c.iter().zip(["C1", "C2", "C3"]).chain([(&w.t, "T")]).map(|(id, n)| (id.to_lowercase(), n)).collect();
    let end =
        (0..USERS).map(|u| (upn(u), s.active_items(&upn(u)).iter().map(|id| names[id].to_owned()).collect())).collect();
    Some(end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_changes_match_the_model_and_faults_change_nothing() {
    let Some(clean) = run("l365-random", None, true).await else { return };
    let faults = json!({"rate503": 0.05, "rate429": 0.02, "retryAfterSecs": 1, "seed": 7});
    let Some(faulty) = run("l365-random-faults", Some(faults), false).await else { return };
    assert_eq!(faulty, clean, "the run with faults ends where the clean one does");
}
