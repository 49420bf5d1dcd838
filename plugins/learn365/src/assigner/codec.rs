//! The snapshot's stored form: lines of text packed into kv-sized chunks (no I/O here).
//!
//! ```text
//! v1␉2024-05-01T02:00:00Z                      first line: format version, when the refresh read the tenant
//! f␉string␉Cost center                         the custom fields, in order (type, name)
//! f␉date␉Hire date
//! c␉0f8fad5b-d9cb-469f-a165-70867728950e       the courses, in order (line k = course index k)
//! u␉<id>␉1␉<City>␉<Company>␉<Department>␉<Country>␉<Office>␉<Position>␉<Email>␉<Title>␉<string fields…>␉<date fields…>␉<enrollments>
//! ```
//!
//! ␉ is a tab. Values are trimmed and escaped (`\\`, `\t`, `\n`, `\r`); an empty value is missing.
//! Dates are seconds since the epoch (empty: none). Enrollments are `course:completedAt:dueDate`
//! separated by commas, the course by its index, times as dates. All `f` and `c` lines come before the
//! first `u` line; users may come in any order (the decoder sorts them).
//!
//! Enrollments may also come apart from their users, as the data refresh reads them (Learn365 lists
//! enrollments by login, not by Entra objectId): a `u` line then ends with one more column, the user's
//! **login key** (16 hex digits, [`login_key`] of the Learn365 login), and lines
//!
//! ```text
//! e␉<login key>␉<course index>␉<completedAt>␉<dueDate>
//! ```
//!
//! after the `c` lines give enrollments by login key; the decoder joins them to the users at the end
//! (an enrollment whose key no user has is dropped; of two for the same user and course, a completed
//! one wins).
//!
//! A realistic user line is about 200 bytes, so 100,000 users take about 20 MB: some 330 chunks of
//! 64 KiB (the host's kv value limit). Proposed kv layout for the I/O side: the data refresh writes
//! `as:snap:<gen>:<seq 6 digits>` as it pages through Learn365 (courses and fields first, then each
//! page of users; at most 1 MiB of kv writes per call, so ~16 chunks per call), then switches the key
//! `as:snap` to `<gen>` and deletes the previous generation: a maintenance always reads a complete
//! snapshot, and a refresh that fails half-way leaves the last one in place (A4). The maintenance
//! reads the chunks in key order into a [`Decoder`] (the chunks are not kept: ~25 MB decoded).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use super::model::{CUSTOM, STANDARD_SOURCES};
use super::snapshot::{Activity, Column, Enrollment, NONE, Snapshot, Strings, UserRecord};
use super::time;
use super::validate::{Field, FieldType, guid};

/// The host's kv value limit: a chunk is at most this many bytes.
pub const MAX_CHUNK: usize = 64 << 10;

fn escape(s: &str, out: &mut String) {
    if !s.contains(['\\', '\t', '\n', '\r']) {
        out.push_str(s);
        return;
    }
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn unescape(s: &str) -> Result<Cow<'_, str>, String> {
    if !s.contains('\\') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match it.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            other => return Err(format!("bad escape \\{}", other.map(String::from).unwrap_or_default())),
        });
    }
    Ok(Cow::Owned(out))
}

fn time_text(t: i64, out: &mut String) {
    if t != NONE {
        let _ = write!(out, "{t}");
    }
}

/// The position after `want` at `i`, if it is there.
fn expect(b: &[u8], i: usize, want: u8) -> Option<usize> {
    (b.get(i) == Some(&want)).then_some(i + 1)
}

/// A decimal integer (optionally negative) at `i`, and the position after it; `None` when there is
/// no digit or it overflows.
fn number(b: &[u8], i: usize) -> Option<(i64, usize)> {
    let (neg, mut j) = if b.get(i) == Some(&b'-') { (true, i + 1) } else { (false, i) };
    let first = j;
    let mut n: i64 = 0;
    while let Some(d) = b.get(j).filter(|d| d.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
        j += 1;
    }
    (j > first).then_some((if neg { -n } else { n }, j))
}

/// A time at `i` or nothing (the empty text), and the position after it.
fn optional_number(b: &[u8], i: usize) -> (Option<i64>, usize) {
    match number(b, i) {
        Some((n, j)) if n != NONE => (Some(n), j),
        _ => (None, i),
    }
}

fn parse_time(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(NONE);
    }
    s.parse::<i64>().ok().filter(|t| *t != NONE).ok_or_else(|| format!("{s:?} is not a time"))
}

/// Writes users as lines, given the tenant's fields and courses.
pub struct Encoder {
    taken_at: i64,
    fields: Vec<Field>,
    courses: Vec<String>,
    course_index: HashMap<String, usize>,
    /// Record keys of the property columns, in order.
    column_keys: Vec<String>,
    date_keys: Vec<String>,
}

impl Encoder {
    /// Fields with distinct non-empty names (case-insensitive), courses distinct GUIDs.
    pub fn new(taken_at: i64, fields: &[Field], courses: &[String]) -> Result<Encoder, String> {
        let mut names = std::collections::BTreeSet::new();
        for f in fields {
            let n = f.name.trim();
            if n.is_empty() || n != f.name || !names.insert(n.to_lowercase()) {
                return Err(format!("field {:?}: names must be trimmed, non-empty and distinct", f.name));
            }
        }
        let mut course_index = HashMap::new();
        for (i, c) in courses.iter().enumerate() {
            if guid(c).as_deref() != Some(c.as_str()) || course_index.insert(c.clone(), i).is_some() {
                return Err(format!("course {c:?}: courses are distinct lower-case GUIDs"));
            }
        }
        let custom = |kind| fields.iter().filter(move |f| f.kind == kind).map(|f| format!("{CUSTOM}{}", f.name));
        let column_keys = STANDARD_SOURCES.iter().map(|s| (*s).to_owned()).chain(custom(FieldType::String)).collect();
        Ok(Encoder {
            taken_at,
            fields: fields.to_vec(),
            courses: courses.to_vec(),
            course_index,
            column_keys,
            date_keys: custom(FieldType::Date).collect(),
        })
    }

    /// The lines before the users: version and time, fields, courses.
    pub fn header_lines(&self) -> Vec<String> {
        let mut out = vec![format!("v1\t{}", time::format(self.taken_at))];
        for f in &self.fields {
            let mut line = format!("f\t{}\t", if f.kind == FieldType::Date { "date" } else { "string" });
            escape(&f.name, &mut line);
            out.push(line);
        }
        out.extend(self.courses.iter().map(|c| format!("c\t{c}")));
        out
    }

    /// Appends a user's line (without newline) to `out`. Refuses an empty id and keys or courses the
    /// encoder does not know.
    pub fn user_line(&self, u: &UserRecord, out: &mut String) -> Result<(), String> {
        if u.id.trim().is_empty() || u.id.trim() != u.id {
            return Err(format!("user {:?}: an id is non-empty and trimmed", u.id));
        }
        if let Some(k) = u.fields.keys().find(|k| !self.column_keys.contains(k)) {
            return Err(format!("user {}: {k:?} is not a property source of this snapshot", u.id));
        }
        if let Some(k) = u.dates.keys().find(|k| !self.date_keys.contains(k)) {
            return Err(format!("user {}: {k:?} is not a date field of this snapshot", u.id));
        }
        if let Some(k) = u.activity.keys().find(|k| !self.course_index.contains_key(*k)) {
            return Err(format!("user {}: enrollment in {k}, not a course of this snapshot", u.id));
        }
        out.push_str("u\t");
        escape(&u.id, out);
        out.push_str(if u.active { "\t1" } else { "\t0" });
        for k in &self.column_keys {
            out.push('\t');
            escape(u.fields.get(k).map_or("", |v| v.trim()), out);
        }
        for k in &self.date_keys {
            out.push('\t');
            time_text(u.dates.get(k).copied().unwrap_or(NONE), out);
        }
        out.push('\t');
        let mut acts: Vec<(usize, i64, i64)> = u
            .activity
            .iter()
            .map(|(c, a)| (self.course_index[c], a.completed_at.unwrap_or(NONE), a.due.unwrap_or(NONE)))
            .collect();
        acts.sort_unstable();
        write_acts(&acts, out);
        Ok(())
    }
}

/// The login key of a Learn365 login: FNV-1a (64 bits) of its lower-case form, never 0.
pub fn login_key(login: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in login.trim().bytes() {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.max(1)
}

impl Encoder {
    /// A user's line with its login key (its enrollments, if any, still inline).
    pub fn user_line_keyed(&self, u: &UserRecord, key: u64, out: &mut String) -> Result<(), String> {
        self.user_line(u, out)?;
        let _ = write!(out, "\t{key:016x}");
        Ok(())
    }

    /// An `e` line: an enrollment by login key; `None` for a course the encoder does not know.
    pub fn enrollment_line(&self, key: u64, course: &str, a: Activity) -> Option<String> {
        let c = *self.course_index.get(course)?;
        let mut out = format!("e\t{key:016x}\t{c}\t");
        time_text(a.completed_at.unwrap_or(NONE), &mut out);
        out.push('\t');
        time_text(a.due.unwrap_or(NONE), &mut out);
        Some(out)
    }
}

fn write_acts(acts: &[(usize, i64, i64)], out: &mut String) {
    for (i, (c, done, due)) in acts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{c}:");
        time_text(*done, out);
        out.push(':');
        time_text(*due, out);
    }
}

/// Packs lines into chunks of at most `max` bytes, each line ending with `\n`.
pub fn pack(lines: impl IntoIterator<Item = String>, max: usize) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in lines {
        if line.len() + 1 > max {
            return Err(format!("a line of {} bytes does not fit a chunk of {max}", line.len() + 1));
        }
        if cur.len() + line.len() + 1 > max {
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(&line);
        cur.push('\n');
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

impl Snapshot {
    /// The stored form (module doc), in chunks of at most `max` bytes.
    pub fn encode(&self, max: usize) -> Result<Vec<String>, String> {
        let enc = Encoder::new(self.taken_at, &self.fields, &self.courses)?;
        let mut per_user: Vec<Vec<(usize, i64, i64)>> = vec![Vec::new(); self.len()];
        for (c, list) in self.enrollments.iter().enumerate() {
            for e in list {
                per_user[e.user as usize].push((c, e.completed, e.due));
            }
        }
        let users = (0..self.len()).map(|u| {
            let mut line = String::from("u\t");
            escape(self.id(u), &mut line);
            line.push_str(if self.active(u) { "\t1" } else { "\t0" });
            for c in &self.columns {
                line.push('\t');
                escape(c.dict.get(c.codes[u] as usize), &mut line);
            }
            for d in &self.dates {
                line.push('\t');
                time_text(d[u], &mut line);
            }
            line.push('\t');
            write_acts(&per_user[u], &mut line);
            line
        });
        pack(enc.header_lines().into_iter().chain(users), max)
    }

    /// A snapshot from its chunks, in order.
    pub fn decode<'a>(chunks: impl IntoIterator<Item = &'a str>) -> Result<Snapshot, String> {
        let mut dec = Decoder::default();
        for c in chunks {
            dec.chunk(c)?;
        }
        dec.finish()
    }
}

/// Reads the stored form line by line, building the columns as it goes.
#[derive(Default)]
pub struct Decoder {
    lines: usize,
    snap: Snapshot,
    users_started: bool,
    /// Per column, the value → code map while the column repeats values; dropped (every value a new
    /// entry) once more than half of the users have distinct values (e-mail, name): no map of
    /// 100,000 strings while decoding.
    interners: Vec<Option<HashMap<Box<str>, u32, BuildHasherDefault<Fx>>>>,
    /// Where the fields of the line being read end (reused: no allocation per line).
    ends: Vec<usize>,
    /// Login keys of the users (by decode order), when their lines carry one.
    keys: Vec<(u64, u32)>,
    /// `e` lines: (login key, course, completedAt, dueDate).
    loose: Vec<(u64, u32, i64, i64)>,
}

/// A fast, unkeyed hash for the decoder's value maps (FxHash's multiply-rotate, 8 bytes a step):
/// SipHash, the standard map's, costs several times more per value inside a wasm guest, and the
/// values come from the tenant's own directory, not from an attacker choosing collisions.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

const FX: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w.try_into().unwrap_or_default())).wrapping_mul(FX);
        }
        let tail = words.remainder().iter().rev().fold(0u64, |t, b| t << 8 | u64::from(*b));
        self.0 = (h.rotate_left(5) ^ tail ^ bytes.len() as u64).wrapping_mul(FX);
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(FX);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Distinct values a column may reach before its interning is reconsidered.
const INTERN_CHECK: usize = 4_096;

impl Decoder {
    /// A chunk of whole lines.
    pub fn chunk(&mut self, chunk: &str) -> Result<(), String> {
        chunk.split_terminator('\n').try_for_each(|l| self.line(l))
    }

    /// One line (without its newline).
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        self.lines += 1;
        let n = self.lines;
        self.parse_line(line).map_err(|e| format!("snapshot line {n}: {e}"))
    }

    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        let (kind, rest) = line.split_once('\t').ok_or("no tab")?;
        if self.lines == 1 {
            if kind != "v1" {
                return Err(format!("starts with {kind:?}, not v1 (an unknown format)"));
            }
            self.snap.taken_at = time::parse(rest).ok_or("bad time")?;
            return Ok(());
        }
        match kind {
            "f" | "c" if self.users_started => Err("fields and courses come before users".into()),
            "f" => {
                let (t, name) = rest.split_once('\t').ok_or("f: type and name")?;
                let kind = match t {
                    "string" => FieldType::String,
                    "date" => FieldType::Date,
                    _ => return Err(format!("f: unknown type {t:?}")),
                };
                self.snap.fields.push(Field { name: unescape(name)?.into_owned(), kind });
                Ok(())
            }
            "c" => {
                if guid(rest).as_deref() != Some(rest) {
                    return Err(format!("course {rest:?} is not a lower-case GUID"));
                }
                let i = self.snap.courses.len() as u32;
                if self.snap.course_index.insert(rest.to_owned(), i).is_some() {
                    return Err(format!("course {rest} twice"));
                }
                self.snap.courses.push(rest.to_owned());
                Ok(())
            }
            "u" => self.user(rest),
            "e" => {
                let mut f = rest.split('\t');
                let (Some(key), Some(c), Some(done), Some(due), None) =
                    (f.next(), f.next(), f.next(), f.next(), f.next())
                else {
                    return Err("e: key, course, completedAt and dueDate".into());
                };
                let key = u64::from_str_radix(key, 16).map_err(|_| format!("e: login key {key:?}"))?;
                let c: u32 = c
                    .parse()
                    .ok()
                    .filter(|c| (*c as usize) < self.snap.courses.len())
                    .ok_or_else(|| format!("e: course {c:?}"))?;
                self.loose.push((key, c, parse_time(done)?, parse_time(due)?));
                Ok(())
            }
            _ => Err(format!("unknown line kind {kind:?}")),
        }
    }

    fn start_users(&mut self) {
        self.users_started = true;
        let s = &mut self.snap;
        let strings = s.fields.iter().filter(|f| f.kind == FieldType::String).count();
        let dates = s.fields.len() - strings;
        for _ in 0..STANDARD_SOURCES.len() + strings {
            let mut col = Column::default();
            col.dict.push("");
            s.columns.push(col);
            let mut map = HashMap::default();
            map.insert(Box::from(""), 0);
            self.interners.push(Some(map));
        }
        s.dates = vec![Vec::new(); dates];
        s.enrollments = vec![Vec::new(); s.courses.len()];
    }

    fn user(&mut self, rest: &str) -> Result<(), String> {
        if !self.users_started {
            self.start_users();
        }
        let s = &mut self.snap;
        let want = 3 + s.columns.len() + s.dates.len();
        // One pass over the line for its tabs (the decoder's hot loop: ~100,000 lines of ~250 bytes).
        self.ends.clear();
        for (i, b) in rest.bytes().enumerate() {
            if b == b'\t' {
                self.ends.push(i);
            }
        }
        self.ends.push(rest.len());
        let mut start = 0;
        let mut parts: Vec<&str> = Vec::with_capacity(self.ends.len());
        for &end in &self.ends {
            parts.push(&rest[start..end]);
            start = end + 1;
        }
        let user = s.active.len() as u32;
        if parts.len() == want + 1 {
            let key = parts.pop().unwrap_or_default();
            let key = u64::from_str_radix(key, 16).map_err(|_| format!("u: login key {key:?}"))?;
            self.keys.push((key, user));
        }
        if parts.len() != want {
            return Err(format!("u: {} fields, expected {want}", parts.len()));
        }
        s.ids.push(&unescape(parts[0])?);
        s.active.push(match parts[1] {
            "1" => true,
            "0" => false,
            a => return Err(format!("u: active {a:?}")),
        });
        for (c, col) in s.columns.iter_mut().enumerate() {
            let v = unescape(parts[2 + c])?;
            let code = match &mut self.interners[c] {
                _ if v.is_empty() => 0,
                Some(map) => match map.get(v.as_ref()) {
                    Some(code) => *code,
                    None => {
                        let code = col.dict.push(&v);
                        map.insert(Box::from(v.as_ref()), code);
                        if map.len() > INTERN_CHECK && map.len() * 2 > col.codes.len() {
                            self.interners[c] = None;
                        }
                        code
                    }
                },
                None => col.dict.push(&v),
            };
            col.codes.push(code);
        }
        let base = 2 + s.columns.len();
        for (d, col) in s.dates.iter_mut().enumerate() {
            col.push(parse_time(parts[base + d])?);
        }
        let acts = parts[base + s.dates.len()];
        // `course:done:due` items separated by commas, read in one pass (hot: several per user).
        let b = acts.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let item = |i: usize| {
                let end = b[i..].iter().position(|x| *x == b',').map_or(b.len(), |p| i + p);
                format!("u: enrollment {:?}", &acts[i..end])
            };
            let start = i;
            let (c, after) = number(b, i).ok_or_else(|| item(start))?;
            let c = usize::try_from(c)
                .ok()
                .filter(|c| *c < s.courses.len())
                .ok_or_else(|| format!("u: course {:?}", &acts[start..after]))?;
            let (done, after) = optional_number(b, expect(b, after, b':').ok_or_else(|| item(start))?);
            let (due, after) = optional_number(b, expect(b, after, b':').ok_or_else(|| item(start))?);
            i = match b.get(after) {
                None => after,
                Some(b',') => after + 1,
                Some(_) => return Err(item(start)),
            };
            let list = &mut s.enrollments[c];
            if list.last().is_some_and(|e| e.user == user) {
                return Err(format!("u: two enrollments in course {c}"));
            }
            list.push(Enrollment { user, completed: done.unwrap_or(NONE), due: due.unwrap_or(NONE) });
        }
        Ok(())
    }

    /// The snapshot, users sorted by id, `e` lines joined; refuses duplicate ids and a missing first line.
    pub fn finish(mut self) -> Result<Snapshot, String> {
        if self.lines == 0 {
            return Err("an empty snapshot (no v1 line)".into());
        }
        if !self.users_started {
            self.start_users();
        }
        let mut s = self.snap;
        let n = s.len();
        let sorted = (1..n).all(|i| s.ids.get(i - 1) < s.ids.get(i));
        if !sorted {
            let mut perm: Vec<u32> = (0..n as u32).collect();
            perm.sort_unstable_by(|a, b| s.ids.get(*a as usize).cmp(s.ids.get(*b as usize)));
            let mut ids = Strings::default();
            for w in perm.windows(2) {
                if s.ids.get(w[0] as usize) == s.ids.get(w[1] as usize) {
                    return Err(format!("snapshot: user {} twice", s.ids.get(w[0] as usize)));
                }
            }
            for p in &perm {
                ids.push(s.ids.get(*p as usize));
            }
            s.ids = ids;
            s.active = perm.iter().map(|p| s.active[*p as usize]).collect();
            for c in &mut s.columns {
                c.codes = perm.iter().map(|p| c.codes[*p as usize]).collect();
            }
            for d in &mut s.dates {
                *d = perm.iter().map(|p| d[*p as usize]).collect();
            }
            let mut pos = vec![0u32; n];
            for (new, old) in perm.iter().enumerate() {
                pos[*old as usize] = new as u32;
            }
            for list in &mut s.enrollments {
                for e in list.iter_mut() {
                    e.user = pos[e.user as usize];
                }
                list.sort_unstable_by_key(|e| e.user);
            }
            for (_, user) in &mut self.keys {
                *user = pos[*user as usize];
            }
        }
        if !self.loose.is_empty() {
            join_loose(&mut s, &mut self.keys, self.loose);
        }
        for c in &mut s.columns {
            c.dict.text.shrink_to_fit();
            c.dict.ends.shrink_to_fit();
            c.codes.shrink_to_fit();
        }
        s.ids.text.shrink_to_fit();
        s.ids.ends.shrink_to_fit();
        s.active.shrink_to_fit();
        s.dates.iter_mut().for_each(Vec::shrink_to_fit);
        s.enrollments.iter_mut().for_each(Vec::shrink_to_fit);
        Ok(s)
    }
}

/// Joins `e` lines to the users with their login key (module doc).
fn join_loose(s: &mut Snapshot, keys: &mut [(u64, u32)], loose: Vec<(u64, u32, i64, i64)>) {
    keys.sort_unstable();
    let user_of = |key: u64| keys.binary_search_by_key(&key, |k| k.0).ok().map(|i| keys[i].1);
    for (key, c, completed, due) in loose {
        if let Some(user) = user_of(key) {
            s.enrollments[c as usize].push(Enrollment { user, completed, due });
        }
    }
    for list in &mut s.enrollments {
        // Completed first within a user, so that the dedup keeps a completion.
        list.sort_unstable_by_key(|e| (e.user, e.completed == NONE));
        list.dedup_by_key(|e| e.user);
    }
}
