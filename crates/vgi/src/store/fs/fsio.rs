//! Low-level file operations with crash-consistent publication, in a
//! [`StoreDir`] (never by path).
//!
//! Data is written to a uniquely named temporary file in the destination
//! directory and only then moved to its final name, so a reader (in any
//! process) sees either no entry or a complete one. Nothing is fsynced:
//! the store holds per-query scratch state, not durable data.

use std::ffi::OsStr;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::OFlags;

use super::dirfd::StoreDir;
use crate::error::{Error, Result};
use crate::store::frame::{header, read_framed};
use crate::store::paths::{parse_entry_name, TMP_PREFIX};
use crate::store::random::random_bytes;

/// A fresh temporary file name, tagged with `label` for debugging.
pub(crate) fn temp_name(label: &str) -> Result<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nonce = hex::encode(random_bytes::<8>()?);
    Ok(format!(
        "{TMP_PREFIX}{label}{}-{n}-{nonce}",
        std::process::id()
    ))
}

/// Write `data`, framed (see [`frame`](super::frame)), to a new temporary
/// file in `dir` (mode 0600) and return its name.
pub(crate) fn write_temp(dir: &StoreDir, data: &[u8]) -> Result<String> {
    let mut attempts = 0;
    let (name, mut file) = loop {
        let name = temp_name("")?;
        match dir.open_file(&name, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL) {
            Ok(f) => break (name, f),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) => return Err(dir.create_error("create", &name, e)),
        }
    };
    let written = file
        .write_all(&header(data))
        .and_then(|()| file.write_all(data));
    match written {
        Ok(()) => Ok(name),
        Err(e) => {
            discard_temp(dir, &name);
            Err(Error::io("write", dir.display(&name), e))
        }
    }
}

/// Best-effort removal of a temporary file after its operation has already
/// succeeded or failed with a reported error. A leftover is harmless: listings
/// skip [`TMP_PREFIX`] names and `clear` removes the whole execution.
pub(crate) fn discard_temp(dir: &StoreDir, name: &str) {
    dir.unlink(name).ok();
}

/// Move `tmp` to `dest` (both in `dir`) unless `dest` exists. Returns
/// `Ok(false)` (leaving `tmp` in place) when it does, so exactly one writer
/// wins each name, across processes.
pub(crate) fn publish_noreplace(dir: &StoreDir, tmp: &str, dest: &str) -> Result<bool> {
    dir.rename_noreplace(tmp, dest)
        .map_err(|e| Error::io("rename", dir.display(dest), e))
}

/// Read the framed value `name` in `dir`, or `None` when it does not exist.
pub(crate) fn read_optional(dir: &StoreDir, name: impl AsRef<OsStr>) -> Result<Option<Vec<u8>>> {
    let path = dir.display(name.as_ref());
    match dir.open_file(name.as_ref(), OFlags::RDONLY) {
        Ok(file) => read_framed(&path, file).map(Some),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", &path, e)),
    }
}

/// Sorted ids of the entries in `dir`. Temporary files and names that do
/// not parse are skipped.
pub(crate) fn list_ids(dir: &StoreDir) -> Result<Vec<i64>> {
    let entries = dir
        .entries()
        .map_err(|e| Error::io("list", dir.path(), e))?;
    let mut ids: Vec<i64> = entries
        .iter()
        .filter_map(|(name, _)| parse_entry_name(name))
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Sorted ids of the entries in the directory `rel` below `root` (empty
/// when it does not exist).
pub(crate) fn list_ids_in(root: &StoreDir, rel: impl AsRef<std::path::Path>) -> Result<Vec<i64>> {
    match root.open_dir(rel)? {
        Some(dir) => list_ids(&dir),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fresh private directory, held open.
    fn temp_dir() -> (tempfile::TempDir, StoreDir) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let held = super::super::root::open_root(dir.path()).unwrap();
        (dir, held)
    }

    #[test]
    fn publish_refuses_to_replace() {
        let (dir, held) = temp_dir();
        let a = write_temp(&held, b"a").unwrap();
        assert!(a.starts_with(TMP_PREFIX));
        assert!(publish_noreplace(&held, &a, "x").unwrap());
        let b = write_temp(&held, b"b").unwrap();
        assert!(!publish_noreplace(&held, &b, "x").unwrap());
        assert!(dir.path().join(&b).exists());
        assert_eq!(read_optional(&held, "x").unwrap().unwrap(), b"a");
        assert!(!dir.path().join(&a).exists());
    }

    #[test]
    fn read_optional_distinguishes_missing_from_errors() {
        let (dir, held) = temp_dir();
        assert_eq!(read_optional(&held, "none").unwrap(), None);
        fs::create_dir(dir.path().join("sub")).unwrap();
        let err = read_optional(&held, "sub").unwrap_err().to_string();
        assert!(err.starts_with("read "), "{err}");
    }

    /// A published entry whose file was then cut, extended or damaged.
    fn damaged(damage: impl FnOnce(&mut Vec<u8>)) -> String {
        let (dir, held) = temp_dir();
        let dest = dir.path().join("x");
        let tmp = write_temp(&held, &[7u8; 1000]).unwrap();
        assert!(publish_noreplace(&held, &tmp, "x").unwrap());
        let mut bytes = fs::read(&dest).unwrap();
        damage(&mut bytes);
        fs::write(&dest, bytes).unwrap();
        let err = read_optional(&held, "x").unwrap_err();
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
            let (dir, held) = temp_dir();
            let dest = dir.path().join("x");
            let tmp = write_temp(&held, &payload).unwrap();
            proptest::prop_assert!(publish_noreplace(&held, &tmp, "x").unwrap());
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
            match read_optional(&held, "x") {
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
