//! When an execution was last used: the modification time of one of its
//! key-value entries, refreshed by whoever uses the execution.

use std::io::ErrorKind;
use std::time::SystemTime;

use rustix::fs::OFlags;

use super::dirfd::modified;
use super::FsStore;
use crate::error::{Error, Result};
use crate::store::paths::{kv_name, kv_rel};

impl FsStore {
    /// Marks `(exec, key)` as used now; returns false if there is no such entry.
    pub(crate) fn kv_touch(&self, exec: &[u8], key: &[u8]) -> Result<bool> {
        let name = kv_name(key)?;
        let Some(dir) = self.dir().open_dir(kv_rel(exec)?)? else {
            return Ok(false);
        };
        let file = match dir.open_file(&name, OFlags::WRONLY) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("open", dir.display(&name), e)),
        };
        file.set_modified(SystemTime::now())
            .map_err(|e| Error::io("touch", dir.display(&name), e))?;
        Ok(true)
    }

    /// When `(exec, key)` was last written or touched; `None` if there is no such entry.
    pub(crate) fn kv_modified(&self, exec: &[u8], key: &[u8]) -> Result<Option<SystemTime>> {
        let name = kv_name(key)?;
        let Some(dir) = self.dir().open_dir(kv_rel(exec)?)? else {
            return Ok(None);
        };
        match dir.stat(&name) {
            Ok(st) => Ok(Some(modified(&st))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("inspect", dir.display(&name), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use crate::store::test_store;

    #[test]
    fn touch_moves_the_modification_time() {
        let (_dir, store) = test_store();
        assert!(!store.kv_touch(b"e", b"k").unwrap());
        assert_eq!(store.kv_modified(b"e", b"k").unwrap(), None);
        store.kv_put(b"e", b"k", b"v").unwrap();
        let path = store.kv_path(b"e", b"k").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(store.kv_modified(b"e", b"k").unwrap(), Some(old));
        assert!(store.kv_touch(b"e", b"k").unwrap());
        let touched = store.kv_modified(b"e", b"k").unwrap().unwrap();
        assert!(touched > old + Duration::from_secs(3000));
        assert_eq!(store.kv_get(b"e", b"k").unwrap().unwrap(), b"v");
    }
}
