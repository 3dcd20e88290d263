//! The store of remote execution: the object storage at `vgi_store_url`,
//! where the HTTP workers keep the state (their `--store`). This process
//! only removes an execution's state at the query's end; a store is opened
//! once per location and credentials and kept for the process's life.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::{EXECUTION_SETTING, STORE_URL_SETTING};
use crate::s3_secret::S3Secret;
use vgi::store::{BufferingStore, S3Options};
use vgi::{Error, Result, Settings};

/// How to reach object storage: with DuckDB's s3 secret when one matches
/// `vgi_store_url` (its values alone), else from the `AWS_*` environment.
pub(crate) fn s3_options(secret: Option<&S3Secret>) -> Result<S3Options> {
    let Some(secret) = secret else {
        return Ok(S3Options {
            from_env: true,
            ..Default::default()
        });
    };
    let refuse = |why: String| {
        Error::InvalidArgument(format!(
            "{STORE_URL_SETTING}: the s3 secret '{}' {why}",
            secret.name()
        ))
    };
    if let Some(style) = secret.get("url_style") {
        if !style.eq_ignore_ascii_case("path") {
            return Err(refuse(format!(
                "has URL_STYLE '{style}': vgi reaches object storage in path style only \
                 (URL_STYLE 'path')"
            )));
        }
    }
    let use_ssl = match secret.get("use_ssl") {
        None => true,
        Some(v) => v
            .parse::<bool>()
            .map_err(|_| refuse(format!("has USE_SSL '{v}', expected true or false")))?,
    };
    let endpoint = match secret.get("endpoint").map(str::trim) {
        None | Some("") => None,
        Some(e) if e.contains("://") => {
            return Err(refuse(format!(
            "has ENDPOINT '{e}': give host[:port] without a scheme (USE_SSL picks https or http)"
        )))
        }
        Some(e) => Some(format!("{}://{e}", if use_ssl { "https" } else { "http" })),
    };
    let text = |key: &str| {
        secret
            .get(key)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(S3Options {
        allow_http: endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://")),
        endpoint,
        region: text("region"),
        access_key_id: text("key_id"),
        secret_access_key: text("secret"),
        session_token: text("session_token"),
        from_env: false,
    })
}

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
    let store = Arc::new(BufferingStore::open_s3(url, options).map_err(|e| {
        let source = if options.from_env {
            " (no s3 secret matches it: endpoint and credentials came from the AWS_* \
                     environment variables)"
        } else {
            ""
        };
        Error::InvalidArgument(format!("{STORE_URL_SETTING} = '{url}': {e}{source}"))
    })?);
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

    fn secret(pairs: &[(&str, &str)]) -> S3Secret {
        let mut settings = Settings::new().with("s3_secret.name", "store");
        for (key, value) in pairs {
            settings.insert(format!("s3_secret.{key}"), *value);
        }
        crate::s3_secret::split_s3_secret(settings).1.unwrap()
    }

    #[test]
    fn a_secret_gives_the_endpoint_and_credentials() {
        let options = s3_options(Some(&secret(&[
            ("endpoint", "127.0.0.1:9000"),
            ("use_ssl", "false"),
            ("key_id", "k"),
            ("secret", "s"),
            ("region", "eu-west-1"),
            ("url_style", "path"),
        ])))
        .unwrap();
        assert_eq!(options.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(options.allow_http && !options.from_env);
        assert_eq!(options.access_key_id.as_deref(), Some("k"));
        assert_eq!(options.secret_access_key.as_deref(), Some("s"));
        assert_eq!(options.region.as_deref(), Some("eu-west-1"));
        let tls = s3_options(Some(&secret(&[("endpoint", "s3.example.com")]))).unwrap();
        assert_eq!(tls.endpoint.as_deref(), Some("https://s3.example.com"));
        assert!(!tls.allow_http);
        assert!(s3_options(None).unwrap().from_env);
    }

    #[test]
    fn a_secret_the_store_cannot_follow_is_refused_by_name() {
        for (pairs, cause) in [
            (&[("url_style", "vhost")][..], "path style only"),
            (
                &[("endpoint", "http://127.0.0.1:9000")][..],
                "without a scheme",
            ),
            (&[("use_ssl", "maybe")][..], "expected true or false"),
        ] {
            let err = s3_options(Some(&secret(pairs))).unwrap_err().to_string();
            assert!(
                err.contains("s3 secret 'store'") && err.contains(cause),
                "{err}"
            );
        }
    }
}
