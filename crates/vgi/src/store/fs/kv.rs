//! Per-execution key-value entries (overwrite semantics).

use std::io::ErrorKind;

use super::fsio::{discard_temp, read_optional, write_temp};
use super::FsStore;
use crate::error::{Error, Result};
use crate::store::paths::{kv_name, kv_rel};

impl FsStore {
    /// Store `value` under `(exec, key)`, atomically replacing any previous value.
    pub(crate) fn kv_put(&self, exec: &[u8], key: &[u8], value: &[u8]) -> Result<()> {
        let rel = kv_rel(exec)?;
        let name = kv_name(key)?;
        self.ensure_claimed(exec)?;
        let dir = self.dir().create_dirs(&rel)?;
        let tmp = write_temp(&dir, value)?;
        dir.rename(&tmp, &name).map_err(|e| {
            discard_temp(&dir, &tmp);
            Error::io("rename", dir.display(&name), e)
        })
    }

    /// The value under `(exec, key)`, or `None` if there is none.
    pub(crate) fn kv_get(&self, exec: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>> {
        let rel = kv_rel(exec)?;
        let name = kv_name(key)?;
        match self.dir().open_dir(&rel)? {
            Some(dir) => read_optional(&dir, &name),
            None => Ok(None),
        }
    }

    /// Remove `(exec, key)`; returns whether it existed.
    pub(crate) fn kv_del(&self, exec: &[u8], key: &[u8]) -> Result<bool> {
        let rel = kv_rel(exec)?;
        let name = kv_name(key)?;
        let Some(dir) = self.dir().open_dir(&rel)? else {
            return Ok(false);
        };
        match dir.unlink(&name) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", dir.display(&name), e)),
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
