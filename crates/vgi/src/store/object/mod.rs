//! The object-storage backend (S3 and compatible servers): the same keys as
//! the filesystem layout (see [`paths`](super::paths)) under
//! `s3://bucket/<prefix>/`, each value framed and checksummed as in a file
//! (see [`frame`](super::frame)) and written whole by one PUT.
//!
//! A log entry is created with a conditional PUT (`If-None-Match: *`) at the
//! next free id, so two writers never take the same id; the store checks at
//! open that the server honours it. S3 has no locks: claiming an execution
//! does nothing, and an execution is orphaned when nothing under it was
//! written for longer than the TTL. The store owns a tokio runtime and its
//! calls block; call them from a plain thread or inside
//! `tokio::task::block_in_place`, never from an async task.

mod ops;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStoreExt, RetryConfig};

use super::random::random_bytes;
use crate::error::{Error, Result};

/// Retries of a failed request (the client's default is 10, over 3 minutes).
const MAX_RETRIES: usize = 2;
/// No retry starts later than this after a request's first attempt.
const RETRY_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest time one request may take, its body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the object storage: every field left `None` is taken from
/// the usual `AWS_*` environment variables when the store is opened with
/// [`BufferingStore::open_s3`](super::BufferingStore::open_s3) and `from_env`.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// The server, e.g. `http://127.0.0.1:9000` (default: AWS's endpoint for the region).
    pub endpoint: Option<String>,
    /// The region (default `us-east-1`).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
    /// Allow plain `http://` endpoints (also `AWS_ALLOW_HTTP=true` with `from_env`).
    pub allow_http: bool,
    /// Start from the `AWS_*` environment variables (`AWS_ENDPOINT`,
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...), which the fields above override.
    pub from_env: bool,
}

/// The state of a [`BufferingStore`](super::BufferingStore) on object storage.
pub(crate) struct ObjectBackend {
    /// `s3://bucket/prefix`, as given.
    url: String,
    /// [`url`](Self::url) as a path, for the facade's `root()` and error paths.
    root: PathBuf,
    bucket: String,
    /// The key prefix (no leading or trailing `/`; empty for the whole bucket).
    prefix: Key,
    client: AmazonS3,
    /// Runs the client's requests; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    /// Next id to try per log (its key prefix), to avoid listing it on every append.
    next_ids: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for ObjectBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBackend")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The bucket and key prefix of `s3://bucket/prefix`.
fn parse_url(url: &str) -> Result<(String, Key)> {
    let bad = |why: &str| Error::InvalidArgument(format!("store URL {url:?}: {why}"));
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("expected s3://bucket/prefix"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket"));
    }
    let prefix = Key::parse(prefix.trim_end_matches('/')).map_err(|e| bad(&e.to_string()))?;
    Ok((bucket.to_string(), prefix))
}

impl ObjectBackend {
    /// Connects to `url` (`s3://bucket/prefix`) and checks that the server
    /// refuses to create an object that exists.
    pub(crate) fn open(url: &str, options: &S3Options) -> Result<Self> {
        let (bucket, prefix) = parse_url(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vgi-store")
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the runtime of", url, e))?;
        let client = {
            let _context = runtime.enter();
            builder(&bucket, options)
                .build()
                .map_err(|e| storage("connect to", url, e))?
        };
        let backend = ObjectBackend {
            url: url.to_string(),
            root: PathBuf::from(url),
            bucket,
            prefix,
            client,
            runtime: Some(runtime),
            next_ids: Mutex::default(),
        };
        backend.probe_conditional_create()?;
        Ok(backend)
    }

    /// `s3://bucket/prefix` as a path.
    pub(crate) fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Creates a probe object twice: the second create must be refused, else
    /// two writers could take the same log id. The probe is removed after.
    fn probe_conditional_create(&self) -> Result<()> {
        let key = self.key(&format!(".vgi-probe-{}", hex::encode(random_bytes::<8>()?)));
        let url = self.url_of(&key);
        // A create sent again after its first answer was lost finds its own
        // tag (see `create_as` in ops.rs); the key is ours alone either way.
        self.create_as("create a probe object at", &key, b"probe")?;
        let second = self.create_as("create a probe object again at", &key, b"probe");
        let removed = self
            .block_on(self.client.delete(&key))
            .map_err(|e| storage("delete the probe object", &url, e));
        match second {
            Ok(false) => removed,
            Ok(true) => Err(Error::Storage {
                op: "check conditional create at",
                url,
                message: "the server overwrote an existing object on a create with \
                          `If-None-Match: *`; without conditional create two writers \
                          could take the same log entry id, so this server cannot hold a store"
                    .into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Runs `future` on the store's runtime and waits for it.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .block_on(future)
    }

    /// The key `<prefix>/<rel>`.
    fn key(&self, rel: &str) -> Key {
        rel.split('/')
            .filter(|part| !part.is_empty())
            .fold(self.prefix.clone(), |key, part| key.join(part))
    }

    /// `s3://bucket/<key>`, for error reports.
    fn url_of(&self, key: &Key) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn next_ids(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.next_ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ObjectBackend {
    fn drop(&mut self) {
        // Allowed in an async context too, unlike dropping the runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The client builder for `bucket` with `options`: few retries and short
/// timeouts, so that a server that is down fails a call in seconds.
fn builder(bucket: &str, options: &S3Options) -> AmazonS3Builder {
    let mut b = if options.from_env {
        AmazonS3Builder::from_env()
    } else {
        AmazonS3Builder::new()
    };
    b = b
        .with_bucket_name(bucket)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
        })
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            format!("{}ms", CONNECT_TIMEOUT.as_millis()),
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            format!("{}ms", REQUEST_TIMEOUT.as_millis()),
        );
    if options.allow_http {
        b = b.with_allow_http(true);
    }
    let settings = [
        (
            &options.endpoint,
            AmazonS3Builder::with_endpoint as fn(_, _) -> _,
        ),
        (&options.region, AmazonS3Builder::with_region),
        (&options.access_key_id, AmazonS3Builder::with_access_key_id),
        (
            &options.secret_access_key,
            AmazonS3Builder::with_secret_access_key,
        ),
        (&options.session_token, AmazonS3Builder::with_token),
    ];
    for (value, set) in settings {
        if let Some(value) = value {
            b = set(b, value.clone());
        }
    }
    b
}

/// An [`Error::Storage`] for `op` at `url`.
fn storage(op: &'static str, url: &str, e: object_store::Error) -> Error {
    Error::Storage {
        op,
        url: url.to_string(),
        message: e.to_string(),
    }
}
