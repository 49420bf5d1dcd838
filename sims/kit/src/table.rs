//! An id-keyed table that also remembers creation order, plus the paging helper
//! shared by every list endpoint.
//!
//! Every entity gets a sequence number from one global counter when it is created.
//! Lists are returned in that order and a page token is simply the sequence number
//! of the first entity of the next page, so paging stays stable while rows are
//! added or deleted between calls.
//! Not an `IndexMap`: page tokens need a `range(seq..)` lookup, `shift_remove` is O(n), `swap_remove` reorders.

use std::collections::{BTreeMap, HashMap};

/// A row stored in a [`Table`].
pub trait Row {
    fn seq(&self) -> u64;
}

/// Rows by id, plus their creation order.
#[derive(Debug)]
pub struct Table<T> {
    rows: HashMap<String, T>,
    order: BTreeMap<u64, String>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self { rows: HashMap::new(), order: BTreeMap::new() }
    }
}

impl<T: Row> Table<T> {
    pub fn insert(&mut self, id: String, row: T) {
        self.order.insert(row.seq(), id.clone());
        self.rows.insert(id, row);
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.rows.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.rows.get_mut(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.rows.contains_key(id)
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        let row = self.rows.remove(id)?;
        self.order.remove(&row.seq());
        Some(row)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// All rows in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.order.values().filter_map(|id| self.rows.get(id))
    }

    /// Rows created at or after `from`, in creation order, with their sequence numbers.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &T)> {
        self.order.range(from..).filter_map(|(seq, id)| self.rows.get(id).map(|row| (*seq, row)))
    }
}

/// What a list request asks for: at most `size` rows starting at sequence number `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageReq {
    pub size: usize,
    pub from: u64,
}

impl PageReq {
    pub const DEFAULT_SIZE: usize = 1000;
    pub const MAX_SIZE: usize = 1000;

    pub fn first(size: usize) -> Self {
        Self { size, from: 0 }
    }
}

impl Default for PageReq {
    fn default() -> Self {
        Self::first(Self::DEFAULT_SIZE)
    }
}

/// One page of results and the token of the next page (`None` on the last page).
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<u64>,
}

/// Cuts one page out of an iterator already positioned at the requested start and
/// ordered by sequence number.
pub fn paginate<T>(iter: impl Iterator<Item = (u64, T)>, size: usize) -> Page<T> {
    let mut iter = iter.peekable();
    let items: Vec<T> = iter.by_ref().take(size).map(|(_, row)| row).collect();
    let next = iter.peek().map(|(seq, _)| *seq);
    Page { items, next }
}

/// Encodes a page token for the JSON response.
pub fn token(next: Option<u64>) -> Option<String> {
    next.map(|seq| seq.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(u64);
    impl Row for R {
        fn seq(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn pages_follow_creation_order_and_survive_deletes() {
        let mut t = Table::default();
        for i in 1..=5 {
            t.insert(format!("id{i}"), R(i * 10));
        }
        let p = paginate(t.iter_from(0), 2);
        assert_eq!(p.items.iter().map(|r| r.0).collect::<Vec<_>>(), vec![10, 20]);
        assert_eq!(p.next, Some(30));
        t.remove("id3");
        let p = paginate(t.iter_from(30), 2);
        assert_eq!(p.items.iter().map(|r| r.0).collect::<Vec<_>>(), vec![40, 50]);
        assert_eq!(p.next, None);
        assert_eq!(t.len(), 4);
    }
}
