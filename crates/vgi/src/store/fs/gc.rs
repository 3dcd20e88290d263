//! Ownership and orphaned state. Every process that writes an execution's
//! state holds a shared lock on byte 0 of the execution's `owner` file for
//! as long as it keeps the execution (until [`BufferingStore::clear`](crate::store::BufferingStore::clear) or its
//! exit), so the lock, not a pid, tells a live execution from one whose
//! processes died (it needs no `/proc` and works across pid namespaces). A
//! process that [takes an execution over](crate::store::BufferingStore::claim), as the
//! DuckDB extension does from the worker that opened it, also holds byte 1.
//! The directory appears with its locked owner file at once, and garbage
//! collection holds byte 0 exclusively while it removes a directory.
//!
//! The locks are open file description locks (`F_OFD_SETLK`): held per open
//! file, released when it closes, and in conflict with POSIX `lockf` locks.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, SystemTime};

use rustix::fs::OFlags;

use super::dirfd::{is_dir, modified, StoreDir};
use super::fsio::temp_name;
use super::FsStore;
use crate::error::{Error, Result};
use crate::store::paths::{exec_name, TMP_PREFIX};

/// The file in an execution's directory that its owners hold locked.
const OWNER_FILE: &str = "owner";

/// Attempts at claiming an execution that garbage collection keeps removing.
const CLAIM_ATTEMPTS: usize = 16;

/// An execution handled by [`BufferingStore::collect_orphans`](crate::store::BufferingStore::collect_orphans).
#[derive(Debug, Clone, PartialEq)]
pub struct Orphan {
    /// The execution id, hex-encoded.
    pub execution_id: String,
    /// How long ago the execution started.
    pub age: Duration,
    /// Bytes of state removed (or found, when it could not be removed).
    pub bytes: u64,
    /// Why the state could not be removed; `None` when it was.
    pub error: Option<String>,
}

/// Byte of the owner file every owner holds shared (liveness).
const LIVE_BYTE: i64 = 0;
/// Byte of the owner file a process that took the execution over holds.
const TAKEN_BYTE: i64 = 1;

fn lock_request(kind: libc::c_int, byte: i64) -> libc::flock {
    // SAFETY: a plain C struct, valid when zeroed (l_pid must be 0).
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    request.l_type = kind as libc::c_short;
    request.l_whence = libc::SEEK_SET as libc::c_short;
    request.l_start = byte;
    request.l_len = 1;
    request
}

/// Locks `byte` of `file` (`F_RDLCK` shared, `F_WRLCK` exclusive), waiting
/// if `wait`. `Ok(false)`: not waiting, and another open file holds it.
fn lock(file: &File, kind: libc::c_int, byte: i64, wait: bool) -> std::io::Result<bool> {
    let request = lock_request(kind, byte);
    let command = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: fcntl on a descriptor this function borrows, with a valid request.
        if unsafe { libc::fcntl(file.as_raw_fd(), command, &request) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN | libc::EACCES) if !wait => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// Whether an open file other than `file` holds a lock on `byte`.
fn held_elsewhere(file: &File, byte: i64) -> std::io::Result<bool> {
    let mut request = lock_request(libc::F_WRLCK, byte);
    // SAFETY: fcntl on a descriptor this function borrows, with a valid request.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut request) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(i32::from(request.l_type) != libc::F_UNLCK)
}

/// Opens the owner file in the execution directory `dir`.
fn open_owner(dir: &StoreDir) -> std::io::Result<File> {
    dir.open_file(OWNER_FILE, OFlags::RDWR)
}

/// Whether `file` still has a name (garbage collection did not remove it).
fn still_linked(file: &File) -> bool {
    file.metadata().is_ok_and(|m| m.nlink() > 0)
}

/// The least age of a moved-aside directory that garbage collection removes.
const MOVED_ASIDE_MIN_AGE: Duration = Duration::from_secs(60);

impl FsStore {
    /// Takes `exec` over: this process owns it (creating its directory if
    /// needed), so that garbage collection in any process leaves it alone
    /// until this process [clears](crate::store::BufferingStore::clear) it or exits, and
    /// the workers that opened it leave its removal to this process.
    pub(crate) fn claim(&self, exec: &[u8]) -> Result<()> {
        self.ensure_claimed(exec)?;
        let claimed = self.claimed();
        let owner = claimed.get(exec).expect("claimed just now");
        let path = self.exec_dir(exec)?.join(OWNER_FILE);
        lock(owner, libc::F_RDLCK, TAKEN_BYTE, true).map_err(|e| Error::io("lock", path, e))?;
        Ok(())
    }

    /// Makes this process an owner of `exec` before its first write to it
    /// (so that an execution that writes nothing, its state fitting in its
    /// ids, leaves no trace in the file system).
    pub(crate) fn ensure_claimed(&self, exec: &[u8]) -> Result<()> {
        let linked = self.claimed().get(exec).map(still_linked);
        if let Some(linked) = linked {
            if linked {
                return Ok(());
            }
            // Cleared, by another process or with the whole root: a write
            // must not make it again.
            let root = self.dir();
            if root.root_removed() {
                return Err(root.create_error(
                    "create directory",
                    exec_name(exec)?,
                    ErrorKind::NotFound.into(),
                ));
            }
            return Err(Error::Ended {
                path: self.exec_dir(exec)?,
            });
        }
        // Opened elsewhere: this process joins it, never makes it.
        let create = !self.joined().contains(exec);
        let owner = self.lock_owner(exec, create)?;
        let mut claimed = self.claimed();
        // Executions another process cleared: their locks protect nothing.
        claimed.retain(|_, file| still_linked(file));
        claimed.entry(exec.to_vec()).or_insert(owner);
        Ok(())
    }

    /// Records that `exec` was opened by another process and that this one
    /// serves calls of it (a worker): from now on a write to it never makes
    /// it again once it is gone (see [`Error::Ended`]).
    pub(crate) fn join(&self, exec: &[u8]) {
        self.joined().insert(exec.to_vec());
    }

    /// Forgets that this process [joined](crate::store::BufferingStore::join) `exec`.
    pub(crate) fn leave(&self, exec: &[u8]) {
        self.joined().remove(exec);
    }

    /// Whether no other live process [took](crate::store::BufferingStore::claim) `exec`
    /// over: this process did, or none did (or it has no owner file).
    pub(crate) fn owned_here_or_orphaned(&self, exec: &[u8]) -> Result<bool> {
        let name = exec_name(exec)?;
        let path = self.dir().display(&name).join(OWNER_FILE);
        let held = match self.claimed().get(exec) {
            Some(owner) => held_elsewhere(owner, TAKEN_BYTE),
            None => {
                let Some(dir) = self.dir().open_dir(&name)? else {
                    return Ok(true);
                };
                match open_owner(&dir) {
                    Ok(owner) => held_elsewhere(&owner, TAKEN_BYTE),
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(true),
                    Err(e) => return Err(Error::io("open", &path, e)),
                }
            }
        };
        Ok(!held.map_err(|e| Error::io("inspect the lock of", &path, e))?)
    }

    /// Opens the owner file of `exec` with a shared lock, creating the
    /// execution's directory if there is none.
    fn lock_owner(&self, exec: &[u8], create: bool) -> Result<File> {
        let name = exec_name(exec)?;
        let path = self.dir().display(&name).join(OWNER_FILE);
        for _ in 0..CLAIM_ATTEMPTS {
            let dir = match self.dir().subdir(&name) {
                Ok(dir) => dir,
                Err(e) if e.kind() == ErrorKind::NotFound && !create => {
                    return Err(Error::Ended {
                        path: self.dir().display(&name),
                    })
                }
                Err(e) if e.kind() == ErrorKind::NotFound => match self.create_execution(&name)? {
                    Some(file) => return Ok(file),
                    // Another process created it first: lock its owner file.
                    None => continue,
                },
                Err(e) => return Err(Error::io("open directory", self.dir().display(&name), e)),
            };
            let file = match open_owner(&dir) {
                Ok(file) => file,
                // A directory without an owner file (left by an older
                // version, or half removed): give it one.
                Err(e) if e.kind() == ErrorKind::NotFound => dir
                    .open_file(OWNER_FILE, OFlags::RDWR | OFlags::CREATE)
                    .map_err(|e| Error::io("create", &path, e))?,
                Err(e) => return Err(Error::io("open", &path, e)),
            };
            lock(&file, libc::F_RDLCK, LIVE_BYTE, true).map_err(|e| Error::io("lock", &path, e))?;
            if still_linked(&file) {
                return Ok(file);
            }
            // Garbage collection removed the execution while this process
            // waited for the lock: start it anew.
        }
        Err(Error::io(
            "claim",
            &path,
            std::io::Error::other(format!(
                "removed by garbage collection {CLAIM_ATTEMPTS} times in a row"
            )),
        ))
    }

    /// Creates the execution directory `name` in the root holding an owner
    /// file locked by this process, moved into place at once (so that no
    /// process ever sees it without its owner). `None` when it exists
    /// already. The root is never created again: if it was removed, this
    /// fails (see [`dirfd`](super::dirfd)).
    fn create_execution(&self, name: &str) -> Result<Option<File>> {
        let root = self.dir();
        let tmp = temp_name("exec-")?;
        root.mkdir(&tmp)
            .map_err(|e| root.create_error("create directory", &tmp, e.into()))?;
        let created = self.fill_execution(&tmp, name);
        if !matches!(created, Ok(Some(_))) {
            root.remove_all(&tmp).ok();
        }
        created
    }

    fn fill_execution(&self, tmp: &str, name: &str) -> Result<Option<File>> {
        let root = self.dir();
        let path = root.display(tmp).join(OWNER_FILE);
        let dir = root
            .subdir(tmp)
            .map_err(|e| Error::io("open directory", root.display(tmp), e))?;
        let mut file = dir
            .open_file(OWNER_FILE, OFlags::RDWR | OFlags::CREATE | OFlags::EXCL)
            .map_err(|e| Error::io("create", &path, e))?;
        lock(&file, libc::F_RDLCK, LIVE_BYTE, true).map_err(|e| Error::io("lock", &path, e))?;
        // For people looking at the store; liveness is the lock alone.
        writeln!(file, "{}", std::process::id()).map_err(|e| Error::io("write", &path, e))?;
        match root.rename_noreplace(tmp, name) {
            Ok(true) => Ok(Some(file)),
            Ok(false) => Ok(None),
            Err(e) => Err(Error::io("rename", root.display(name), e)),
        }
    }

    /// Removes every execution older than `ttl` that no live process owns,
    /// and reports each: removed, or why it could not be (the others are
    /// handled all the same).
    pub(crate) fn collect_orphans(&self, ttl: Duration) -> Result<Vec<Orphan>> {
        self.collect_orphans_with(ttl, |root, name| root.remove_all(name))
    }

    /// [`collect_orphans`](Self::collect_orphans), removing the execution
    /// directory `name` of the root with `remove`.
    fn collect_orphans_with(
        &self,
        ttl: Duration,
        remove: impl Fn(&StoreDir, &str) -> std::io::Result<()>,
    ) -> Result<Vec<Orphan>> {
        let root = self.dir();
        let now = SystemTime::now();
        let mut orphans = Vec::new();
        for (exec, started) in self.list_executions()? {
            let age = now.duration_since(started).unwrap_or_default();
            if age < ttl {
                continue;
            }
            let name = exec_name(&exec)?;
            let path = root.display(&name).join(OWNER_FILE);
            let report = |error: Error| Orphan {
                execution_id: hex::encode(&exec),
                age,
                bytes: root.size_of(&name),
                error: Some(error.to_string()),
            };
            let dir = match root.subdir(&name) {
                Ok(dir) => dir,
                // Removed meanwhile (by its owner, or another collector).
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => {
                    orphans.push(report(Error::io("open directory", root.display(&name), e)));
                    continue;
                }
            };
            // Held while the directory is removed: a process claiming it
            // meanwhile waits, then finds the owner file gone and starts anew.
            let _lock = match open_owner(&dir) {
                Ok(file) => match lock(&file, libc::F_WRLCK, LIVE_BYTE, false) {
                    Ok(true) => Some(file),
                    // A live owner holds it.
                    Ok(false) => continue,
                    Err(e) => {
                        orphans.push(report(Error::io("lock", &path, e)));
                        continue;
                    }
                },
                // No owner file: nothing can own it (half removed, or older).
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => {
                    orphans.push(report(Error::io("open", &path, e)));
                    continue;
                }
            };
            let bytes = root.size_of(&name);
            match remove(&root, &name) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    orphans.push(report(Error::io("remove", root.display(&name), e)));
                    continue;
                }
            }
            self.forget_next_ids(&name);
            orphans.push(Orphan {
                execution_id: hex::encode(&exec),
                age,
                bytes,
                error: None,
            });
        }
        self.collect_moved_aside(&root, now, ttl);
        Ok(orphans)
    }

    /// Removes directories of the root that a process moved aside (to clear
    /// an execution, or while making one) and did not finish with, as a
    /// process that died meanwhile leaves them, once they are `ttl` old and
    /// at least [`MOVED_ASIDE_MIN_AGE`] (a live process may be at work on a
    /// younger one). Best effort: such a tree holds no execution's state.
    fn collect_moved_aside(&self, root: &StoreDir, now: SystemTime, ttl: Duration) {
        let ttl = ttl.max(MOVED_ASIDE_MIN_AGE);
        let Ok(entries) = root.entries() else {
            return;
        };
        for (name, _) in entries {
            let Some(name) = name.to_str().filter(|n| n.starts_with(TMP_PREFIX)) else {
                continue;
            };
            let old = root.stat(name).is_ok_and(|st| {
                is_dir(&st) && now.duration_since(modified(&st)).unwrap_or_default() >= ttl
            });
            if old {
                root.remove_all(name).ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{test_store, BufferingStore};
    use std::fs;

    fn executions(store: &BufferingStore) -> Vec<Vec<u8>> {
        let mut ids: Vec<_> = store
            .list_executions()
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        ids.sort();
        ids
    }

    /// State an owner that died left: a directory whose owner file nobody locks.
    fn dead_execution(store: &BufferingStore, exec: &[u8]) {
        let dir = store.exec_dir(exec).unwrap();
        fs::create_dir_all(dir.join("log")).unwrap();
        fs::write(dir.join("log").join("x"), b"12345").unwrap();
        fs::write(dir.join(OWNER_FILE), "999999999\n").unwrap();
    }

    #[test]
    fn removes_old_state_of_dead_owners_only() {
        let (_dir, store) = test_store();
        dead_execution(&store, b"dead");
        store.claim(b"mine").unwrap();
        store.append(b"mine", b"n", b"k", b"x").unwrap();

        // Younger than the TTL: nothing goes.
        assert!(store
            .collect_orphans(Duration::from_secs(3600))
            .unwrap()
            .is_empty());
        // Old enough: the dead owner's state goes, this process's stays.
        let removed = store.collect_orphans(Duration::ZERO).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].execution_id, hex::encode(b"dead"));
        assert!(removed[0].bytes >= 5 && removed[0].error.is_none());
        assert_eq!(executions(&store), vec![b"mine".to_vec()]);
    }

    #[test]
    fn a_live_owner_is_known_by_its_lock_whatever_its_owner_file_says() {
        let (dir, store) = test_store();
        store.kv_put(b"live", b"k", b"v").unwrap();
        // The owner file emptied (or unreadable pid information): still live.
        fs::write(store.exec_dir(b"live").unwrap().join(OWNER_FILE), "").unwrap();
        // Another store on the same root (as another process would) collects.
        let other = BufferingStore::open(dir.path().join("root")).unwrap();
        assert!(other.collect_orphans(Duration::ZERO).unwrap().is_empty());
        assert_eq!(store.kv_get(b"live", b"k").unwrap().unwrap(), b"v");
        // Once its owner cleared it, nothing of it is left to collect...
        store.kv_put(b"gone", b"k", b"v").unwrap();
        store.clear(b"live").unwrap();
        assert_eq!(executions(&store), vec![b"gone".to_vec()]);
        // ... and a store that drops its claims leaves its state collectable.
        drop(store);
        let removed = other.collect_orphans(Duration::ZERO).unwrap();
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert!(executions(&other).is_empty());
    }

    #[test]
    fn the_first_write_claims_and_an_owner_of_many_processes_lives_while_one_does() {
        let (dir, store) = test_store();
        assert!(
            !store.exec_dir(b"e").unwrap().exists(),
            "nothing before the first write"
        );
        store.kv_put(b"e", b"k", b"v").unwrap();
        assert!(store.exec_dir(b"e").unwrap().join(OWNER_FILE).exists());
        let other = BufferingStore::open(dir.path().join("root")).unwrap();
        other.claim(b"e").unwrap();
        other.append(b"e", b"n", b"k", b"x").unwrap();
        let collector = BufferingStore::open(dir.path().join("root")).unwrap();
        drop(store);
        assert!(collector
            .collect_orphans(Duration::ZERO)
            .unwrap()
            .is_empty());
        drop(other);
        assert_eq!(collector.collect_orphans(Duration::ZERO).unwrap().len(), 1);
    }

    #[test]
    fn a_claim_after_collection_starts_the_execution_anew() {
        let (dir, store) = test_store();
        dead_execution(&store, b"e");
        let collector = BufferingStore::open(dir.path().join("root")).unwrap();
        assert_eq!(collector.collect_orphans(Duration::ZERO).unwrap().len(), 1);
        store.kv_put(b"e", b"k", b"v").unwrap();
        assert!(collector
            .collect_orphans(Duration::ZERO)
            .unwrap()
            .is_empty());
        assert_eq!(store.kv_get(b"e", b"k").unwrap().unwrap(), b"v");
        // A directory without an owner file gets one on its first claim.
        let bare = store.exec_dir(b"bare").unwrap();
        fs::create_dir_all(&bare).unwrap();
        store.kv_put(b"bare", b"k", b"v").unwrap();
        assert!(collector
            .collect_orphans(Duration::ZERO)
            .unwrap()
            .is_empty());
        assert!(bare.join(OWNER_FILE).exists());
    }

    #[test]
    fn collection_goes_on_past_an_orphan_it_cannot_remove_and_reports_it() {
        let (_dir, store) = test_store();
        for exec in [&b"o1"[..], b"o2", b"o3"] {
            dead_execution(&store, exec);
        }
        let stuck = store.exec_dir(b"o2").unwrap();
        let orphans = store
            .fs()
            .collect_orphans_with(Duration::ZERO, |root, name| {
                if root.display(name) == stuck {
                    Err(std::io::Error::from_raw_os_error(libc::EBUSY))
                } else {
                    root.remove_all(name)
                }
            })
            .unwrap();
        assert_eq!(orphans.len(), 3, "{orphans:?}");
        let errors: Vec<_> = orphans
            .iter()
            .filter_map(|o| {
                o.error
                    .as_ref()
                    .map(|e| (o.execution_id.clone(), e.clone()))
            })
            .collect();
        assert_eq!(errors.len(), 1, "{orphans:?}");
        assert_eq!(errors[0].0, hex::encode(b"o2"));
        assert!(
            errors[0].1.contains("remove") && errors[0].1.contains(&*stuck.to_string_lossy()),
            "{}",
            errors[0].1
        );
        assert_eq!(executions(&store), vec![b"o2".to_vec()]);
    }

    #[test]
    fn owned_here_or_orphaned_unless_another_live_process_took_it_over() {
        let (dir, store) = test_store();
        assert!(store.owned_here_or_orphaned(b"none").unwrap());
        // Opened (not taken over) here and written by another: nobody took it.
        store.kv_put(b"e", b"k", b"v").unwrap();
        let other = BufferingStore::open(dir.path().join("root")).unwrap();
        other.append(b"e", b"n", b"k", b"x").unwrap();
        assert!(store.owned_here_or_orphaned(b"e").unwrap());
        assert!(other.owned_here_or_orphaned(b"e").unwrap());
        // Taken over by `other` (as the extension takes a worker's execution).
        other.claim(b"e").unwrap();
        assert!(!store.owned_here_or_orphaned(b"e").unwrap());
        assert!(other.owned_here_or_orphaned(b"e").unwrap());
        let third = BufferingStore::open(dir.path().join("root")).unwrap();
        assert!(!third.owned_here_or_orphaned(b"e").unwrap());
        // The one that took it over is gone: orphaned.
        drop(other);
        assert!(store.owned_here_or_orphaned(b"e").unwrap());
        assert!(third.owned_here_or_orphaned(b"e").unwrap());
    }

    #[test]
    fn claims_of_executions_cleared_elsewhere_are_dropped() {
        let (dir, store) = test_store();
        let other = BufferingStore::open(dir.path().join("root")).unwrap();
        for i in 0..20u8 {
            let exec = [b'x', i];
            store.kv_put(&exec, b"k", b"v").unwrap();
            other.claim(&exec).unwrap();
            store.clear(&exec).unwrap();
        }
        other.claim(b"last").unwrap();
        assert!(
            other.fs().claimed().len() <= 2,
            "{}",
            other.fs().claimed().len()
        );
    }
}
