//! `vgi-worker`: serves buffering functions to VGI clients over stdin/stdout
//! with `vgi-rpc`, speaking protocol `vgi.v2` (see [`crate::protocol`]).
//!
//! Every phase is stateless in the worker: the bind of an execution is kept
//! in the store under its execution id (by the sink `init`), so any worker
//! process can serve any `process`, `combine` or finalize `init`.

mod bound;
mod catalog;
mod handlers;

use std::sync::Arc;

use vgi_rpc::server::{MethodInfo, MethodType, RpcServer};

use crate::protocol::{methods, schemas, PROTOCOL_NAME, PROTOCOL_VERSION};
use crate::store::BufferingStore;
use crate::{Result, TableBufferingFunction};

pub use handlers::Worker;

/// Serves `functions` on stdin/stdout until the client closes stdin.
pub fn serve_stdio(functions: Vec<Box<dyn TableBufferingFunction>>) -> Result<()> {
    let worker = Arc::new(Worker::new(functions, Arc::new(BufferingStore::new()?)));
    let server = server(worker);
    server.serve(std::io::stdin().lock(), std::io::stdout().lock());
    Ok(())
}

/// The RPC server with every method of the protocol `worker` implements.
pub fn server(worker: Arc<Worker>) -> RpcServer {
    let mut server = RpcServer::builder()
        .protocol_name(PROTOCOL_NAME)
        .protocol_version(PROTOCOL_VERSION)
        .server_id(format!("vgi-worker-{}", std::process::id()))
        .build();
    let wrapped = |name: &str, handler: handlers::Unary| {
        let worker = worker.clone();
        MethodInfo::unary(
            name,
            schemas::wrapped_params(),
            schemas::wrapped_result(),
            move |request, ctx| handler(&worker, request, ctx),
        )
    };
    server.register(wrapped(methods::CATALOG_ATTACH, Worker::catalog_attach));
    server.register(wrapped(methods::BIND, Worker::bind));
    server.register(wrapped(methods::PROCESS, Worker::process));
    server.register(wrapped(methods::COMBINE, Worker::combine));
    server.register(wrapped(methods::DESTRUCTOR, Worker::destructor));
    let flat = |name: &str, params, handler: handlers::Unary| {
        let worker = worker.clone();
        MethodInfo::unary(
            name,
            params,
            schemas::wrapped_result(),
            move |request, ctx| handler(&worker, request, ctx),
        )
    };
    server.register(flat(
        methods::CATALOG_SCHEMAS,
        schemas::catalog_schemas_params(),
        Worker::catalog_schemas,
    ));
    server.register(flat(
        methods::SCHEMA_FUNCTIONS,
        schemas::schema_contents_functions_params(),
        Worker::schema_functions,
    ));
    for name in methods::SCHEMA_EMPTY_LISTINGS {
        server.register(flat(
            name,
            schemas::schema_contents_params(),
            Worker::empty_listing,
        ));
    }
    let init_worker = worker.clone();
    server.register(
        MethodInfo::stream(
            methods::INIT,
            MethodType::Producer,
            schemas::wrapped_params(),
            move |request, ctx| init_worker.init(request, ctx),
        )
        .with_stream_kind("producer"),
    );
    server
}
