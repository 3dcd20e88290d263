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
    let (len, stored) = parse_header(&h).map_err(corrupt)?;
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
    check_sum(stored, &payload).map_err(corrupt)?;
    Ok(payload)
}

/// The payload length and checksum a header records, or why it is damaged.
fn parse_header(h: &[u8; HEADER_LEN]) -> std::result::Result<(u64, u32), String> {
    if h[0..4] != MAGIC {
        return Err("not a vgi store entry (bad magic number)".into());
    }
    let version = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!("unknown entry version {version}"));
    }
    if h[20..24] != [0; 4] {
        return Err("damaged header (reserved bytes are not zero)".into());
    }
    let len = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
    let stored = u32::from_le_bytes(h[16..20].try_into().expect("4 bytes"));
    Ok((len, stored))
}

fn check_sum(stored: u32, payload: &[u8]) -> std::result::Result<(), String> {
    let actual = crc32fast::hash(payload);
    if stored != actual {
        return Err(format!(
            "checksum mismatch (stored {stored:08x}, computed {actual:08x})"
        ));
    }
    Ok(())
}

/// `payload` framed: its header, then the payload.
#[cfg_attr(not(feature = "object-store"), allow(dead_code))]
pub(crate) fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header(payload));
    out.extend_from_slice(payload);
    out
}

/// The payload of the whole framed value `bytes` (read from `path`),
/// checking its length and checksum.
#[cfg_attr(not(feature = "object-store"), allow(dead_code))]
pub(crate) fn check_framed(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let Some(h) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(corrupt(format!(
            "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    };
    let (len, stored) = parse_header(h).map_err(corrupt)?;
    let have = (bytes.len() - HEADER_LEN) as u64;
    if have != len {
        let what = if have < len { "truncated" } else { "too long" };
        return Err(corrupt(format!(
            "{what}: the header records {len} payload bytes, the object holds {have}"
        )));
    }
    bytes.drain(..HEADER_LEN);
    check_sum(stored, &bytes).map_err(corrupt)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_framed_takes_whole_frames_only() {
        let path = Path::new("s3://b/x");
        assert_eq!(check_framed(path, framed(b"abc")).unwrap(), b"abc");
        assert_eq!(check_framed(path, framed(b"")).unwrap(), b"");
        let mut flipped = framed(b"abc");
        *flipped.last_mut().unwrap() ^= 1;
        let cases = [
            (
                framed(b"abc")[..10].to_vec(),
                "shorter than the 24-byte header",
            ),
            (
                framed(b"abc")[..26].to_vec(),
                "truncated: the header records 3",
            ),
            ([framed(b"abc"), b"x".to_vec()].concat(), "too long"),
            (flipped, "checksum mismatch"),
            (b"NOPE".repeat(8), "bad magic number"),
        ];
        for (bytes, reason) in cases {
            let err = check_framed(path, bytes).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains(reason), "{reason}: {err}");
            assert!(err.to_string().contains("s3://b/x"), "{err}");
        }
    }

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
