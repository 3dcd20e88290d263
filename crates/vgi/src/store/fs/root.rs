//! Choosing, creating, vetting and opening the store root directory.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;

use super::dirfd::{is_dir, StoreDir};
use crate::error::{Error, Result};

/// `<temp dir>/vgi-buffering-<uid>`: private to the current user.
pub fn default_root() -> PathBuf {
    std::env::temp_dir().join(format!("vgi-buffering-{}", current_uid()))
}

pub(crate) fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Create `root` (mode 0700) if missing, then require that it is a real
/// directory (not a symlink), owned by the current user, with no group or
/// other permissions: anything else could let another user read or plant state.
fn prepare_root(root: &Path) -> Result<()> {
    match fs::symlink_metadata(root) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| Error::io("create store root", root, e))?,
        Err(e) => return Err(Error::io("inspect store root", root, e)),
    }
    let meta = fs::symlink_metadata(root).map_err(|e| Error::io("inspect store root", root, e))?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_root(
            root,
            "it is a symbolic link; use a real directory".into(),
        ));
    }
    vet(root, meta.is_dir(), meta.uid(), meta.mode())
}

/// [`prepare_root`], then open `root` (`O_NOFOLLOW`) and vet the directory
/// opened, which the store uses from then on (see [`dirfd`](super::dirfd)):
/// whatever the path names later, the store keeps to this directory.
pub(crate) fn open_root(root: &Path) -> Result<StoreDir> {
    prepare_root(root)?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(CWD, root, flags, Mode::empty()) {
        Ok(fd) => fd,
        // Replaced since it was inspected.
        Err(Errno::LOOP) => {
            return Err(unsafe_root(
                root,
                "it is a symbolic link; use a real directory".into(),
            ))
        }
        Err(Errno::NOTDIR) => return Err(unsafe_root(root, "it is not a directory".into())),
        Err(e) => return Err(Error::io("open store root", root, e.into())),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("inspect store root", root, e.into()))?;
    vet(root, is_dir(&st), st.st_uid, st.st_mode)?;
    Ok(StoreDir::root(fd, root.to_path_buf()))
}

fn unsafe_root(root: &Path, reason: String) -> Error {
    Error::UnsafeRoot {
        path: root.to_path_buf(),
        reason,
    }
}

/// The checks of a root that is a directory (`is_dir`) owned by `uid` with
/// permission bits in `mode`.
fn vet(root: &Path, is_dir: bool, uid: u32, mode: u32) -> Result<()> {
    if !is_dir {
        return Err(unsafe_root(root, "it is not a directory".into()));
    }
    let current = current_uid();
    if uid != current {
        return Err(unsafe_root(
            root,
            format!("it is owned by uid {uid} but this process runs as uid {current}"),
        ));
    }
    let mode = mode & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_root(
            root,
            format!("its permissions {mode:04o} give access to group or others; expected 0700"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_private_root() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("a/b");
        prepare_root(&root).unwrap();
        let mode = fs::metadata(&root).unwrap().mode() & 0o777;
        assert_eq!(mode & 0o077, 0);
        prepare_root(&root).unwrap();
        assert!(default_root()
            .to_string_lossy()
            .ends_with(&format!("vgi-buffering-{}", current_uid())));
    }

    #[test]
    fn refuses_symlink_root() {
        let base = tempfile::tempdir().unwrap();
        let real = base.path().join("real");
        prepare_root(&real).unwrap();
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = prepare_root(&link).unwrap_err();
        assert!(matches!(err, Error::UnsafeRoot { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn refuses_open_permissions() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("r");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let err = prepare_root(&root).unwrap_err().to_string();
        assert!(
            err.contains("0755") && err.contains(&*root.to_string_lossy()),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_file() {
        let base = tempfile::tempdir().unwrap();
        let file = base.path().join("f");
        fs::write(&file, b"").unwrap();
        assert!(prepare_root(&file)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
    }

    #[test]
    fn refuses_foreign_owner() {
        if current_uid() != 0 {
            return;
        }
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("r");
        prepare_root(&root).unwrap();
        std::os::unix::fs::chown(&root, Some(4242), None).unwrap();
        let err = prepare_root(&root).unwrap_err().to_string();
        assert!(err.contains("uid 4242"), "{err}");
    }
}
