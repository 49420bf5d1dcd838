//! An id-keyed table that remembers creation order.
//!
//! Every row carries the sequence number it got from the state's single counter when it was
//! created; collections are listed in that order, so `$skip` paging is stable while nothing is
//! added or removed between two pages.

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
    fn rows_come_back_in_creation_order() {
        let mut t = Table::default();
        for i in [3u64, 1, 2] {
            t.insert(format!("id{i}"), R(i));
        }
        assert_eq!(t.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(t.remove("id2").is_some());
        assert_eq!(t.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(t.len(), 2);
        assert!(t.contains("id3") && !t.contains("id2") && !t.is_empty());
    }
}
