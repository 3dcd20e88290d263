//! Append-only logs in files: one file per entry, published whole under
//! the next free id.

use std::path::Path;

use super::dirfd::StoreDir;
use super::fsio::{
    discard_temp, list_ids, list_ids_in, publish_noreplace, read_optional, write_temp,
};
use super::FsStore;
use crate::error::{Error, Result};
use crate::store::paths::{entry_name, log_rel};

/// Collisions after which the next id is recomputed from the directory
/// instead of counting up (another process may have appended a lot).
const RESCAN_AFTER: u32 = 16;

impl FsStore {
    /// Appends `value` under `(exec, ns, key)` and returns its id.
    pub(crate) fn append(&self, exec: &[u8], ns: &[u8], key: &[u8], value: &[u8]) -> Result<i64> {
        let rel = log_rel(exec, ns, key)?;
        self.ensure_claimed(exec)?;
        self.append_entry(&rel, value)
    }

    /// The ids of the entry files of `(exec, ns, key)`, ascending.
    pub(crate) fn entry_ids(&self, exec: &[u8], ns: &[u8], key: &[u8]) -> Result<Vec<i64>> {
        list_ids_in(&self.dir(), log_rel(exec, ns, key)?)
    }

    /// The entry file `id` of `(exec, ns, key)`, or `None` if there is none.
    pub(crate) fn read_entry(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
    ) -> Result<Option<Vec<u8>>> {
        let Some(dir) = self.dir().open_dir(log_rel(exec, ns, key)?)? else {
            return Ok(None);
        };
        read_optional(&dir, entry_name(id))
    }

    /// Writes `bytes` as entry `id` of `(exec, ns, key)`: an error if that
    /// id is taken (the memory tier spills under ids it handed out).
    pub(crate) fn put_entry_at(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
        bytes: &[u8],
    ) -> Result<()> {
        let rel = log_rel(exec, ns, key)?;
        self.ensure_claimed(exec)?;
        let dir = self.dir().create_dirs(&rel)?;
        let tmp = write_temp(&dir, bytes)?;
        let dest = entry_name(id);
        match publish_noreplace(&dir, &tmp, &dest) {
            Ok(true) => Ok(()),
            Ok(false) => {
                discard_temp(&dir, &tmp);
                Err(Error::Corrupt {
                    path: dir.display(&dest),
                    reason: "the id of a spilled entry is already taken".into(),
                })
            }
            Err(e) => {
                discard_temp(&dir, &tmp);
                Err(e)
            }
        }
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
