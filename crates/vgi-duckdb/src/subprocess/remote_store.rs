//! The store of remote execution: the object storage at `vgi_store_url`,
//! where the HTTP workers keep the state (their `--store`). This process
//! only removes an execution's state at the query's end; a store is opened
//! once per location and credentials and kept for the process's life.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::{EXECUTION_SETTING, STORE_URL_SETTING};
use vgi::store::{BufferingStore, S3Options};
use vgi::{Error, Result, Settings};

/// The store at `vgi_store_url`, reached with `options`.
pub(crate) fn remote_store(
    settings: &Settings,
    options: &S3Options,
) -> Result<Arc<BufferingStore>> {
    let url = settings.get(STORE_URL_SETTING).unwrap_or("").trim();
    if url.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{EXECUTION_SETTING} = 'remote' needs {STORE_URL_SETTING}: the s3://bucket/prefix \
             the workers keep their state in (their --store)"
        )));
    }
    if !url.starts_with("s3://") {
        return Err(Error::InvalidArgument(format!(
            "{STORE_URL_SETTING}: expected s3://bucket/prefix, got '{url}'"
        )));
    }
    static OPENED: OnceLock<Mutex<HashMap<String, Arc<BufferingStore>>>> = OnceLock::new();
    // The credentials are part of the key: another secret opens another store.
    let key = format!("{url}\n{options:?}");
    let opened = OPENED.get_or_init(Mutex::default);
    if let Some(store) = opened.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(store.clone());
    }
    // Opening probes the server: not under the lock, which other queries'
    // binds take.
    let store = Arc::new(
        BufferingStore::open_s3(url, options)
            .map_err(|e| Error::InvalidArgument(format!("{STORE_URL_SETTING} = '{url}': {e}")))?,
    );
    Ok(opened
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert(store)
        .clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_url_is_required_and_must_be_s3() {
        let options = S3Options::default();
        let err = remote_store(&Settings::new(), &options).unwrap_err();
        assert!(err.to_string().contains(STORE_URL_SETTING), "{err}");
        let settings = Settings::new().with(STORE_URL_SETTING, "/tmp/store");
        let err = remote_store(&settings, &options).unwrap_err();
        assert!(err.to_string().contains("expected s3://"), "{err}");
    }

    #[test]
    fn a_server_that_is_down_is_an_error_naming_the_store() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = S3Options {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            allow_http: true,
            ..Default::default()
        };
        let settings = Settings::new().with(STORE_URL_SETTING, "s3://bucket/prefix");
        let err = remote_store(&settings, &options).unwrap_err().to_string();
        assert!(err.contains("s3://bucket/prefix"), "{err}");
    }
}
