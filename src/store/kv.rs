//! Per-execution key-value entries (overwrite semantics).

use std::fs;
use std::io::ErrorKind;

use super::fsio::{create_dir, discard_temp, read_optional, write_temp};
use super::BufferingStore;
use crate::sdk::error::{Error, Result};

impl BufferingStore {
    /// Store `value` under `(exec, key)`, atomically replacing any previous value.
    pub fn kv_put(&self, exec: &[u8], key: &[u8], value: &[u8]) -> Result<()> {
        let dir = self.kv_dir(exec)?;
        let path = self.kv_path(exec, key)?;
        if self.kv_put_in_memory(exec, key, value)? == Some(true) {
            return Ok(());
        }
        self.ensure_claimed(exec)?;
        create_dir(&dir)?;
        let tmp = write_temp(&dir, value)?;
        fs::rename(&tmp, &path).map_err(|e| {
            discard_temp(&tmp);
            Error::io("rename", &path, e)
        })
    }

    /// The value under `(exec, key)`, or `None` if there is none.
    pub fn kv_get(&self, exec: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>> {
        let path = self.kv_path(exec, key)?;
        if let Some(found) = self.kv_get_in_memory(exec, key) {
            return Ok(found);
        }
        read_optional(&path)
    }

    /// Remove `(exec, key)`; returns whether it existed.
    pub fn kv_del(&self, exec: &[u8], key: &[u8]) -> Result<bool> {
        let path = self.kv_path(exec, key)?;
        if let Some(existed) = self.kv_del_in_memory(exec, key) {
            return Ok(existed);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_store;

    #[test]
    fn put_get_overwrite_del() {
        let (_dir, store) = test_store();
        assert_eq!(store.kv_get(b"e", b"k").unwrap(), None);
        store.kv_put(b"e", b"k", b"one").unwrap();
        store.kv_put(b"e", b"", b"empty key").unwrap();
        assert_eq!(store.kv_get(b"e", b"k").unwrap().unwrap(), b"one");
        store.kv_put(b"e", b"k", b"two").unwrap();
        assert_eq!(store.kv_get(b"e", b"k").unwrap().unwrap(), b"two");
        assert_eq!(store.kv_get(b"e", b"").unwrap().unwrap(), b"empty key");
        assert_eq!(store.kv_get(b"other", b"k").unwrap(), None);
        assert!(store.kv_del(b"e", b"k").unwrap());
        assert!(!store.kv_del(b"e", b"k").unwrap());
        assert_eq!(store.kv_get(b"e", b"k").unwrap(), None);
        let leftovers = std::fs::read_dir(store.kv_dir(b"e").unwrap())
            .unwrap()
            .count();
        assert_eq!(leftovers, 1, "only the empty-key entry remains");
    }

    #[test]
    fn kv_errors_carry_the_path() {
        let (_dir, store) = test_store();
        let blocker = store.kv_dir(b"e").unwrap();
        std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
        std::fs::write(&blocker, b"file").unwrap();
        let msg = store.kv_put(b"e", b"k", b"v").unwrap_err().to_string();
        assert!(msg.contains(&*blocker.to_string_lossy()), "{msg}");
        assert!(store.kv_get(b"e", b"k").is_err());
        assert!(store.kv_del(b"e", b"k").is_err());
    }
}
