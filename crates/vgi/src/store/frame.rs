//! The frame around every stored value: a header with a magic number, the
//! payload's length and its CRC-32, so that a truncated or damaged file is
//! reported as corrupt instead of being decoded into wrong or missing rows.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// `b"VGIS"`, then the frame version.
const MAGIC: [u8; 4] = *b"VGIS";
const VERSION: u32 = 1;
/// Magic, version, payload length (u64), CRC-32 of the payload, reserved
/// (zero in version 1).
pub(crate) const HEADER_LEN: usize = 24;

/// The header to write before `payload`.
pub(crate) fn header(payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    h[16..20].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    h
}

/// Read the framed value in `file` (at `path`), checking its length and
/// checksum. The payload is read straight into its own buffer.
pub(crate) fn read_framed(path: &Path, mut file: File) -> Result<Vec<u8>> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let size = file
        .metadata()
        .map_err(|e| Error::io("inspect", path, e))?
        .len();
    let mut h = [0u8; HEADER_LEN];
    match file.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
            return Err(corrupt(format!(
                "truncated: {size} bytes, shorter than the {HEADER_LEN}-byte header"
            )))
        }
        Err(e) => return Err(Error::io("read", path, e)),
    }
    if h[0..4] != MAGIC {
        return Err(corrupt("not a vgi store entry (bad magic number)".into()));
    }
    let version = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(corrupt(format!("unknown entry version {version}")));
    }
    if h[20..24] != [0; 4] {
        return Err(corrupt(
            "damaged header (reserved bytes are not zero)".into(),
        ));
    }
    let len = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
    // The size was read before the header: a file that grew in between is
    // shorter than a header by that count.
    let have = size.checked_sub(HEADER_LEN as u64).ok_or_else(|| {
        corrupt(format!(
            "changed while being read: {size} bytes at first, then a whole header"
        ))
    })?;
    if have != len {
        let what = if have < len { "truncated" } else { "too long" };
        return Err(corrupt(format!(
            "{what}: the header records {len} payload bytes, the file holds {have}"
        )));
    }
    let len =
        usize::try_from(len).map_err(|_| corrupt(format!("{len} bytes do not fit memory")))?;
    let mut payload = vec![0u8; len];
    match file.read_exact(&mut payload) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
            return Err(corrupt("truncated while being read".into()))
        }
        Err(e) => return Err(Error::io("read", path, e)),
    }
    let stored = u32::from_le_bytes(h[16..20].try_into().expect("4 bytes"));
    let actual = crc32fast::hash(&payload);
    if stored != actual {
        return Err(corrupt(format!(
            "checksum mismatch (stored {stored:08x}, computed {actual:08x})"
        )));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_grows_after_its_size_was_read_is_corrupt_not_an_underflow() {
        // A FIFO reports size 0, then delivers a whole frame.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                let payload = b"payload";
                let mut frame = header(payload).to_vec();
                frame.extend_from_slice(payload);
                std::fs::write(path, frame).unwrap();
            })
        };
        let file = File::open(&path).unwrap();
        let err = read_framed(&path, file).unwrap_err();
        writer.join().unwrap();
        let message = err.to_string();
        assert!(matches!(err, Error::Corrupt { .. }), "{message}");
        assert!(message.contains("changed while being read"), "{message}");
    }
}
