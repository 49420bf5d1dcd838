//! Rule evaluation (A1, A2) over a whole [`Snapshot`] at once.
//!
//! A profile is first compiled against the snapshot ([`Engine::compile`]): sources become column
//! indices, constants are trimmed and lower-cased once, and a property rule becomes a table over its
//! column's dictionary of distinct values (evaluated once per distinct value, not once per user).
//! Evaluation then produces one bit per user per node ([`Bits`]) and combines them word by word.
//!
//! Semantics (`docs/spec/assigner.md` §4 A1–A2, readings Q15, Q48, Q49):
//! - property rules compare `trim(lower(value))` with `trim(lower(constant))`; a missing value is `""`
//!   (so `equals "X"` is false and `isEmpty` true): equals, notEquals, contains, notContains,
//!   startsWith, isEmpty, isNotEmpty;
//! - date rules: isBefore (strictly earlier), isAfter (strictly later), isOn (the same UTC day); a user
//!   without a value never matches the rule (its NOT does);
//! - activity rules on course C, with `now` the snapshot's time: hasCompleted (a completion date),
//!   notCompletedOnTime (enrolled, no completion, a due date before `now`), completedRecently(days)
//!   (completed at or after `now − days × 24 h`);
//! - `not` negates a rule or a group; AND / OR of a group's children;
//! - a user matches a profile iff every non-empty section is true; no rules at all: nobody.

use super::model::{Condition, Node, Op, Profile, Section};
use super::snapshot::{NONE, Snapshot, Strings};
use super::time::{self, DAY};

/// One bit per snapshot user.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    pub fn zeros(len: usize) -> Bits {
        Bits { words: vec![0; len.div_ceil(64)], len }
    }
    pub fn ones(len: usize) -> Bits {
        let mut b = Bits { words: vec![!0; len.div_ceil(64)], len };
        b.trim();
        b
    }
    fn trim(&mut self) {
        if !self.len.is_multiple_of(64)
            && let Some(w) = self.words.last_mut()
        {
            *w &= (1u64 << (self.len % 64)) - 1;
        }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }
    pub fn set(&mut self, i: usize, on: bool) {
        let bit = 1u64 << (i % 64);
        if on {
            self.words[i / 64] |= bit;
        } else {
            self.words[i / 64] &= !bit;
        }
    }
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    pub fn invert(&mut self) {
        for w in &mut self.words {
            *w = !*w;
        }
        self.trim();
    }
    pub fn and(&mut self, o: &Bits) {
        self.words.iter_mut().zip(&o.words).for_each(|(a, b)| *a &= b);
    }
    pub fn or(&mut self, o: &Bits) {
        self.words.iter_mut().zip(&o.words).for_each(|(a, b)| *a |= b);
    }
    /// The set bits, ascending.
    pub fn ones_iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, w)| {
            let mut w = *w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    i * 64 + b
                })
            })
        })
    }
    /// Bits from a predicate per user.
    fn from_fn(len: usize, f: impl Fn(usize) -> bool) -> Bits {
        let mut b = Bits::zeros(len);
        for (wi, w) in b.words.iter_mut().enumerate() {
            let base = wi * 64;
            let end = (base + 64).min(len);
            let mut acc = 0u64;
            for u in base..end {
                acc |= u64::from(f(u)) << (u - base);
            }
            *w = acc;
        }
        b
    }
}

/// The matching form of a text: trimmed, lower case.
pub fn normalize(s: &str) -> String {
    s.trim().to_lowercase()
}

/// A compiled node.
#[derive(Debug)]
enum Cn {
    Group {
        op: Op,
        not: bool,
        children: Vec<Cn>,
    },
    /// Matches users whose column code is marked (NOT already folded in).
    Table {
        column: usize,
        table: Vec<bool>,
    },
    Date {
        column: usize,
        cond: Condition,
        at: i64,
        not: bool,
    },
    /// `course` None: a course the snapshot does not have (nobody has activity in it).
    Course {
        course: Option<u32>,
        cond: Condition,
        since: i64,
        not: bool,
    },
}

/// A profile's rules compiled against one snapshot: the non-empty sections (none: matches nobody).
#[derive(Debug)]
pub struct Compiled {
    sections: Vec<Cn>,
}

impl Compiled {
    /// Whether the profile has any rule (else it matches nobody).
    pub fn has_rules(&self) -> bool {
        !self.sections.is_empty()
    }
}

/// Evaluates profiles on one snapshot, caching the lower-cased dictionaries of the columns used.
pub struct Engine<'s> {
    snap: &'s Snapshot,
    norm: Vec<Option<Strings>>,
}

impl<'s> Engine<'s> {
    pub fn new(snap: &'s Snapshot) -> Engine<'s> {
        Engine { snap, norm: vec![None; snap.columns.len()] }
    }

    pub fn snapshot(&self) -> &'s Snapshot {
        self.snap
    }

    /// Compiles a profile's rules; fails (naming the rule) when a rule names a field or date field the
    /// snapshot does not have, or holds a value that is not a date. Courses the snapshot does not know
    /// compile to "no activity".
    pub fn compile(&mut self, profile: &Profile) -> Result<Compiled, String> {
        let mut sections = Vec::new();
        for (section, root) in profile.rule_sections() {
            sections.push(self.node(root, section, section.name())?);
        }
        Ok(Compiled { sections })
    }

    fn node(&mut self, node: &Node, section: Section, at: &str) -> Result<Cn, String> {
        let r = match node {
            Node::Group(g) => {
                let mut children = Vec::with_capacity(g.children.len());
                for (i, c) in g.children.iter().enumerate() {
                    children.push(self.node(c, section, &format!("{at}.children[{i}]"))?);
                }
                return Ok(Cn::Group { op: g.op, not: g.not, children });
            }
            Node::Rule(r) => r,
        };
        let cond = r.condition.unwrap_or(section.default_condition());
        if !section.conditions().contains(&cond) {
            return Err(format!("{at}.condition: {} is not a condition of {}", cond.name(), section.name()));
        }
        let value = r.value.as_deref().unwrap_or("");
        match section {
            Section::Properties => {
                let column = self
                    .snap
                    .column_of(r.source.trim())
                    .ok_or_else(|| format!("{at}.source: {:?} is not a property of the snapshot", r.source))?;
                let k = normalize(value);
                let dict = self.norm[column].get_or_insert_with(|| {
                    let mut s = Strings::default();
                    for v in self.snap.columns[column].dict.iter() {
                        s.push(&normalize(v));
                    }
                    s
                });
                let table = dict
                    .iter()
                    .map(|v| {
                        let hit = match cond {
                            Condition::Equals => v == k,
                            Condition::NotEquals => v != k,
                            Condition::Contains => v.contains(&k),
                            Condition::NotContains => !v.contains(&k),
                            Condition::StartsWith => v.starts_with(&k),
                            Condition::IsEmpty => v.is_empty(),
                            Condition::IsNotEmpty => !v.is_empty(),
                            _ => false,
                        };
                        hit != r.not
                    })
                    .collect();
                Ok(Cn::Table { column, table })
            }
            Section::Dates => {
                let column = self
                    .snap
                    .date_of(r.source.trim())
                    .ok_or_else(|| format!("{at}.source: {:?} is not a date field of the snapshot", r.source))?;
                let at = time::parse(value).ok_or_else(|| format!("{at}.value: {value:?} is not a date"))?;
                Ok(Cn::Date { column, cond, at, not: r.not })
            }
            Section::Activities => {
                let course = super::validate::guid(&r.source).and_then(|g| self.snap.course_index(&g));
                let since = self.snap.taken_at.saturating_sub(i64::from(r.days.unwrap_or(0)) * DAY);
                Ok(Cn::Course { course, cond, since, not: r.not })
            }
        }
    }

    fn eval(&self, n: &Cn) -> Bits {
        let s = self.snap;
        let len = s.len();
        match n {
            Cn::Group { op, not, children } => {
                let mut acc = if *op == Op::And { Bits::ones(len) } else { Bits::zeros(len) };
                for c in children {
                    let b = self.eval(c);
                    if *op == Op::And { acc.and(&b) } else { acc.or(&b) }
                }
                if *not {
                    acc.invert();
                }
                acc
            }
            Cn::Table { column, table } => {
                let codes = &s.columns[*column].codes;
                Bits::from_fn(len, |u| table[codes[u] as usize])
            }
            Cn::Date { column, cond, at, not } => {
                let values = &s.dates[*column];
                let day = time::day_of(*at);
                let hit = |t: i64| match cond {
                    Condition::IsAfter => t > *at,
                    Condition::IsOn => time::day_of(t) == day,
                    _ => t < *at,
                };
                Bits::from_fn(len, |u| (values[u] != NONE && hit(values[u])) != *not)
            }
            Cn::Course { course, cond, since, not } => {
                let mut b = Bits::zeros(len);
                let now = s.taken_at;
                for e in course.map_or(&[][..], |c| s.enrollments(c)) {
                    let hit = match cond {
                        Condition::NotCompletedOnTime => e.completed == NONE && e.due != NONE && e.due < now,
                        Condition::CompletedRecently => e.completed != NONE && e.completed >= *since,
                        _ => e.completed != NONE,
                    };
                    b.set(e.user as usize, hit);
                }
                if *not {
                    b.invert();
                }
                b
            }
        }
    }

    /// The users matching the rules: every non-empty section true; none if there are no rules.
    pub fn matching(&self, c: &Compiled) -> Bits {
        let mut sections = c.sections.iter();
        let Some(first) = sections.next() else { return Bits::zeros(self.snap.len()) };
        let mut acc = self.eval(first);
        for n in sections {
            acc.and(&self.eval(n));
        }
        acc
    }
}
