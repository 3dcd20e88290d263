//! Cross-process filesystem store holding buffering state between the sink
//! and source phases of a function, keyed by execution id.
//!
//! Workers in different processes may share one root; every operation is
//! safe under concurrent use and every failure is reported with its path.
//! The root is vetted once, when the store opens, and held open: every
//! operation goes through its directory descriptor, never its path (see
//! [`dirfd`]).

mod activity;
mod dirfd;
mod executions;
mod frame;
mod fsio;
mod gc;
mod kv;
mod log;
mod memory;
mod paths;
mod random;
mod root;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub use gc::Orphan;
pub use memory::{
    memory_budget, LogEntry, DEFAULT_MEMORY_BUDGET, MEMORY_BUDGET_SETTING, MEMORY_LIMIT_SETTING,
};
pub use root::default_root;

use crate::sdk::error::Result;

/// Append logs and key-value entries under a private root
/// directory (see [`default_root`]), scoped by execution id.
#[derive(Debug)]
pub struct BufferingStore {
    /// The root, held open since it was vetted.
    dir: dirfd::StoreDir,
    /// Next id to try per log directory (relative to the root), to avoid
    /// listing it on every append.
    next_ids: Mutex<HashMap<PathBuf, i64>>,
    /// Executions this process owns, each with its locked owner file (see
    /// [`claim`](BufferingStore::claim)).
    claimed: Mutex<HashMap<Vec<u8>, File>>,
    /// Executions whose state is kept in memory (see [`BufferingStore::keep_in_memory`]).
    memory: memory::MemoryTier,
}

impl BufferingStore {
    /// Open (creating if needed) the [`default_root`].
    pub fn new() -> Result<Self> {
        Self::open(default_root())
    }

    /// Open (creating if needed, mode 0700) `root`, which must be a real
    /// directory owned by the current user with no group or other access.
    /// The store keeps to the directory it opened: should `root` be removed
    /// later, writes fail rather than go to whatever is at its path then
    /// (see [`dirfd`]).
    pub fn open(root: PathBuf) -> Result<Self> {
        Ok(BufferingStore {
            dir: root::open_root(&root)?,
            next_ids: Mutex::new(HashMap::new()),
            claimed: Mutex::default(),
            memory: memory::MemoryTier::default(),
        })
    }

    /// The root directory's path (where it was when the store opened).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The root directory, held open.
    pub(crate) fn dir(&self) -> &dirfd::StoreDir {
        &self.dir
    }

    fn next_ids(&self) -> MutexGuard<'_, HashMap<PathBuf, i64>> {
        self.next_ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claimed(&self) -> MutexGuard<'_, HashMap<Vec<u8>, File>> {
        self.claimed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fresh execution id: 16 bytes from the OS random source (an error if
/// that fails).
pub fn new_execution_id() -> Result<Vec<u8>> {
    Ok(random::random_bytes::<16>()?.to_vec())
}

/// A store in a fresh temporary directory (kept alive by the returned guard).
#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, std::sync::Arc<BufferingStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = BufferingStore::open(dir.path().join("root")).unwrap();
    (dir, std::sync::Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_ids_are_random() {
        let a = new_execution_id().unwrap();
        assert_eq!(a.len(), 16);
        assert_ne!(a, new_execution_id().unwrap());
    }

    #[test]
    fn open_reports_unsafe_root() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        BufferingStore::open(real.clone()).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = BufferingStore::open(link).unwrap_err();
        assert!(matches!(err, crate::Error::UnsafeRoot { .. }), "{err}");
    }

    #[test]
    fn default_root_is_usable() {
        let store = BufferingStore::new().unwrap();
        assert_eq!(store.root(), default_root());
    }
}
