//! Cross-process filesystem store holding buffering state between the sink
//! and source phases of a function, keyed by execution id.
//!
//! Workers in different processes may share one root; every operation is
//! safe under concurrent use and every failure is reported with its path.

mod activity;
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
    root: PathBuf,
    /// Next id to try per log directory, to avoid listing it on every append.
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
    pub fn open(root: PathBuf) -> Result<Self> {
        root::prepare_root(&root)?;
        Ok(BufferingStore {
            root,
            next_ids: Mutex::new(HashMap::new()),
            claimed: Mutex::default(),
            memory: memory::MemoryTier::default(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
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
