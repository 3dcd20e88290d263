//! Orphaned state: executions whose process died mid-query (a killed DuckDB
//! or worker) leave their directory behind; it is removed once it is older
//! than a time to live and its owner process is gone.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::paths::hex;
use super::BufferingStore;
use crate::sdk::error::{Error, Result};

/// The file in an execution's directory that names its owner process.
const OWNER_FILE: &str = "owner";

/// An execution removed by [`BufferingStore::collect_orphans`].
#[derive(Debug, Clone, PartialEq)]
pub struct Orphan {
    /// The execution id, hex-encoded.
    pub execution_id: String,
    /// How long ago the execution started.
    pub age: Duration,
    /// Bytes of state removed.
    pub bytes: u64,
}

/// This process as `pid start-time`: the start time (clock ticks since boot,
/// from /proc) tells a live process from a later one that reused the pid.
fn process_identity(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let start = rest.split(' ').nth(19)?;
    Some(format!("{pid} {start}"))
}

/// Whether the process an owner file names is still running.
fn owner_alive(owner: &str) -> bool {
    let Some(pid) = owner.split(' ').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    process_identity(pid).as_deref() == Some(owner.trim())
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

impl BufferingStore {
    /// Records this process as the owner of `exec`, so that garbage
    /// collection in another process leaves it alone while it runs.
    pub fn claim(&self, exec: &[u8]) -> Result<()> {
        self.write_owner(exec, true)
    }

    /// Creates the directory of `exec` with this process as its owner, unless
    /// this process already did or another process owns it. Called before the
    /// first write of an execution, so that one that writes nothing (its state
    /// fits in its ids) leaves no trace in the file system.
    pub(crate) fn ensure_claimed(&self, exec: &[u8]) -> Result<()> {
        if self.claimed().contains(exec) {
            return Ok(());
        }
        self.write_owner(exec, false)
    }

    fn write_owner(&self, exec: &[u8], replace: bool) -> Result<()> {
        let dir = self.exec_dir(exec)?;
        super::fsio::create_dir(&dir)?;
        let owner = process_identity(std::process::id()).unwrap_or_default();
        let path = dir.join(OWNER_FILE);
        let written = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .create(replace)
            .create_new(!replace)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, owner.as_bytes()));
        match written {
            Ok(()) => {}
            Err(e) if !replace && e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("write", &path, e)),
        }
        self.claimed().insert(exec.to_vec());
        Ok(())
    }

    /// Whether `exec` is owned by this process, or by no process that still
    /// runs (its owner died, or it has no owner file).
    pub fn owned_here_or_orphaned(&self, exec: &[u8]) -> Result<bool> {
        let path = self.exec_dir(exec)?.join(OWNER_FILE);
        let owner = match fs::read_to_string(&path) {
            Ok(owner) => owner,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let me = process_identity(std::process::id()).unwrap_or_default();
        Ok(owner.trim() == me || !owner_alive(&owner))
    }

    /// Removes every execution older than `ttl` whose owner process is gone
    /// (or unknown), and reports what it removed.
    pub fn collect_orphans(&self, ttl: Duration) -> Result<Vec<Orphan>> {
        let now = SystemTime::now();
        let mut removed = Vec::new();
        for (exec, started) in self.list_executions()? {
            let age = now.duration_since(started).unwrap_or_default();
            if age < ttl {
                continue;
            }
            let dir = self.exec_dir(&exec)?;
            let owner = fs::read_to_string(dir.join(OWNER_FILE)).unwrap_or_default();
            if owner_alive(&owner) {
                continue;
            }
            let bytes = dir_size(&dir);
            self.clear(&exec)?;
            removed.push(Orphan {
                execution_id: hex(&exec),
                age,
                bytes,
            });
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[test]
    fn removes_old_state_of_dead_owners_only() {
        let (_dir, store) = test_store();
        store.append(b"dead", b"n", b"k", b"12345").unwrap();
        store.claim(b"mine").unwrap();
        store.append(b"mine", b"n", b"k", b"x").unwrap();
        let dead_owner = store.exec_dir(b"dead").unwrap().join(OWNER_FILE);
        fs::write(&dead_owner, "999999999 1").unwrap();

        // Younger than the TTL: nothing goes.
        assert!(store
            .collect_orphans(Duration::from_secs(3600))
            .unwrap()
            .is_empty());
        // Old enough: the dead owner's state goes, this process's stays.
        let removed = store.collect_orphans(Duration::ZERO).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].execution_id, hex(b"dead"));
        assert!(removed[0].bytes >= 5);
        let left: Vec<_> = store
            .list_executions()
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(left, vec![b"mine".to_vec()]);
    }

    #[test]
    fn the_first_write_claims_and_claim_takes_over() {
        let (dir, store) = test_store();
        let owner =
            |exec: &[u8]| fs::read_to_string(store.exec_dir(exec).unwrap().join(OWNER_FILE));
        let me = process_identity(std::process::id()).unwrap();
        assert!(
            !store.exec_dir(b"e").unwrap().exists(),
            "nothing before the first write"
        );
        store.kv_put(b"e", b"k", b"v").unwrap();
        assert_eq!(owner(b"e").unwrap(), me);

        // Another process's first write leaves an existing owner alone ...
        fs::write(store.exec_dir(b"e").unwrap().join(OWNER_FILE), "1 2").unwrap();
        let other = BufferingStore::open(dir.path().join("root")).unwrap();
        other.append(b"e", b"n", b"k", b"x").unwrap();
        assert_eq!(owner(b"e").unwrap(), "1 2");
        // ... and an explicit claim takes the execution over.
        other.claim(b"e").unwrap();
        assert_eq!(owner(b"e").unwrap(), me);
        store.clear(b"e").unwrap();
        assert!(!store.exec_dir(b"e").unwrap().exists());
    }

    #[test]
    fn owned_here_or_orphaned() {
        let (_dir, store) = test_store();
        assert!(store.owned_here_or_orphaned(b"none").unwrap());
        store.kv_put(b"e", b"k", b"v").unwrap();
        assert!(store.owned_here_or_orphaned(b"e").unwrap());
        let owner = store.exec_dir(b"e").unwrap().join(OWNER_FILE);
        fs::write(&owner, "999999999 1").unwrap();
        assert!(store.owned_here_or_orphaned(b"e").unwrap(), "a dead owner");
        let parent = std::os::unix::process::parent_id();
        fs::write(&owner, process_identity(parent).unwrap()).unwrap();
        assert!(!store.owned_here_or_orphaned(b"e").unwrap(), "a live owner");
    }

    #[test]
    fn this_process_is_alive_and_garbage_is_not() {
        let me = process_identity(std::process::id()).unwrap();
        assert!(owner_alive(&me));
        assert!(!owner_alive(""));
        assert!(!owner_alive("not a pid"));
        assert!(!owner_alive(&format!("{} 0", std::process::id())));
    }
}
