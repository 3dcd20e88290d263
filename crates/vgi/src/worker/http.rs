//! The worker protocol over vgi-rpc's HTTP transport (feature `http`): the
//! same methods as on stdin/stdout, at `POST /vgi.v3/<method>` (streams at
//! `…/init` and `…/exchange`), plus `GET /health`. A finalize stream goes
//! on in whichever worker gets its next request, provided every worker has
//! the same token key and the same store (see [`super::resume`]).

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use vgi_rpc::http::{serve_with_shutdown, HttpState};

use super::{open_store, server, spawn_sweeper, Worker, WorkerOptions};
use crate::{Error, Result, TableBufferingFunction};

/// The default of [`HttpOptions::request_timeout`], in seconds.
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 300;

/// The largest request body a worker accepts.
const MAX_BODY_SIZE: usize = 1 << 30;

/// How an HTTP worker listens.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// The address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// The longest one request may take.
    pub request_timeout: Duration,
    /// The key sealing the stream tokens (at least 32 bytes), shared by
    /// every worker that may continue another's stream.
    pub token_key: Vec<u8>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("addr", &self.addr)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// A token key from hex (at least 32 bytes, i.e. 64 hex digits).
pub fn token_key_from_hex(hex: &str) -> Result<Vec<u8>> {
    let key = hex::decode(hex.trim())
        .map_err(|e| Error::InvalidArgument(format!("token key: not hex ({e})")))?;
    if key.len() < 32 {
        return Err(Error::InvalidArgument(format!(
            "token key: {} bytes, at least 32 needed (e.g. `openssl rand -hex 32`)",
            key.len()
        )));
    }
    Ok(key)
}

/// Serves `functions` over HTTP on `http.addr` until SIGTERM or SIGINT,
/// then finishes the requests in flight. Once listening it prints one line,
/// `vgi-worker: listening on http://IP:PORT`, on stdout.
pub fn serve_http(
    functions: Vec<Box<dyn TableBufferingFunction>>,
    options: WorkerOptions,
    http: HttpOptions,
) -> Result<()> {
    let store = Arc::new(open_store(options.store.as_deref())?);
    let worker = Arc::new(Worker::new(functions, store, options.idle).without_shared_memory());
    spawn_sweeper(worker.clone());
    let state = HttpState::builder()
        .server(Arc::new(server(worker)))
        .token_key(&http.token_key)
        .token_ttl(options.idle)
        .request_timeout(http.request_timeout)
        .max_body_size(MAX_BODY_SIZE)
        .enable_landing_page(false)
        .enable_describe_page(false)
        .build();
    let io = |what: &str, e: std::io::Error| Error::InvalidArgument(format!("{what}: {e}"));
    let listener = TcpListener::bind(http.addr)
        .map_err(|e| io(&format!("cannot listen on {}", http.addr), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io("listener", e))?;
    let addr = listener.local_addr().map_err(|e| io("listener", e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| io("tokio runtime", e))?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| io("listener", e))?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "vgi-worker: listening on http://{addr}")
            .and_then(|()| stdout.flush())
            .map_err(|e| io("stdout", e))?;
        drop(stdout);
        serve_with_shutdown(state, listener)
            .await
            .map_err(|e| io("serving", e))
    })
}
