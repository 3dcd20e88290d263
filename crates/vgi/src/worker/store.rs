//! Opens the store a worker process keeps its state in.

use std::path::PathBuf;

use crate::store::BufferingStore;
use crate::{Error, Result};

/// Opens the store at `location`: `s3://bucket/prefix` (feature
/// `object-store`; endpoint and credentials from the `AWS_*` environment
/// variables) or a directory; `None` for the default store under `$TMPDIR`.
/// A failure names the location and the cause.
pub fn open_store(location: Option<&str>) -> Result<BufferingStore> {
    let Some(location) = location else {
        return BufferingStore::new();
    };
    let opened = if location.starts_with("s3://") {
        open_s3(location)
    } else if location.is_empty() || location.contains("://") {
        Err(Error::InvalidArgument(
            "expected s3://bucket/prefix or a directory".into(),
        ))
    } else {
        BufferingStore::open(PathBuf::from(location))
    };
    opened.map_err(|e| Error::Storage {
        op: "open store",
        url: location.to_string(),
        message: e.to_string(),
    })
}

#[cfg(feature = "object-store")]
fn open_s3(url: &str) -> Result<BufferingStore> {
    let options = crate::store::S3Options {
        from_env: true,
        ..Default::default()
    };
    BufferingStore::open_s3(url, &options)
}

#[cfg(not(feature = "object-store"))]
fn open_s3(_: &str) -> Result<BufferingStore> {
    Err(Error::InvalidArgument(
        "this build has no S3 support (feature object-store of crate vgi)".into(),
    ))
}
