//! Whole-execution operations: listing and clearing.

use std::io::ErrorKind;
use std::path::Path;
use std::time::SystemTime;

use super::dirfd::{is_dir, modified};
use super::paths::{exec_name, unhex};
use super::BufferingStore;
use crate::error::{Error, Result};

impl BufferingStore {
    /// Remove all state of `exec`, in memory and in files, and give up this
    /// process's claim on it; succeeds if there is none.
    pub fn clear(&self, exec: &[u8]) -> Result<()> {
        let name = exec_name(exec)?;
        self.forget_in_memory(exec);
        self.forget_next_ids(&name);
        let removed = self.dir().remove_all(&name);
        // The owner lock is held until the directory is gone.
        self.claimed().remove(exec);
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", self.dir().display(&name), e)),
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
    pub fn list_executions(&self) -> Result<Vec<(Vec<u8>, SystemTime)>> {
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

#[cfg(test)]
mod tests {
    use crate::store::test_store;

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
