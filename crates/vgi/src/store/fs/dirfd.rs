//! Directories of the store held open, and the operations on their entries.
//!
//! The store vets its root once, when it opens ([`root::open_root`]), and
//! from then on holds it as a directory descriptor: every operation goes
//! through a [`StoreDir`] with `*at` calls relative to it, never through the
//! root's path again. Directories below the root are opened (and created,
//! mode 0700) one component at a time with `O_NOFOLLOW`, and entries are
//! opened, inspected, renamed and removed without following symbolic links,
//! so nothing the store does leaves the directory tree it vetted.
//!
//! A root that is moved or removed while the store is open is not followed
//! by path: the store keeps to the directory it vetted. Moved, that
//! directory goes on working where it now is. Removed (by a temp cleaner,
//! say), nothing can be created in it any more, so the writes of the
//! executions that were open in it fail, with [`Error::UnsafeRoot`] saying
//! that the root was removed while the store was open: they lost state, and
//! must not go on with part of it. Once none is left, the store vets the
//! path anew, as [`BufferingStore::open`](crate::store::BufferingStore::open) does
//! (see `FsStore::dir`): it makes a missing root again (mode 0700)
//! and refuses one that another user made or opened to others, which is
//! never written into.
//!
//! [`root::open_root`]: super::root::open_root

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Flags of every directory the store opens.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Mode of every directory the store creates.
const DIR_MODE: Mode = Mode::RWXU;

/// Mode of every file the store creates.
const FILE_MODE: Mode = Mode::RUSR.union(Mode::WUSR);

/// An open directory of the store: the root or one below it.
#[derive(Debug)]
pub(crate) struct StoreDir {
    fd: OwnedFd,
    /// Where the directory was when it was opened, for error reports only.
    path: PathBuf,
    /// Whether this is the store root (see [`StoreDir::root_removed`]).
    is_root: bool,
    /// Why the directory at the root's path was refused after this root
    /// was removed (see [`StoreDir::refused`]).
    refusal: std::sync::Mutex<Option<String>>,
}

impl StoreDir {
    /// The store root, opened and vetted at `path` by
    /// [`open_root`](super::root::open_root).
    pub(crate) fn root(fd: OwnedFd, path: PathBuf) -> StoreDir {
        StoreDir {
            fd,
            path,
            is_root: true,
            refusal: Default::default(),
        }
    }

    /// Where the directory was when it was opened.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `rel` below this directory, for error reports.
    pub(crate) fn display(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// The directory `rel` below this one (relative, plain names only), or
    /// `None` when it (or a directory on the way) does not exist.
    pub(crate) fn open_dir(&self, rel: impl AsRef<Path>) -> Result<Option<StoreDir>> {
        let rel = rel.as_ref();
        let mut dir: Option<StoreDir> = None;
        for name in components(rel)? {
            let parent = dir.as_ref().unwrap_or(self);
            match parent.subdir(name) {
                Ok(sub) => dir = Some(sub),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io("open directory", parent.display(name), e)),
            }
        }
        match dir {
            Some(dir) => Ok(Some(dir)),
            None => self.try_clone().map(Some),
        }
    }

    /// The directory `rel` below this one, creating each missing directory
    /// on the way (mode 0700) but the first, an execution's, which must exist
    /// ([`Error::Ended`] otherwise).
    pub(crate) fn create_dirs(&self, rel: impl AsRef<Path>) -> Result<StoreDir> {
        let rel = rel.as_ref();
        let mut dir: Option<StoreDir> = None;
        for (i, name) in components(rel)?.into_iter().enumerate() {
            let parent = dir.as_ref().unwrap_or(self);
            let sub = match parent.subdir(name) {
                // The first directory (an execution's) is never made here:
                // gone, it was cleared, and a write must not bring it back.
                Err(e) if e.kind() == ErrorKind::NotFound && i == 0 && !parent.root_removed() => {
                    return Err(Error::Ended {
                        path: parent.display(name),
                    })
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    match parent.mkdir(name) {
                        // Created meanwhile by another thread or process.
                        Ok(()) | Err(Errno::EXIST) => parent.subdir(name),
                        Err(e) => Err(e.into()),
                    }
                }
                opened => opened,
            };
            let sub = sub.map_err(|e| parent.create_error("create directory", name, e))?;
            dir = Some(sub);
        }
        match dir {
            Some(dir) => Ok(dir),
            None => self.try_clone(),
        }
    }

    /// The error of creating `name` here, which says so when the reason is
    /// that this is the store root and it was removed.
    pub(crate) fn create_error(
        &self,
        op: &'static str,
        name: impl AsRef<Path>,
        e: io::Error,
    ) -> Error {
        if e.kind() == ErrorKind::NotFound && self.root_removed() {
            let now = match &*self.refusal.lock().unwrap_or_else(|e| e.into_inner()) {
                Some(refusal) => format!("the directory at its path now was refused: {refusal}"),
                None => "executions of this process were open in it, and they fail rather \
                         than go on with part of their state; the root is opened anew once \
                         they ended"
                    .into(),
            };
            return Error::UnsafeRoot {
                path: self.path.clone(),
                reason: format!(
                    "it was removed while the store was open, and the store never writes \
                     into a directory made at the same path unvetted; {now}"
                ),
            };
        }
        Error::io(op, self.display(name), e)
    }

    /// Records why the directory at this removed root's path was refused,
    /// for the errors of later writes.
    pub(crate) fn refused(&self, reason: String) {
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// Whether this is the store root and it has been removed (nothing can
    /// be created in it any more).
    pub(crate) fn root_removed(&self) -> bool {
        self.is_root && rustix::fs::fstat(&self.fd).is_ok_and(|st| st.st_nlink == 0)
    }

    /// The directory `name` in this one (not following a symbolic link).
    pub(crate) fn subdir(&self, name: impl AsRef<Path>) -> io::Result<StoreDir> {
        let name = name.as_ref();
        self.subdir_raw(name)
            .map_err(|e| self.explain_link(name, e))
    }

    fn subdir_raw(&self, name: &Path) -> std::result::Result<StoreDir, Errno> {
        debug_assert!(is_plain(name), "{}", name.display());
        let fd = rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty())?;
        Ok(StoreDir {
            fd,
            path: self.display(name),
            is_root: false,
            refusal: Default::default(),
        })
    }

    /// Creates the directory `name` (mode 0700).
    pub(crate) fn mkdir(&self, name: impl AsRef<Path>) -> std::result::Result<(), Errno> {
        let name = name.as_ref();
        debug_assert!(is_plain(name), "{}", name.display());
        rustix::fs::mkdirat(&self.fd, name, DIR_MODE)
    }

    /// Opens the file `name` with `flags` (and mode 0600 when it is
    /// created), never following a symbolic link.
    pub(crate) fn open_file(&self, name: impl AsRef<Path>, flags: OFlags) -> io::Result<File> {
        let name = name.as_ref();
        debug_assert!(is_plain(name), "{}", name.display());
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, FILE_MODE) {
            Ok(fd) => Ok(File::from(fd)),
            Err(e) => Err(self.explain_link(name, e)),
        }
    }

    /// The status of the entry `name` itself (a symbolic link is not followed).
    pub(crate) fn stat(&self, name: impl AsRef<Path>) -> io::Result<Stat> {
        let name = name.as_ref();
        debug_assert!(is_plain(name), "{}", name.display());
        Ok(rustix::fs::statat(
            &self.fd,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Moves the entry `from` to `to`, both in this directory, replacing `to`.
    pub(crate) fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
        let (from, to) = (from.as_ref(), to.as_ref());
        debug_assert!(is_plain(from) && is_plain(to));
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Moves the entry `from` to `to`, both in this directory, unless `to`
    /// exists: `Ok(false)`, leaving `from` in place. A file is moved by
    /// `renameat2(RENAME_NOREPLACE)`, or where the file system lacks it by a
    /// hard link followed by removing `from`; a directory (never empty) by
    /// `renameat2` or else `rename`, which replaces only empty directories.
    pub(crate) fn rename_noreplace(
        &self,
        from: impl AsRef<Path>,
        to: impl AsRef<Path>,
    ) -> io::Result<bool> {
        let (from, to) = (from.as_ref(), to.as_ref());
        debug_assert!(is_plain(from) && is_plain(to));
        #[cfg(any(target_os = "linux", target_os = "android"))]
        match rustix::fs::renameat_with(
            &self.fd,
            from,
            &self.fd,
            to,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => return Ok(true),
            Err(Errno::EXIST) => return Ok(false),
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
            Err(e) => return Err(e.into()),
        }
        if self.stat(from).is_ok_and(|st| is_dir(&st)) {
            return match rustix::fs::renameat(&self.fd, from, &self.fd, to) {
                Ok(()) => Ok(true),
                Err(Errno::NOTEMPTY | Errno::EXIST) => Ok(false),
                Err(e) => Err(e.into()),
            };
        }
        match rustix::fs::linkat(&self.fd, from, &self.fd, to, AtFlags::empty()) {
            Ok(()) => {
                self.unlink(from).ok();
                Ok(true)
            }
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the file (or symbolic link) `name`.
    pub(crate) fn unlink(&self, name: impl AsRef<Path>) -> io::Result<()> {
        let name = name.as_ref();
        debug_assert!(is_plain(name), "{}", name.display());
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// Removes the entry `name` and, if it is a directory, everything in it.
    /// Symbolic links are removed, never followed; entries that vanish
    /// meanwhile are skipped, but `name` itself missing is `NotFound`.
    pub(crate) fn remove_all(&self, name: impl AsRef<Path>) -> io::Result<()> {
        let name = name.as_ref();
        let dir = match self.subdir_raw(name) {
            Ok(dir) => dir,
            // A file or a symbolic link.
            Err(Errno::NOTDIR | Errno::LOOP) => return self.unlink(name),
            Err(e) => return Err(e.into()),
        };
        for (entry, file_type) in dir.entries()? {
            let removed = if file_type == FileType::Directory {
                dir.remove_all(&entry)
            } else {
                match dir.unlink(&entry) {
                    Err(e) if e.raw_os_error() == Some(libc::EISDIR) => dir.remove_all(&entry),
                    other => other,
                }
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The names in this directory with their types (`Unknown` where the
    /// file system does not tell), without `.` and `..`. A directory removed
    /// while it is read has no (more) entries.
    pub(crate) fn entries(&self) -> io::Result<Vec<(OsString, FileType)>> {
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name != "." && name != ".." {
                out.push((name.to_os_string(), entry.file_type()));
            }
        }
        Ok(out)
    }

    /// Bytes in the files of the directory `name` and below (best effort:
    /// what cannot be inspected counts 0).
    pub(crate) fn size_of(&self, name: impl AsRef<Path>) -> u64 {
        let Ok(dir) = self.subdir(name) else {
            return 0;
        };
        let Ok(entries) = dir.entries() else {
            return 0;
        };
        entries
            .into_iter()
            .map(|(entry, _)| match dir.stat(&entry) {
                Ok(st) if is_dir(&st) => dir.size_of(&entry),
                Ok(st) => u64::try_from(st.st_size).unwrap_or(0),
                Err(_) => 0,
            })
            .sum()
    }

    fn try_clone(&self) -> Result<StoreDir> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::io("open directory", &self.path, e))?;
        Ok(StoreDir {
            fd,
            path: self.path.clone(),
            is_root: self.is_root,
            refusal: Default::default(),
        })
    }

    /// `e` from opening `name`, saying so when `name` is a symbolic link
    /// (which `O_NOFOLLOW` reports as `ELOOP`, or `ENOTDIR` for a directory).
    fn explain_link(&self, name: &Path, e: Errno) -> io::Error {
        let is_link = matches!(e, Errno::LOOP | Errno::NOTDIR)
            && self
                .stat(name)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
        let e = io::Error::from(e);
        if is_link {
            io::Error::new(
                e.kind(),
                format!("{e}: a symbolic link, which the store never follows below its root"),
            )
        } else {
            e
        }
    }
}

/// Whether `name` is one plain file name (no separator, not `.` or `..`).
fn is_plain(name: &Path) -> bool {
    let mut parts = name.components();
    matches!(parts.next(), Some(Component::Normal(_))) && parts.next().is_none()
}

/// The names of the relative path `rel`, which may hold nothing else.
fn components(rel: &Path) -> Result<Vec<&OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(Error::InvalidArgument(format!(
                "store path {} is not relative to the store root",
                rel.display()
            ))),
        })
        .collect()
}

/// The modification time in `st`.
// The field types differ between architectures.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn modified(st: &Stat) -> SystemTime {
    let secs = st.st_mtime as i64;
    let nanos = Duration::from_nanos(st.st_mtime_nsec as u64);
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nanos
    }
}

/// Whether `st` is a directory.
pub(crate) fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

#[cfg(test)]
mod tests {
    use crate::store::test_store;
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn symlinks_planted_below_the_root_are_never_followed() {
        let (_dir, store) = test_store();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep"), b"outside").unwrap();
        let untouched = |what: &str| {
            assert_eq!(names(outside.path()), ["keep"], "{what}");
            assert_eq!(fs::read(outside.path().join("keep")).unwrap(), b"outside");
        };

        // An execution's log directory replaced by a link to a directory outside.
        store.append(b"e", b"n", b"k", b"v").unwrap();
        let exec = store.exec_dir(b"e").unwrap();
        let log = exec.join("log");
        fs::remove_dir_all(&log).unwrap();
        symlink(outside.path(), &log).unwrap();
        let err = store
            .append(b"e", b"n", b"k", b"w")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("symbolic link") && err.contains(&*log.to_string_lossy()),
            "{err}"
        );
        assert!(store.scan(b"e", b"n", b"k", -1, 10).is_err());
        untouched("log link");

        // Its key-value directory, then one entry, replaced by links.
        let kv = exec.join("kv");
        symlink(outside.path(), &kv).unwrap();
        assert!(store.kv_put(b"e", b"k", b"v").is_err());
        assert!(store.kv_get(b"e", b"k").is_err());
        assert!(store.kv_touch(b"e", b"k").is_err());
        untouched("kv link");
        fs::remove_file(&kv).unwrap();
        store.kv_put(b"e", b"k", b"v").unwrap();
        let entry = store.kv_path(b"e", b"k").unwrap();
        fs::remove_file(&entry).unwrap();
        symlink(outside.path().join("keep"), &entry).unwrap();
        let err = store.kv_get(b"e", b"k").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(store.kv_touch(b"e", b"k").is_err());
        let modified = store.kv_modified(b"e", b"k").unwrap().unwrap();
        let link_time = fs::symlink_metadata(&entry).unwrap().modified().unwrap();
        assert_eq!(modified, link_time, "the link's own time, not its target's");
        untouched("kv entry link");

        // Clearing removes the links, not what they point to.
        store.clear(b"e").unwrap();
        assert!(!exec.exists());
        untouched("clear");

        // A link in the root in place of an execution's directory.
        let linked = store.exec_dir(b"x").unwrap();
        symlink(outside.path(), &linked).unwrap();
        assert!(store.kv_put(b"x", b"k", b"v").is_err());
        assert!(store.append(b"x", b"n", b"k", b"v").is_err());
        assert!(store.list_executions().unwrap().is_empty());
        assert!(store
            .collect_orphans(std::time::Duration::ZERO)
            .unwrap()
            .is_empty());
        store.clear(b"x").unwrap();
        assert!(
            fs::symlink_metadata(&linked).is_err(),
            "the link is removed"
        );
        untouched("execution link");
    }
}
