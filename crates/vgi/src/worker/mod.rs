//! `vgi-worker`: serves buffering functions to VGI clients over stdin/stdout
//! with `vgi-rpc`, speaking protocol `vgi.v3` (see [`crate::protocol`]).
//!
//! Every phase is stateless in the worker: the sink `init` keeps the
//! execution's InitRequest (bind call, output schema, the bind's opaque
//! data) in the store under its execution id, so any worker process can
//! serve any `process`, `combine` or finalize `init`. An execution's state is
//! removed by the destructor, after its last finalize stream, or after it
//! went unused for [`WorkerOptions::idle`].

mod bound;
mod catalog;
mod cleanup;
mod handlers;
#[cfg(feature = "http")]
mod http;
mod resume;
mod stdio;
mod store;
mod streams;

use std::sync::Arc;
use std::time::Duration;

use vgi_rpc::server::{MethodInfo, MethodType, RpcServer};

use crate::protocol::{methods, schemas, PROTOCOL_NAME, PROTOCOL_VERSION};
use crate::{Result, TableBufferingFunction};

pub use bound::opened_in;
pub use cleanup::DEFAULT_IDLE_EXECUTION_SECONDS;
pub use handlers::Worker;
#[cfg(feature = "http")]
pub use http::{serve_http, token_key_from_hex, HttpOptions, DEFAULT_REQUEST_TIMEOUT_SECONDS};
pub use store::open_store;

/// How a worker process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerOptions {
    /// An execution unused for this long is removed (its client never
    /// called the destructor nor read every finalize stream to its end).
    pub idle: Duration,
    /// Where state goes: `s3://bucket/prefix` (feature `object-store`,
    /// reached through the `AWS_*` environment variables) or a directory;
    /// `None` for the default store under `$TMPDIR` (see
    /// [`crate::store::default_root`]).
    pub store: Option<String>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            idle: Duration::from_secs(DEFAULT_IDLE_EXECUTION_SECONDS),
            store: None,
        }
    }
}

/// Serves `functions` on stdin/stdout until the client closes stdin.
pub fn serve_stdio(functions: Vec<Box<dyn TableBufferingFunction>>) -> Result<()> {
    serve_stdio_with(functions, WorkerOptions::default())
}

/// Like [`serve_stdio`], with `options`.
pub fn serve_stdio_with(
    functions: Vec<Box<dyn TableBufferingFunction>>,
    options: WorkerOptions,
) -> Result<()> {
    let store = Arc::new(open_store(options.store.as_deref())?);
    let worker = Arc::new(Worker::new(functions, store, options.idle));
    spawn_sweeper(worker.clone());
    let server = server(worker);
    let (input, output) = stdio::buffered(std::io::stdin().lock(), std::io::stdout().lock());
    server.serve(input, output);
    Ok(())
}

/// Looks for idle executions in the background for the life of the process.
fn spawn_sweeper(worker: Arc<Worker>) {
    let interval = cleanup::sweep_interval(worker.idle());
    std::thread::spawn(move || loop {
        std::thread::sleep(interval);
        if let Err(e) = worker.sweep() {
            eprintln!("vgi-worker: removing idle executions: {e}");
        }
    });
}

/// The RPC server with every method of the protocol `worker` implements.
pub fn server(worker: Arc<Worker>) -> RpcServer {
    let mut server = RpcServer::builder()
        .protocol_name(PROTOCOL_NAME)
        .protocol_version(PROTOCOL_VERSION)
        .server_id(format!("vgi-worker-{}", std::process::id()))
        .build();
    let unary = |name: &str, params, handler: handlers::Unary| {
        let worker = worker.clone();
        MethodInfo::unary(
            name,
            params,
            schemas::wrapped_result(),
            move |request, ctx| handler(&worker, request, ctx),
        )
    };
    let wrapped = |name, handler| unary(name, schemas::wrapped_params(), handler);
    server.register(wrapped(methods::CATALOG_ATTACH, Worker::catalog_attach));
    server.register(wrapped(methods::BIND, Worker::bind));
    server.register(wrapped(methods::PROCESS, Worker::process));
    server.register(wrapped(methods::COMBINE, Worker::combine));
    server.register(wrapped(methods::DESTRUCTOR, Worker::destructor));
    server.register(unary(
        methods::CATALOG_CATALOGS,
        schemas::catalog_catalogs_params(),
        Worker::catalog_catalogs,
    ));
    server.register(unary(
        methods::CATALOG_SCHEMAS,
        schemas::catalog_schemas_params(),
        Worker::catalog_schemas,
    ));
    server.register(unary(
        methods::SCHEMA_FUNCTIONS,
        schemas::schema_contents_functions_params(),
        Worker::schema_functions,
    ));
    server.register(unary(
        methods::SCHEMA_MACROS,
        schemas::schema_contents_functions_params(),
        Worker::empty_listing,
    ));
    for name in methods::SCHEMA_EMPTY_LISTINGS {
        server.register(unary(
            name,
            schemas::schema_contents_params(),
            Worker::empty_listing,
        ));
    }
    // Dynamic, as VGI declares it: the output schema is the bound call's.
    let init_worker = worker.clone();
    server.register(
        MethodInfo::stream(
            methods::INIT,
            MethodType::Dynamic,
            schemas::wrapped_params(),
            move |request, ctx| init_worker.init(request, ctx),
        )
        .with_state_decoder(resume::decoder(worker.clone()))
        .with_stream_kind("producer")
        .header_schema(schemas::global_init_response()),
    );
    server
}
