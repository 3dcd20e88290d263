//! Cross-process store holding buffering state between the sink and source
//! phases of a function, keyed by execution id.
//!
//! [`BufferingStore`] is the facade: it keeps executions of the memory tier
//! itself ([`keep_in_memory`](BufferingStore::keep_in_memory)) and hands
//! everything else to its backend: a private directory ([`fs`]) shared by
//! the processes of one machine, or (feature `object-store`) a prefix of an
//! S3 bucket shared by any number of machines. Workers in different processes may share
//! one store; every operation is safe under concurrent use and every
//! failure is reported with its location.

mod frame;
mod fs;
mod memory;
#[cfg(feature = "object-store")]
mod object;
mod ops;
pub(crate) mod paths;
pub(crate) mod random;

use std::path::{Path, PathBuf};

pub use fs::root::default_root;
pub use fs::Orphan;
pub use memory::LogEntry;
#[cfg(feature = "object-store")]
pub use object::S3Options;

use crate::error::Result;

/// Where a store keeps what is not in its memory tier.
#[derive(Debug)]
enum Backend {
    /// Files under a private root directory.
    Fs(fs::FsStore),
    /// Objects under a prefix of an S3 bucket.
    #[cfg(feature = "object-store")]
    Object(object::ObjectBackend),
}

/// Append logs and key-value entries under a private root
/// directory (see [`default_root`]), scoped by execution id.
#[derive(Debug)]
pub struct BufferingStore {
    /// Where state outside the memory tier goes.
    backend: Backend,
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
    /// later, writes fail rather than go to whatever is at its path then,
    /// until no execution of this process is left.
    pub fn open(root: PathBuf) -> Result<Self> {
        Ok(BufferingStore {
            backend: Backend::Fs(fs::FsStore::open(root)?),
            memory: memory::MemoryTier::default(),
        })
    }

    /// Open the store at `url`, `s3://bucket/prefix`, reached with
    /// `options`. Checks that the bucket can be written and that the server
    /// refuses to create an object that exists (conditional create), else
    /// fails saying so. Nothing in memory is shared with other stores: the
    /// objects are the state.
    #[cfg(feature = "object-store")]
    pub fn open_s3(url: &str, options: &S3Options) -> Result<Self> {
        Ok(BufferingStore {
            backend: Backend::Object(object::ObjectBackend::open(url, options)?),
            memory: memory::MemoryTier::default(),
        })
    }

    /// The root directory's path; for a store on object storage, its URL.
    pub fn root(&self) -> &Path {
        match &self.backend {
            Backend::Fs(fs) => fs.root(),
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.root(),
        }
    }

    /// The filesystem backend, for its tests.
    #[cfg(test)]
    fn fs(&self) -> &fs::FsStore {
        match &self.backend {
            Backend::Fs(fs) => fs,
            #[cfg(feature = "object-store")]
            Backend::Object(_) => panic!("not a filesystem store"),
        }
    }
}

/// A fresh execution id: 16 bytes from the OS random source (an error if
/// that fails).
pub fn new_execution_id() -> Result<Vec<u8>> {
    Ok(random::random_bytes::<16>()?.to_vec())
}

/// A store in a fresh temporary directory (kept alive by the returned guard).
/// Outside this crate's own tests, with the `test-util` feature.
#[cfg(any(test, feature = "test-util"))]
pub fn test_store() -> (tempfile::TempDir, std::sync::Arc<BufferingStore>) {
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
