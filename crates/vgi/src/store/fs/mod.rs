//! The filesystem backend: logs and key-value entries in files under a
//! private root directory, shared by the processes that open the same root.
//!
//! The root is vetted once, when the store opens, and held open: every
//! operation goes through its directory descriptor, never its path (see
//! [`dirfd`]).

mod activity;
pub(crate) mod dirfd;
mod executions;
pub(crate) mod fsio;
mod gc;
mod kv;
mod log;
pub(crate) mod root;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub use gc::Orphan;

use super::paths::exec_name;
use crate::error::Result;

/// The filesystem state of a [`BufferingStore`](super::BufferingStore).
#[derive(Debug)]
pub(crate) struct FsStore {
    /// The root's path, as given to [`open`](FsStore::open).
    root: PathBuf,
    /// The root, held open since it was vetted (see [`FsStore::dir`]).
    dir: RwLock<Arc<dirfd::StoreDir>>,
    /// Next id to try per log directory (relative to the root), to avoid
    /// listing it on every append.
    next_ids: Mutex<HashMap<PathBuf, i64>>,
    /// Executions this process owns, each with its locked owner file (see
    /// [`claim`](FsStore::claim)).
    claimed: Mutex<HashMap<Vec<u8>, File>>,
    /// Executions other processes opened that this one serves calls of
    /// (see [`join`](FsStore::join)).
    joined: Mutex<HashSet<Vec<u8>>>,
}

impl FsStore {
    /// Opens (creating if needed, mode 0700) `root`, which must be a real
    /// directory owned by the current user with no group or other access.
    pub(crate) fn open(root: PathBuf) -> Result<Self> {
        Ok(FsStore {
            dir: RwLock::new(Arc::new(root::open_root(&root)?)),
            root,
            next_ids: Mutex::new(HashMap::new()),
            claimed: Mutex::default(),
            joined: Mutex::default(),
        })
    }

    /// The root directory's path.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Directory holding everything of execution `exec`, for error reports.
    pub(crate) fn exec_dir(&self, exec: &[u8]) -> Result<PathBuf> {
        Ok(self.root.join(exec_name(exec)?))
    }

    /// The root directory, held open. When it was removed (a temp cleaner
    /// takes an idle one) and this process owns no execution whose state
    /// went with it, the path is opened and vetted anew, as
    /// [`open`](FsStore::open) does: a replacement that another user
    /// made is refused, a missing root is created again. While an execution
    /// of this process is still open, the removed directory stays in use, so
    /// its writes fail (see [`dirfd`]) instead of starting over in a new
    /// root with part of its state.
    pub(crate) fn dir(&self) -> Arc<dirfd::StoreDir> {
        let current = self.dir.read().unwrap_or_else(|e| e.into_inner()).clone();
        if !current.root_removed() || !self.claimed().is_empty() {
            return current;
        }
        let mut dir = self.dir.write().unwrap_or_else(|e| e.into_inner());
        if !dir.root_removed() {
            return dir.clone();
        }
        match root::open_root(&self.root) {
            Ok(fresh) => {
                self.next_ids().clear();
                *dir = Arc::new(fresh);
            }
            Err(e) => dir.refused(e.to_string()),
        }
        dir.clone()
    }

    fn next_ids(&self) -> MutexGuard<'_, HashMap<PathBuf, i64>> {
        self.next_ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claimed(&self) -> MutexGuard<'_, HashMap<Vec<u8>, File>> {
        self.claimed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn joined(&self) -> MutexGuard<'_, HashSet<Vec<u8>>> {
        self.joined.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod removed_root_tests {
    use crate::store::test_store;

    #[test]
    fn a_removed_root_is_made_anew_once_no_execution_of_this_process_is_open() {
        let (dir, store) = test_store();
        let root = dir.path().join("root");
        store.claim(b"open").unwrap();
        store.append(b"open", b"n", b"k", b"before").unwrap();
        // A temp cleaner removes the root, state and all.
        std::fs::remove_dir_all(&root).unwrap();
        for result in [
            store.append(b"open", b"n", b"k", b"after").map(drop),
            store.kv_put(b"new", b"k", b"v"),
        ] {
            let err = result.expect_err("an execution of this process lost its state");
            assert!(
                err.to_string().contains("removed while the store was open")
                    && err
                        .to_string()
                        .contains("executions of this process were open"),
                "{err}"
            );
        }
        assert!(!root.exists(), "nothing re-created the root meanwhile");
        store.clear(b"open").unwrap();
        // No execution is left: the next write vets and uses a new root.
        store.kv_put(b"new", b"k", b"v").unwrap();
        assert_eq!(
            store.kv_get(b"new", b"k").unwrap().as_deref(),
            Some(&b"v"[..])
        );
        let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&root).unwrap());
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(
            store.list_executions().unwrap().len(),
            1,
            "the new root holds the new execution only"
        );
    }
}

/// A root another user removes and re-creates while the store is open. These
/// tests act as uid 65534 with `setpriv`, which needs root.
#[cfg(test)]
mod replaced_root_tests {
    use super::root;
    use crate::error::Result;
    use crate::store::BufferingStore;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// The other user.
    const OTHER: u32 = 65534;

    /// A temporary directory in which uid 65534 may create entries (mode
    /// 01777), or `None`, with a line saying why, when this process cannot
    /// act as another user.
    fn shared_parent() -> Option<tempfile::TempDir> {
        if root::current_uid() != 0 {
            eprintln!("skipped: acting as uid {OTHER} with setpriv needs uid 0 (root)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        Some(dir)
    }

    /// Creates the directory `path`, mode 0777, as uid 65534; whether it could.
    fn mkdir_as_other(path: &Path) -> bool {
        Command::new("setpriv")
            .args([
                &format!("--reuid={OTHER}"),
                &format!("--regid={OTHER}"),
                "--clear-groups",
                "mkdir",
                "-m",
                "0777",
            ])
            .arg(path)
            .status()
            .expect("run setpriv")
            .success()
    }

    /// Everything below `dir`, for failure messages.
    fn contents(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap().flatten() {
            out.push(entry.path());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(contents(&entry.path()));
            }
        }
        out
    }

    #[test]
    fn a_root_removed_and_recreated_by_another_user_is_never_written_into() {
        let Some(parent) = shared_parent() else {
            return;
        };
        let path = parent.path().join("root");
        let store = BufferingStore::open(path.clone()).unwrap();
        store.append(b"before", b"n", b"k", b"v").unwrap();
        store.kv_put(b"before", b"k", b"v").unwrap();

        // A temp cleaner removes the root; another user re-creates it, open to all.
        fs::remove_dir_all(&path).unwrap();
        assert!(mkdir_as_other(&path), "setpriv mkdir {}", path.display());
        assert_eq!(fs::metadata(&path).unwrap().uid(), OTHER);

        store.keep_in_memory(b"mem", 0);
        let attempts: Vec<(&str, Result<()>)> = vec![
            (
                "append to a claimed execution",
                store.append(b"before", b"n", b"k", b"after").map(drop),
            ),
            (
                "kv_put to a claimed execution",
                store.kv_put(b"before", b"k", b"w"),
            ),
            (
                "append to a new execution",
                store.append(b"new", b"n", b"k", b"v").map(drop),
            ),
            (
                "kv_put to a new execution",
                store.kv_put(b"new2", b"k", b"v"),
            ),
            ("claim a new execution", store.claim(b"claimed")),
            (
                "spill from the memory tier",
                store.append(b"mem", b"n", b"k", b"v").map(drop),
            ),
        ];
        for (what, result) in attempts {
            // Nothing can be created in the removed directory the store
            // vetted, so each write fails, saying why.
            let err = result.expect_err(what);
            assert!(
                matches!(err, crate::Error::UnsafeRoot { .. })
                    && err.to_string().contains("removed while the store was open")
                    && err.to_string().contains(&*path.to_string_lossy()),
                "{what}: {err}"
            );
        }
        // Reads and garbage collection find nothing, and touch nothing.
        assert_eq!(store.kv_get(b"before", b"k").unwrap(), None);
        assert!(store
            .scan(b"before", b"n", b"k", -1, 10)
            .unwrap()
            .is_empty());
        assert!(store.list_executions().unwrap().is_empty());
        assert!(store.collect_orphans(Duration::ZERO).unwrap().is_empty());
        store.clear(b"before").unwrap();

        assert!(contents(&path).is_empty(), "{:?}", contents(&path));
        // With no execution of this process left, the store vets the path
        // anew, and refuses the replacement.
        let err = store.append(b"later", b"n", b"k", b"v").unwrap_err();
        assert!(
            err.to_string().contains("was refused")
                && err.to_string().contains(&format!("uid {OTHER}")),
            "{err}"
        );
        assert!(contents(&path).is_empty(), "{:?}", contents(&path));
        // Opening the store anew vets the path, and refuses the replacement.
        let err = BufferingStore::open(path.clone()).unwrap_err();
        assert!(err.to_string().contains(&format!("uid {OTHER}")), "{err}");
        assert!(contents(&path).is_empty(), "{:?}", contents(&path));
    }

    #[test]
    fn a_root_raced_by_another_user_keeps_every_write_in_the_vetted_directory() {
        let Some(parent) = shared_parent() else {
            return;
        };
        /// Times the root path is emptied and re-created by the other user.
        const ROUNDS: usize = 20;
        /// Writes at least, and at most (the writer goes on while the racer does).
        const MIN_WRITES: usize = 50;
        const MAX_WRITES: usize = 20_000;

        let path = parent.path().join("root");
        let aside = parent.path().join("aside");
        fs::create_dir(&aside).unwrap();
        let store = BufferingStore::open(path.clone()).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let racer = {
            let (path, aside, done) = (path.clone(), aside.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    // Whatever is at the path goes aside, kept for inspection:
                    // first the root the store vetted, then each replacement.
                    fs::rename(&path, aside.join(round.to_string())).ok();
                    mkdir_as_other(&path);
                }
                done.store(true, Ordering::Release);
            })
        };
        let mut written = 0usize;
        for i in 0..MAX_WRITES {
            if i >= MIN_WRITES && done.load(Ordering::Acquire) {
                break;
            }
            // A new execution every 25 writes: created in the root meanwhile.
            let exec = format!("exec{}", i / 25);
            store
                .append(exec.as_bytes(), b"n", b"k", i.to_le_bytes())
                .unwrap();
            if i % 5 == 0 {
                store.kv_put(exec.as_bytes(), b"k", b"v").unwrap();
            }
            written += 1;
        }
        racer.join().unwrap();

        // Every write went to the directory the store vetted, moved aside
        // first, and reads back through the store.
        let mut read = 0;
        for i in 0..written.div_ceil(25) {
            let exec = format!("exec{i}");
            read += store
                .scan(exec.as_bytes(), b"n", b"k", -1, 100)
                .unwrap()
                .len();
            assert_eq!(store.kv_get(exec.as_bytes(), b"k").unwrap().unwrap(), b"v");
        }
        assert_eq!(read, written);
        assert!(!contents(&aside.join("0")).is_empty());
        // Nothing of ours in any replacement.
        let replacements = (1..ROUNDS)
            .map(|round| aside.join(round.to_string()))
            .chain([path.clone()]);
        for dir in replacements {
            if dir.exists() {
                assert!(
                    contents(&dir).is_empty(),
                    "{}: {:?}",
                    dir.display(),
                    contents(&dir)
                );
            }
        }
    }
}
