//! One connection to a worker, whichever transport carries it: a worker
//! process's stdin/stdout, or a worker's HTTP endpoint (remote execution).
//! Both speak `vgi.v3` the same way; only the streams' plumbing differs.

use arrow_array::RecordBatch;
use vgi_rpc_client::{HttpClient, HttpStreamSession, Metadata, Result, RpcClient, StreamSession};

/// A client of one worker.
pub(crate) enum Client {
    /// A worker process started by the pool.
    Pipe(RpcClient),
    /// A worker behind an HTTP URL of `vgi_worker_urls`.
    Http(Box<HttpClient>),
}

/// A producer stream opened on a [`Client`].
pub(crate) enum Session<'c> {
    Pipe(Box<StreamSession<'c>>),
    Http(HttpStreamSession<'c>),
}

impl Client {
    /// A unary call: the result batch and its metadata.
    pub(crate) fn call_unary(
        &mut self,
        method: &str,
        params: &RecordBatch,
        metadata: Option<&Metadata>,
    ) -> Result<(RecordBatch, Metadata)> {
        match self {
            Client::Pipe(client) => client.call_unary(method, params, metadata),
            Client::Http(client) => client.call_unary(method, params, metadata),
        }
    }

    /// Opens a producer stream (its header read when `has_header`).
    pub(crate) fn open_producer(
        &mut self,
        method: &str,
        params: &RecordBatch,
        metadata: Option<&Metadata>,
        has_header: bool,
    ) -> Result<Session<'_>> {
        Ok(match self {
            Client::Pipe(client) => Session::Pipe(Box::new(
                client.open_producer(method, params, metadata, has_header)?,
            )),
            Client::Http(client) => {
                Session::Http(client.open_producer(method, params, metadata, has_header)?)
            }
        })
    }

    /// Whether another call may follow on this connection. Every HTTP
    /// request stands alone, so an HTTP client always may.
    pub(crate) fn is_reusable(&self) -> bool {
        match self {
            Client::Pipe(client) => client.is_reusable(),
            Client::Http(_) => true,
        }
    }
}

impl Session<'_> {
    /// The stream's header batch, if it has one.
    pub(crate) fn header(&self) -> Option<&(RecordBatch, Metadata)> {
        match self {
            Session::Pipe(session) => session.header(),
            Session::Http(session) => session.header(),
        }
    }

    /// The next batch, or `None` at the end of the stream.
    pub(crate) fn tick(&mut self) -> Result<Option<(RecordBatch, Metadata)>> {
        match self {
            Session::Pipe(session) => session.tick(),
            Session::Http(session) => session.tick(),
        }
    }

    /// Stops the stream before its end.
    pub(crate) fn cancel(&mut self) -> Result<()> {
        match self {
            Session::Pipe(session) => session.cancel(),
            Session::Http(session) => session.cancel(),
        }
    }

    /// Closes a stream read to its end.
    pub(crate) fn close(&mut self) -> Result<()> {
        match self {
            Session::Pipe(session) => session.close(),
            Session::Http(session) => session.close(),
        }
    }
}
