//! The crate's error type.

use std::path::{Path, PathBuf};

use arrow_schema::ArrowError;

/// Everything that can go wrong in the SDK and the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation `op` failed on `path`.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was applied to.
        path: PathBuf,
        /// What was being done, e.g. `"read"` or `"create directory"`.
        op: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An operation `op` on object storage failed at `url`.
    #[error("{op} {url}: {message}")]
    Storage {
        /// What was being done, e.g. `"put"` or `"list"`.
        op: &'static str,
        /// The object or prefix, as `s3://bucket/key`.
        url: String,
        /// The client's or the server's error.
        message: String,
    },
    /// Arrow failed to build, encode or decode data.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// A caller passed a value the API cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A stored entry exists but its contents cannot be decoded.
    #[error("corrupt {}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Why it could not be decoded.
        reason: String,
    },
    /// A byte encoding (not tied to a file) is malformed.
    #[error("malformed {what}: {reason}")]
    Decode {
        /// The kind of value being decoded, e.g. `"settings"`.
        what: &'static str,
        /// Why it could not be decoded.
        reason: String,
    },
    /// The store root is unsafe to use (symlink, foreign owner, open permissions).
    #[error("refusing to use store root {}: {reason}", path.display())]
    UnsafeRoot {
        /// The rejected root directory.
        path: PathBuf,
        /// Which check failed.
        reason: String,
    },
    /// A write to an execution whose state was removed meanwhile (its query
    /// ended or failed, or it was collected): it is not made again.
    #[error(
        "the execution's state at {} was removed while this call ran (its query ended, \
         failed or was cancelled); it is not made again with part of its state",
        path.display()
    )]
    Ended {
        /// The execution's directory.
        path: PathBuf,
    },
    /// An error raised by a function author; its message is shown unchanged.
    #[error("{0}")]
    Function(String),
    /// The query was interrupted while the function was running.
    #[error("interrupted")]
    Interrupted,
    /// The operating system's random source failed (execution ids and
    /// temporary names are never made of guessable bytes instead).
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

impl Error {
    /// An error raised by a function author, shown to the user unchanged.
    pub fn function(msg: impl Into<String>) -> Self {
        Error::Function(msg.into())
    }

    /// An [`Error::Io`] for operation `op` on `path`.
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            op,
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_display_names_op_path_and_cause() {
        let e = Error::io(
            "read",
            "/x/y",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        let s = e.to_string();
        assert!(s.starts_with("read /x/y: "), "{s}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn function_message_unchanged() {
        assert_eq!(Error::function("boom: 42").to_string(), "boom: 42");
    }
}
