//! Random bytes for execution ids and temporary file names.

use crate::error::{Error, Result};

/// `N` bytes from the OS random source. There is no fallback: an execution
/// id made of guessable bytes (time, pid) could collide with or be taken
/// over by another process sharing the store, so a failing source fails the
/// caller.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    fill_from(getrandom::fill)
}

/// `N` bytes from `source`, or an error naming its cause.
fn fill_from<const N: usize>(
    source: impl FnOnce(&mut [u8]) -> std::result::Result<(), getrandom::Error>,
) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    source(&mut out).map_err(|e| Error::Random(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct() {
        assert_ne!(random_bytes::<16>().unwrap(), random_bytes::<16>().unwrap());
    }

    #[test]
    fn a_failing_source_is_an_error_not_a_fallback() {
        let err = fill_from::<16>(|_| Err(getrandom::Error::UNSUPPORTED)).unwrap_err();
        assert!(matches!(err, Error::Random(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("random source") && message.contains("not supported"),
            "{message}"
        );
    }
}
