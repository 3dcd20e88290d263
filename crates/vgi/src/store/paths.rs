//! On-disk layout and naming. Every name derived from caller bytes is
//! lowercase hex, so no input can escape the store root.
//!
//! ```text
//! <root>/<hex exec>/log/<hex ns>-<hex key>/<id:020>.bin   append logs
//! <root>/<hex exec>/kv/k-<hex key>                        key-value entries
//! ```
//!
//! Files whose name starts with [`TMP_PREFIX`] are in-flight writes
//! and are never listed.

use std::ffi::OsStr;
use std::path::PathBuf;

use super::BufferingStore;
use crate::error::{Error, Result};

/// Prefix of temporary files (unpublished writes, executions being created).
pub(crate) const TMP_PREFIX: &str = ".tmp-";

const ENTRY_SUFFIX: &str = ".bin";
const ID_DIGITS: usize = 20;
/// Longest file name most filesystems accept.
const NAME_MAX: usize = 255;

/// The bytes of a name that [`hex::encode`] made (lowercase digits only);
/// `None` for any other name.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(s).ok()
}

/// File name of log entry `id`.
pub(crate) fn entry_name(id: i64) -> String {
    format!("{id:0width$}{ENTRY_SUFFIX}", width = ID_DIGITS)
}

/// The id of an entry file name, or `None` for any other name.
pub(crate) fn parse_entry_name(name: &OsStr) -> Option<i64> {
    let digits = name.to_str()?.strip_suffix(ENTRY_SUFFIX)?;
    if digits.len() != ID_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn checked(what: &str, name: String) -> Result<String> {
    if name.len() > NAME_MAX {
        return Err(Error::InvalidArgument(format!(
            "{what} is too long for a file name ({} bytes once hex-encoded, limit {NAME_MAX})",
            name.len()
        )));
    }
    Ok(name)
}

/// Name of the directory of the append logs in an execution's directory.
const LOG_DIR: &str = "log";
/// Name of the directory of key-value entries in an execution's directory.
const KV_DIR: &str = "kv";

/// Name (in the root) of the directory of execution `exec`, which must be non-empty.
pub(crate) fn exec_name(exec: &[u8]) -> Result<String> {
    if exec.is_empty() {
        return Err(Error::InvalidArgument("execution id is empty".into()));
    }
    checked("execution id", hex::encode(exec))
}

/// Directory of the `(ns, key)` append log, relative to the root.
pub(crate) fn log_rel(exec: &[u8], ns: &[u8], key: &[u8]) -> Result<PathBuf> {
    let name = checked(
        "namespace + key",
        format!("{}-{}", hex::encode(ns), hex::encode(key)),
    )?;
    Ok([exec_name(exec)?.as_str(), LOG_DIR, &name].iter().collect())
}

/// Directory of the key-value entries, relative to the root.
pub(crate) fn kv_rel(exec: &[u8]) -> Result<PathBuf> {
    Ok([exec_name(exec)?.as_str(), KV_DIR].iter().collect())
}

/// File name (in [`kv_rel`]) of key-value entry `key`.
pub(crate) fn kv_name(key: &[u8]) -> Result<String> {
    checked("key", format!("k-{}", hex::encode(key)))
}

/// The paths below, under the root's path, are for error reports (and
/// tests): the store itself goes by its root's descriptor (see
/// [`dirfd`](super::dirfd)).
impl BufferingStore {
    /// Directory holding everything of execution `exec` (which must be non-empty).
    #[cfg(test)]
    pub(crate) fn exec_dir(&self, exec: &[u8]) -> Result<PathBuf> {
        Ok(self.root().join(exec_name(exec)?))
    }

    /// Directory of the `(ns, key)` append log.
    pub(crate) fn log_dir(&self, exec: &[u8], ns: &[u8], key: &[u8]) -> Result<PathBuf> {
        Ok(self.root().join(log_rel(exec, ns, key)?))
    }

    /// Directory of the key-value entries.
    #[cfg(test)]
    pub(crate) fn kv_dir(&self, exec: &[u8]) -> Result<PathBuf> {
        Ok(self.root().join(kv_rel(exec)?))
    }

    /// File of key-value entry `key`.
    #[cfg(test)]
    pub(crate) fn kv_path(&self, exec: &[u8], key: &[u8]) -> Result<PathBuf> {
        Ok(self.root().join(kv_rel(exec)?).join(kv_name(key)?))
    }

    /// Where log entry `id` of `(exec, ns, key)` is (or would be) stored, for error reports.
    pub fn log_entry_path(&self, exec: &[u8], ns: &[u8], key: &[u8], id: i64) -> Result<PathBuf> {
        Ok(self.log_dir(exec, ns, key)?.join(entry_name(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex::encode(&all)).unwrap(), all);
        assert_eq!(hex::encode(b"/.."), "2f2e2e");
        assert!(unhex("abc").is_none() && unhex("zz").is_none() && unhex("AB").is_none());
    }

    #[test]
    fn entry_names() {
        assert_eq!(entry_name(42), "00000000000000000042.bin");
        assert_eq!(parse_entry_name(OsStr::new(&entry_name(42))), Some(42));
        assert_eq!(
            parse_entry_name(OsStr::new(&entry_name(i64::MAX))),
            Some(i64::MAX)
        );
        for bad in [
            ".tmp-1",
            "42.bin",
            "0000000000000000004x.bin",
            "99999999999999999999.bin",
        ] {
            assert_eq!(parse_entry_name(OsStr::new(bad)), None, "{bad}");
        }
    }
}
