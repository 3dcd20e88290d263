//! Append-only logs: `append` and `scan`.

use std::path::Path;

use super::dirfd::StoreDir;
use super::fsio::{
    discard_temp, list_ids, list_ids_in, publish_noreplace, read_optional, write_temp,
};
use super::memory::{LogEntry, Value};
use super::paths::{entry_name, log_rel};
use super::BufferingStore;
use crate::error::{Error, Result};
use crate::ipc;
use arrow_array::RecordBatch;

/// Collisions after which the next id is recomputed from the directory
/// instead of counting up (another process may have appended a lot).
const RESCAN_AFTER: u32 = 16;

impl BufferingStore {
    /// Append `value` under `(exec, ns, key)` and return its id. Ids start at
    /// 0, are unique across threads and processes, and increase in append
    /// order for each writer.
    pub fn append(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        value: impl AsRef<[u8]>,
    ) -> Result<i64> {
        if let Some(id) = self.append_in_memory(exec, ns, key, Value::Bytes(value.as_ref()))? {
            return Ok(id);
        }
        let rel = log_rel(exec, ns, key)?;
        self.ensure_claimed(exec)?;
        self.append_entry(&rel, value.as_ref())
    }

    /// Append `batch` to `(exec, ns, key)` and return its id, like
    /// [`append`](Self::append) of its Arrow IPC stream. An execution in the
    /// memory tier keeps the batch itself while it fits in the budget.
    pub fn append_batch(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        batch: &RecordBatch,
    ) -> Result<i64> {
        if let Some(id) = self.append_in_memory(exec, ns, key, Value::Batch(batch))? {
            return Ok(id);
        }
        self.append(exec, ns, key, ipc::encode_batch(batch)?)
    }

    /// The ids of the entries of `(exec, ns, key)`, ascending; empty for a log
    /// never appended to.
    pub fn entry_ids(&self, exec: &[u8], ns: &[u8], key: &[u8]) -> Result<Vec<i64>> {
        if let Some(ids) = self.entry_ids_in_memory(exec, ns, key)? {
            return Ok(ids);
        }
        list_ids_in(&self.dir(), log_rel(exec, ns, key)?)
    }

    /// The entry `id` of `(exec, ns, key)`, or `None` if there is none. With
    /// `release`, an entry held in memory is handed over and no longer kept
    /// (a producer that has yielded it drops it): reading it again is an
    /// error. Entries in files are never removed by reading.
    pub fn read_log_entry(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
        release: bool,
    ) -> Result<Option<LogEntry>> {
        if let Some(entry) = self.log_entry_in_memory(exec, ns, key, id, release)? {
            return Ok(entry);
        }
        let Some(dir) = self.dir().open_dir(log_rel(exec, ns, key)?)? else {
            return Ok(None);
        };
        Ok(read_optional(&dir, entry_name(id))?.map(LogEntry::Encoded))
    }

    /// The entry `id` of `(exec, ns, key)`, or `None` if there is none.
    pub fn read_entry(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
    ) -> Result<Option<Vec<u8>>> {
        match self.read_log_entry(exec, ns, key, id, false)? {
            Some(LogEntry::Batches(batches)) => match batches.as_slice() {
                [batch] => Ok(Some(ipc::encode_batch(batch)?)),
                _ => Err(Error::InvalidArgument(
                    "a log entry held in memory is one batch".into(),
                )),
            },
            Some(LogEntry::Encoded(bytes)) => Ok(Some(bytes)),
            None => Ok(None),
        }
    }

    /// Up to `limit` entries of `(exec, ns, key)` with `id > after_id`, ordered
    /// by id. A log never appended to is empty. Entries still being published
    /// by a concurrent `append` may be missed.
    pub fn scan(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut out = Vec::new();
        for id in self
            .entry_ids(exec, ns, key)?
            .into_iter()
            .filter(|id| *id > after_id)
        {
            if out.len() == limit {
                break;
            }
            if let Some(data) = self.read_entry(exec, ns, key, id)? {
                out.push((id, data));
            }
        }
        Ok(out)
    }

    /// Publish `value` as the next free entry of the log `rel` (relative to the root).
    fn append_entry(&self, rel: &Path, value: &[u8]) -> Result<i64> {
        let dir = self.dir().create_dirs(rel)?;
        let tmp = write_temp(&dir, value)?;
        let result = self.publish_next(rel, &dir, &tmp);
        if result.is_err() {
            discard_temp(&dir, &tmp);
        }
        result
    }

    fn publish_next(&self, rel: &Path, dir: &StoreDir, tmp: &str) -> Result<i64> {
        let mut id = match self.next_id_hint(rel) {
            Some(id) => id,
            None => next_after_max(dir)?,
        };
        let mut collisions: u32 = 0;
        loop {
            if publish_noreplace(dir, tmp, &entry_name(id))? {
                self.record_next_id(rel, id.saturating_add(1));
                return Ok(id);
            }
            collisions += 1;
            let next = id.checked_add(1).ok_or_else(|| Error::Corrupt {
                path: dir.path().to_path_buf(),
                reason: "entry ids exhausted".into(),
            })?;
            id = if collisions.is_multiple_of(RESCAN_AFTER) {
                next_after_max(dir)?.max(next)
            } else {
                next
            };
        }
    }

    fn next_id_hint(&self, rel: &Path) -> Option<i64> {
        self.next_ids().get(rel).copied()
    }

    fn record_next_id(&self, rel: &Path, next: i64) {
        let mut hints = self.next_ids();
        let slot = hints.entry(rel.to_path_buf()).or_insert(next);
        *slot = (*slot).max(next);
    }
}

fn next_after_max(dir: &StoreDir) -> Result<i64> {
    Ok(list_ids(dir)?.last().map_or(0, |max| max.saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use crate::store::test_store;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    #[test]
    fn append_then_scan_in_order_with_paging() {
        let (_dir, store) = test_store();
        for i in 0..10u8 {
            assert_eq!(store.append(b"e", b"ns", b"k", [i]).unwrap(), i64::from(i));
        }
        store.append(b"e", b"ns", b"other", [99]).unwrap();
        let mut seen = Vec::new();
        let mut after = -1;
        loop {
            let page = store.scan(b"e", b"ns", b"k", after, 3).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 3);
            after = page.last().unwrap().0;
            seen.extend(page.into_iter().map(|(_, v)| v[0]));
        }
        assert_eq!(seen, (0..10).collect::<Vec<u8>>());
        assert!(store.scan(b"e", b"ns", b"k", -1, 0).unwrap().is_empty());
        assert!(store.scan(b"e", b"ns", b"none", -1, 10).unwrap().is_empty());
    }

    #[test]
    fn scan_ignores_temp_and_foreign_files() {
        let (_dir, store) = test_store();
        store.append(b"e", b"n", b"k", b"a").unwrap();
        let dir = store.log_dir(b"e", b"n", b"k").unwrap();
        std::fs::write(dir.join(".tmp-half"), b"partial").unwrap();
        std::fs::write(dir.join("notes.txt"), b"x").unwrap();
        let all = store.scan(b"e", b"n", b"k", -1, 100).unwrap();
        assert_eq!(all, vec![(0, b"a".to_vec())]);
        assert_eq!(store.append(b"e", b"n", b"k", b"b").unwrap(), 1);
    }

    #[test]
    fn a_second_store_on_the_same_root_continues_the_ids() {
        let (dir, store) = test_store();
        store.append(b"e", b"n", b"k", b"a").unwrap();
        let other = crate::store::BufferingStore::open(dir.path().join("root")).unwrap();
        assert_eq!(other.append(b"e", b"n", b"k", b"b").unwrap(), 1);
        assert_eq!(store.append(b"e", b"n", b"k", b"c").unwrap(), 2);
    }

    #[test]
    fn concurrent_appends_never_collide() {
        let (dir, store) = test_store();
        let root = dir.path().join("root");
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                // Half the threads share a store, half open their own (like separate processes).
                let store = if t % 2 == 0 {
                    Arc::clone(&store)
                } else {
                    Arc::new(crate::store::BufferingStore::open(root.clone()).unwrap())
                };
                std::thread::spawn(move || {
                    let mut ids = Vec::new();
                    for i in 0..50u8 {
                        ids.push(store.append(b"e", b"n", b"k", [t, i]).unwrap());
                    }
                    ids
                })
            })
            .collect();
        let mut all_ids = BTreeSet::new();
        for t in threads {
            let ids = t.join().unwrap();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "per-writer order");
            all_ids.extend(ids);
        }
        assert_eq!(all_ids.len(), 400);
        let entries = store.scan(b"e", b"n", b"k", -1, 1000).unwrap();
        assert_eq!(entries.len(), 400);
        let values: BTreeSet<Vec<u8>> = entries.into_iter().map(|(_, v)| v).collect();
        assert_eq!(values.len(), 400);
        let log_dir = store.log_dir(b"e", b"n", b"k").unwrap();
        assert_eq!(
            std::fs::read_dir(log_dir).unwrap().count(),
            400,
            "no temp files left"
        );
    }

    #[test]
    fn io_errors_carry_the_path() {
        let (_dir, store) = test_store();
        let blocker = store.exec_dir(b"e").unwrap();
        std::fs::write(&blocker, b"not a directory").unwrap();
        let err = store.append(b"e", b"n", b"k", b"v").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, crate::Error::Io { .. }), "{msg}");
        assert!(msg.contains(&*blocker.to_string_lossy()), "{msg}");
        assert!(store.scan(b"e", b"n", b"k", -1, 10).is_err());
    }

    #[test]
    fn unreadable_entry_is_an_error() {
        let (_dir, store) = test_store();
        store.append(b"e", b"n", b"k", b"a").unwrap();
        let entry = store.log_entry_path(b"e", b"n", b"k", 1).unwrap();
        std::fs::create_dir(&entry).unwrap();
        let msg = store
            .scan(b"e", b"n", b"k", -1, 10)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("read ") && msg.contains("00000000000000000001.bin"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_empty_exec_and_overlong_names() {
        let (_dir, store) = test_store();
        assert!(matches!(
            store.append(b"", b"n", b"k", b"v"),
            Err(crate::Error::InvalidArgument(_))
        ));
        let long = vec![7u8; 200];
        assert!(matches!(
            store.append(b"e", &long, b"k", b"v"),
            Err(crate::Error::InvalidArgument(_))
        ));
    }
}
