//! The data-refresh snapshot (A4): what the maintenance evaluates profiles on, never live data.
//!
//! Users are held **by column**, sorted by id, so that 100,000 users fit a plugin's memory (64 MiB)
//! and evaluation touches contiguous arrays:
//! - ids in one string arena ([`Strings`]), binary-searched;
//! - per property column (the 8 standard sources, then the tenant's string custom fields) a dictionary
//!   of the distinct values (code 0 = `""`, missing) and one `u32` code per user: a rule is compiled to
//!   a table over the dictionary (cities, departments… have a few hundred values);
//! - per custom date field one `i64` per user ([`NONE`] = no value);
//! - per course the users with an enrollment, `(user, completedAt, dueDate)`, sorted by user.
//!
//! About 25 MB for 100,000 users with 10 columns and 5 enrollments each (the benchmark prints the
//! figures). Values are stored trimmed; an empty value is a missing one. Its stored form, in kv-sized
//! chunks, is [`super::codec`].

use std::collections::{BTreeMap, HashMap};

use super::model::{CUSTOM, STANDARD_SOURCES};
use super::validate::{Field, FieldType, TenantFields, custom_name};

/// "No date" in date columns and enrollments.
pub const NONE: i64 = i64::MIN;

/// A user as the data refresh reads them: the input of [`Snapshot::build`] and [`super::codec`], and
/// the form the reference evaluator of the tests works on.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserRecord {
    /// The key of overrides and group members (proposed: the Entra objectId, Learn365's
    /// `DirectoryObjectId`, lower case); opaque to the engine.
    pub id: String,
    /// Enabled in Learn365 / Entra.
    pub active: bool,
    /// Property values by source (`City`, …, `Title`, `custom:<field>`); a missing one is `""`.
    pub fields: BTreeMap<String, String>,
    /// Custom date values by source (`custom:<field>`), seconds since the epoch (UTC).
    pub dates: BTreeMap<String, i64>,
    /// The user's enrollments by course (lower-case GUID).
    pub activity: BTreeMap<String, Activity>,
}

/// One enrollment of a user in a course.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Activity {
    pub completed_at: Option<i64>,
    pub due: Option<i64>,
}

/// Many strings in one allocation.
#[derive(Clone, Debug, Default)]
pub struct Strings {
    pub(super) text: String,
    pub(super) ends: Vec<u32>,
}

impl Strings {
    pub fn push(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
        (self.ends.len() - 1) as u32
    }
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }
    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4
    }
}

/// A property column: distinct values and each user's code.
#[derive(Clone, Debug, Default)]
pub struct Column {
    /// Distinct trimmed values; entry 0 is `""`.
    pub dict: Strings,
    pub codes: Vec<u32>,
}

/// A user's enrollment in one course's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enrollment {
    pub user: u32,
    /// [`NONE`]: not completed.
    pub completed: i64,
    /// [`NONE`]: no due date.
    pub due: i64,
}

/// Where a custom field's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Column(usize),
    Date(usize),
}

/// The snapshot (module doc). Built by [`Snapshot::build`] or [`super::codec::Decoder`].
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub(super) taken_at: i64,
    pub(super) fields: Vec<Field>,
    pub(super) courses: Vec<String>,
    pub(super) course_index: HashMap<String, u32>,
    pub(super) ids: Strings,
    pub(super) active: Vec<bool>,
    pub(super) columns: Vec<Column>,
    pub(super) dates: Vec<Vec<i64>>,
    pub(super) enrollments: Vec<Vec<Enrollment>>,
}

impl Snapshot {
    /// A snapshot of `users` (any order; ids unique) taken at `taken_at`, with the tenant's custom
    /// `fields` and `courses` (lower-case GUIDs). Errors name the user and what is wrong.
    pub fn build(
        taken_at: i64,
        fields: &[Field],
        courses: &[String],
        users: &[UserRecord],
    ) -> Result<Snapshot, String> {
        let enc = super::codec::Encoder::new(taken_at, fields, courses)?;
        let mut dec = super::codec::Decoder::default();
        for line in enc.header_lines() {
            dec.line(&line)?;
        }
        let mut line = String::new();
        for u in users {
            line.clear();
            enc.user_line(u, &mut line)?;
            dec.line(&line)?;
        }
        dec.finish()
    }

    /// When the data refresh read the tenant: "now" for activity rules.
    pub fn taken_at(&self) -> i64 {
        self.taken_at
    }
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }
    pub fn courses(&self) -> &[String] {
        &self.courses
    }
    /// Number of users.
    pub fn len(&self) -> usize {
        self.active.len()
    }
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
    pub fn id(&self, user: usize) -> &str {
        self.ids.get(user)
    }
    pub fn active(&self, user: usize) -> bool {
        self.active[user]
    }
    /// The index of a user id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.ids.get(mid).cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
    pub fn contains(&self, id: &str) -> bool {
        self.index_of(id).is_some()
    }
    pub fn course_index(&self, course: &str) -> Option<u32> {
        self.course_index.get(course).copied()
    }

    /// The fields and courses, for validating profiles and for the next cycle's A8 comparison.
    pub fn tenant_fields(&self) -> TenantFields {
        TenantFields { fields: self.fields.clone(), courses: Some(self.courses.iter().cloned().collect()) }
    }

    /// Where the values of custom field `name` (case-insensitive) are.
    pub fn slot(&self, name: &str) -> Option<(Slot, &Field)> {
        let key = name.trim().to_lowercase();
        let i = self.fields.iter().position(|g| g.name.trim().to_lowercase() == key)?;
        let f = &self.fields[i];
        let before = &self.fields[..i];
        Some(match f.kind {
            FieldType::String => (
                Slot::Column(STANDARD_SOURCES.len() + before.iter().filter(|g| g.kind == FieldType::String).count()),
                f,
            ),
            FieldType::Date => (Slot::Date(before.iter().filter(|g| g.kind == FieldType::Date).count()), f),
        })
    }

    /// The column of a property source (`City` … or `custom:<string field>`).
    pub fn column_of(&self, source: &str) -> Option<usize> {
        if let Some(i) = STANDARD_SOURCES.iter().position(|s| *s == source) {
            return Some(i);
        }
        match self.slot(custom_name(source)?)? {
            (Slot::Column(c), _) => Some(c),
            _ => None,
        }
    }

    /// The date column of a date source (`custom:<date field>`).
    pub fn date_of(&self, source: &str) -> Option<usize> {
        match self.slot(custom_name(source)?)? {
            (Slot::Date(d), _) => Some(d),
            _ => None,
        }
    }

    pub fn column(&self, c: usize) -> &Column {
        &self.columns[c]
    }
    pub fn date_column(&self, d: usize) -> &[i64] {
        &self.dates[d]
    }
    /// A course's enrollments, sorted by user.
    pub fn enrollments(&self, course: u32) -> &[Enrollment] {
        &self.enrollments[course as usize]
    }

    /// A user as a record again (trimmed values; missing values and dates left out).
    pub fn record(&self, user: usize) -> UserRecord {
        let mut r = UserRecord { id: self.id(user).to_owned(), active: self.active(user), ..UserRecord::default() };
        for (i, s) in STANDARD_SOURCES.iter().enumerate() {
            let c = &self.columns[i];
            let v = c.dict.get(c.codes[user] as usize);
            if !v.is_empty() {
                r.fields.insert((*s).to_owned(), v.to_owned());
            }
        }
        for f in &self.fields {
            let key = format!("{CUSTOM}{}", f.name);
            match self.slot(&f.name) {
                Some((Slot::Column(c), _)) => {
                    let c = &self.columns[c];
                    let v = c.dict.get(c.codes[user] as usize);
                    if !v.is_empty() {
                        r.fields.insert(key, v.to_owned());
                    }
                }
                Some((Slot::Date(d), _)) if self.dates[d][user] != NONE => {
                    r.dates.insert(key, self.dates[d][user]);
                }
                _ => {}
            }
        }
        for (ci, list) in self.enrollments.iter().enumerate() {
            if let Ok(k) = list.binary_search_by_key(&(user as u32), |e| e.user) {
                let e = list[k];
                let opt = |t: i64| (t != NONE).then_some(t);
                r.activity
                    .insert(self.courses[ci].clone(), Activity { completed_at: opt(e.completed), due: opt(e.due) });
            }
        }
        r
    }

    /// Heap bytes the snapshot holds (approximate: vectors' capacities).
    pub fn heap_bytes(&self) -> usize {
        let cols: usize = self.columns.iter().map(|c| c.dict.bytes() + c.codes.capacity() * 4).sum();
        let dates: usize = self.dates.iter().map(|d| d.capacity() * 8).sum();
        let enr: usize = self.enrollments.iter().map(|e| e.capacity() * std::mem::size_of::<Enrollment>()).sum();
        self.ids.bytes() + self.active.capacity() + cols + dates + enr
    }
}
