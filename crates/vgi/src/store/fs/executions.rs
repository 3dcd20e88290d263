//! Whole-execution operations: listing and clearing.

use std::io::ErrorKind;
use std::path::Path;
use std::time::SystemTime;

use super::dirfd::{is_dir, modified, StoreDir};
use super::fsio::temp_name;
use super::FsStore;
use crate::error::{Error, Result};
use crate::store::paths::{exec_name, unhex, TMP_PREFIX};

/// How often a cleared execution's tree is removed again while writes that
/// were under way still land in it.
const CLEAR_ATTEMPTS: u32 = 8;

impl FsStore {
    /// Removes the files of `exec` and gives up this process's claim on it;
    /// succeeds if there are none.
    pub(crate) fn clear(&self, exec: &[u8]) -> Result<()> {
        let name = exec_name(exec)?;
        self.forget_next_ids(&name);
        let removed = self.remove_execution_dir(&name);
        // The owner lock is held until the directory is gone.
        self.claimed().remove(exec);
        self.leave(exec);
        removed
    }

    /// Moves the directory `name` aside, then removes it: a worker writing
    /// to the execution meanwhile finds it gone (and does not make it
    /// again), and a write that was under way lands in the moved tree,
    /// which is removed again while one appears. When another process moved
    /// it first, its trees moved aside are removed here too, so that the
    /// execution is gone when this returns, not only once that process is done.
    fn remove_execution_dir(&self, name: &str) -> Result<()> {
        let root = self.dir();
        let prefix = aside_prefix(name);
        let aside = temp_name(&prefix)?;
        match root.rename_noreplace(name, &aside) {
            Ok(true) => remove_tree(&root, &aside),
            Ok(false) => Err(Error::io(
                "rename",
                root.display(&aside),
                std::io::Error::from(ErrorKind::AlreadyExists),
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let full_prefix = format!("{TMP_PREFIX}{prefix}");
                let entries = root
                    .entries()
                    .map_err(|e| Error::io("list", root.path(), e))?;
                for (entry, _) in entries {
                    if let Some(entry) = entry.to_str().filter(|e| e.starts_with(&full_prefix)) {
                        remove_tree(&root, entry)?;
                    }
                }
                Ok(())
            }
            Err(e) => Err(Error::io("rename", root.display(name), e)),
        }
    }

    /// Drops the next-id hints of the logs of the execution directory `name`.
    pub(crate) fn forget_next_ids(&self, name: &str) {
        self.next_ids()
            .retain(|log, _| !log.starts_with(Path::new(name)));
    }

    /// Every execution with state, as `(execution id, directory mtime)`, oldest
    /// first. The mtime changes when the execution's first log or key-value
    /// entry is created, not on every write.
    pub(crate) fn list_executions(&self) -> Result<Vec<(Vec<u8>, SystemTime)>> {
        let root = self.dir();
        let entries = root
            .entries()
            .map_err(|e| Error::io("list", root.path(), e))?;
        let mut out = Vec::new();
        for (name, _) in entries {
            let Some(exec) = name.to_str().and_then(unhex) else {
                continue;
            };
            let st = match root.stat(&name) {
                Ok(st) => st,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("inspect", root.display(&name), e)),
            };
            if exec.is_empty() || !is_dir(&st) {
                continue;
            }
            out.push((exec, modified(&st)));
        }
        out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }
}

/// The label of the names that trees of the execution directory `name`
/// get when they are moved aside to be removed.
fn aside_prefix(name: &str) -> String {
    format!("clear-{name}-")
}

/// Removes the tree `name` of `root`, again while writes that were under
/// way still land in it (or another process removes it at the same time).
fn remove_tree(root: &StoreDir, name: &str) -> Result<()> {
    let mut attempt = 0;
    loop {
        match root.remove_all(name) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) && attempt < CLEAR_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(Error::io("remove", root.display(name), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::store::{test_store, BufferingStore};

    #[test]
    fn a_write_never_makes_an_execution_that_another_process_cleared_again() {
        let (dir, opener) = test_store();
        let open = || BufferingStore::open(dir.path().join("root")).unwrap();
        // A worker opened it, a second worker joined it and wrote, a third
        // joined it without writing yet; the client takes it over.
        opener.claim(b"e").unwrap();
        opener.append(b"e", b"n", b"k", b"1").unwrap();
        let (joined, late, client) = (open(), open(), open());
        joined.join(b"e");
        joined.append(b"e", b"n", b"k", b"2").unwrap();
        late.join(b"e");
        client.claim(b"e").unwrap();
        client.clear(b"e").unwrap();
        for store in [&*opener, &joined, &late] {
            let err = store.append(b"e", b"vgi", b"streamed", b"x").unwrap_err();
            assert!(matches!(err, Error::Ended { .. }), "{err}");
            assert!(
                err.to_string().contains("removed while this call ran"),
                "{err}"
            );
            assert!(matches!(
                store.kv_put(b"e", b"k", b"v"),
                Err(Error::Ended { .. })
            ));
        }
        assert!(
            client.list_executions().unwrap().is_empty(),
            "nothing made again"
        );
        assert!(
            std::fs::read_dir(dir.path().join("root"))
                .unwrap()
                .next()
                .is_none(),
            "nothing moved aside is left"
        );
        // New executions are made as before.
        late.append(b"new", b"n", b"k", b"v").unwrap();
        assert_eq!(client.list_executions().unwrap().len(), 1);
    }

    #[test]
    fn a_clear_that_another_process_began_is_finished_before_clear_returns() {
        let (dir, worker) = test_store();
        let root = dir.path().join("root");
        worker.claim(b"e").unwrap();
        worker.append(b"e", b"n", b"k", b"1").unwrap();
        worker.kv_put(b"e", b"k", b"v").unwrap();
        worker.append(b"other", b"n", b"k", b"1").unwrap();
        let client = BufferingStore::open(root.clone()).unwrap();
        client.claim(b"e").unwrap();
        // The worker moved the directory aside and is removing it (as its
        // destructor or its last finalize stream does) when the client clears.
        let name = crate::store::paths::exec_name(b"e").unwrap();
        let moved = root.join(format!(".tmp-clear-{name}-1-0-00"));
        std::fs::rename(root.join(&name), &moved).unwrap();
        let unrelated = root.join(".tmp-clear-6f74686572-1-1-00");
        std::fs::create_dir(&unrelated).unwrap();
        client.clear(b"e").unwrap();
        assert!(!moved.exists(), "the moved tree is gone once clear returns");
        assert!(
            unrelated.exists(),
            "another execution's tree is left to its process"
        );
        assert_eq!(client.list_executions().unwrap().len(), 1);
    }

    #[test]
    fn clear_removes_everything_of_one_execution() {
        let (_dir, store) = test_store();
        for exec in [&b"e1"[..], b"e2"] {
            store.append(exec, b"n", b"k", b"v").unwrap();
            store.kv_put(exec, b"k", b"v").unwrap();
        }
        store.clear(b"e1").unwrap();
        store.clear(b"e1").unwrap();
        store.clear(b"never").unwrap();
        assert!(store.scan(b"e1", b"n", b"k", -1, 10).unwrap().is_empty());
        assert_eq!(store.kv_get(b"e1", b"k").unwrap(), None);
        assert_eq!(store.scan(b"e2", b"n", b"k", -1, 10).unwrap().len(), 1);
        assert_eq!(store.append(b"e1", b"n", b"k", b"again").unwrap(), 0);
    }

    #[test]
    fn lists_executions() {
        let (_dir, store) = test_store();
        assert!(store.list_executions().unwrap().is_empty());
        let id = crate::store::new_execution_id().unwrap();
        store.kv_put(&id, b"k", b"v").unwrap();
        store.append(b"x", b"n", b"k", b"v").unwrap();
        std::fs::write(store.root().join("stray-file"), b"").unwrap();
        std::fs::write(store.root().join("abcd"), b"").unwrap();
        let mut ids: Vec<Vec<u8>> = store
            .list_executions()
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        ids.sort();
        let mut expected = vec![id, b"x".to_vec()];
        expected.sort();
        assert_eq!(ids, expected);
    }
}
