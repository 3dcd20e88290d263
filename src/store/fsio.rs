//! Low-level file operations with crash-consistent publication.
//!
//! Data is written to a uniquely named temporary file in the destination
//! directory and only then moved to its final name, so a reader (in any
//! process) sees either no entry or a complete one. Nothing is fsynced:
//! the store holds per-query scratch state, not durable data.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::frame::{header, read_framed};
use super::paths::{hex, parse_entry_name, TMP_PREFIX};
use super::random::random_bytes;
use crate::sdk::error::{Error, Result};

/// Create `dir` and its missing parents with mode 0700.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// A fresh temporary file path in `dir`, tagged with `label` for debugging.
pub(crate) fn temp_path(dir: &Path, label: &str) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nonce = hex(&random_bytes::<8>()?);
    Ok(dir.join(format!(
        "{TMP_PREFIX}{label}{}-{n}-{nonce}",
        std::process::id()
    )))
}

/// Write `data`, framed (see [`frame`](super::frame)), to a new temporary
/// file in `dir` (mode 0600) and return its path.
pub(crate) fn write_temp(dir: &Path, data: &[u8]) -> Result<PathBuf> {
    let mut attempts = 0;
    let (path, mut file) = loop {
        let path = temp_path(dir, "")?;
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) => return Err(Error::io("create", &path, e)),
        }
    };
    let written = file
        .write_all(&header(data))
        .and_then(|()| file.write_all(data));
    match written {
        Ok(()) => Ok(path),
        Err(e) => {
            discard_temp(&path);
            Err(Error::io("write", &path, e))
        }
    }
}

/// Best-effort removal of a temporary file after its operation has already
/// succeeded or failed with a reported error. A leftover is harmless: listings
/// skip [`TMP_PREFIX`] names and `clear` removes the whole execution.
pub(crate) fn discard_temp(path: &Path) {
    fs::remove_file(path).ok();
}

/// Move `tmp` to `dest` unless `dest` exists. Returns `Ok(false)` (leaving
/// `tmp` in place) when it does, so exactly one writer wins each name, across
/// processes. Uses `renameat2(RENAME_NOREPLACE)` where available, else a hard
/// link followed by removing `tmp`.
pub(crate) fn publish_noreplace(tmp: &Path, dest: &Path) -> Result<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match rename_noreplace(tmp, dest) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e)
            if !matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
            ) =>
        {
            return Err(Error::io("rename", dest, e));
        }
        Err(_) => {}
    }
    match fs::hard_link(tmp, dest) {
        Ok(()) => {
            discard_temp(tmp);
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("link", dest, e)),
    }
}

/// Move the directory `from` to `to` unless `to` exists (`Ok(false)`, leaving
/// `from` in place).
pub(crate) fn rename_dir_noreplace(from: &Path, to: &Path) -> std::io::Result<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match rename_noreplace(from, to) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e) if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => return Err(e),
        Err(_) => {}
    }
    // rename(2) replaces only an empty directory, and `from` is never empty.
    match fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Read the framed value at `path`, or `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(file) => read_framed(path, file).map(Some),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

/// Sorted ids of the entries in `dir` (empty when `dir` does not exist).
/// Temporary files and names that do not parse are skipped.
pub(crate) fn list_ids(dir: &Path) -> Result<Vec<i64>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        if let Some(id) = parse_entry_name(&entry.file_name()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_refuses_to_replace() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        let a = write_temp(dir.path(), b"a").unwrap();
        assert!(a
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(TMP_PREFIX));
        assert!(publish_noreplace(&a, &dest).unwrap());
        let b = write_temp(dir.path(), b"b").unwrap();
        assert!(!publish_noreplace(&b, &dest).unwrap());
        assert!(b.exists());
        assert_eq!(read_optional(&dest).unwrap().unwrap(), b"a");
        assert!(!a.exists());
    }

    #[test]
    fn read_optional_distinguishes_missing_from_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_optional(&dir.path().join("none")).unwrap(), None);
        let err = read_optional(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("read "), "{err}");
    }

    /// A published entry whose file was then cut, extended or damaged.
    fn damaged(damage: impl FnOnce(&mut Vec<u8>)) -> String {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        let tmp = write_temp(dir.path(), &[7u8; 1000]).unwrap();
        assert!(publish_noreplace(&tmp, &dest).unwrap());
        let mut bytes = fs::read(&dest).unwrap();
        damage(&mut bytes);
        fs::write(&dest, bytes).unwrap();
        let err = read_optional(&dest).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&dest.display().to_string()), "{text}");
        text
    }

    proptest::proptest! {
        /// Whatever happens to an entry's bytes, reading it gives the payload
        /// that was written or an error: never other bytes, never a panic.
        #[test]
        fn a_changed_entry_never_reads_as_other_bytes(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            cut in proptest::option::of(0usize..330),
            flips in proptest::collection::vec((0usize..330, 1u8..=255), 0..3),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("x");
            let tmp = write_temp(dir.path(), &payload).unwrap();
            proptest::prop_assert!(publish_noreplace(&tmp, &dest).unwrap());
            let mut bytes = fs::read(&dest).unwrap();
            let original = bytes.clone();
            if let Some(cut) = cut {
                bytes.truncate(cut);
            }
            for (at, mask) in flips {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= mask;
                }
            }
            fs::write(&dest, &bytes).unwrap();
            match read_optional(&dest) {
                Ok(Some(read)) => {
                    proptest::prop_assert_eq!(&bytes, &original, "a changed file was read");
                    proptest::prop_assert_eq!(read, payload);
                }
                Ok(None) => proptest::prop_assert!(false, "the file exists"),
                Err(e) => {
                    proptest::prop_assert!(bytes != original, "an intact file failed: {}", e);
                    proptest::prop_assert!(matches!(e, Error::Corrupt { .. }), "{}", e);
                }
            }
        }
    }

    #[test]
    fn damaged_entries_are_corrupt_not_short() {
        assert!(damaged(|b| b.truncate(500))
            .contains("truncated: the header records 1000 payload bytes, the file holds 476"));
        assert!(damaged(|b| b.truncate(10)).contains("shorter than the 24-byte header"));
        assert!(damaged(|b| b.truncate(0)).contains("truncated"));
        assert!(damaged(|b| b.push(0)).contains("too long"));
        assert!(damaged(|b| b[600] ^= 1).contains("checksum mismatch"));
        assert!(damaged(|b| b[0] = b'X').contains("bad magic number"));
    }
}
