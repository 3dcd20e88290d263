//! A call bound by a `vgi-worker` and its executions: every call of the
//! lifecycle (bind included) goes to a worker of the pool, over protocol
//! `vgi.v3`, as a VGI client makes it, through a pipe or over HTTP.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::gather::{one_batch, Gather};
use super::http::{NOT_CONNECTED, TIMED_OUT};
use super::pool::{Pool, Worker, MAX_IDLE};
use super::shared::Metadata;
use crate::execution::RemoteCall;
use crate::in_place::InPlace;
use vgi::ipc::encode_batch;
use vgi::protocol::args::to_wire;
use vgi::protocol::rows::{schema_from_ipc, schema_to_ipc, unwrap, wrap_request, Record, Row};
use vgi::protocol::shm::Slot;
use vgi::protocol::{methods, phases, schemas, shm, SCHEMA_NAME};
use vgi::{Error, Result, Settings, TableProducer};

/// A call bound by a worker's `bind`: the request and what it answered,
/// which every execution of the call sends at its sink `init`.
pub(crate) struct RemoteBind {
    pool: Arc<Pool>,
    function: String,
    bind_call: Vec<u8>,
    output_schema_ipc: Vec<u8>,
    output_schema: SchemaRef,
    opaque_data: Option<Vec<u8>>,
}

impl RemoteBind {
    /// Binds `call` in a worker of `pool`: the function's `on_bind` runs
    /// there, not in this process.
    pub(crate) fn bind(pool: Arc<Pool>, call: RemoteCall) -> Result<Self> {
        let arguments = encode_batch(&to_wire(call.params, call.arguments)?)?;
        let bind_call = Row::new(schemas::bind_request())
            .str("function_name", call.function)
            .bytes("arguments", &arguments)
            .enum_value("function_type", "TABLE_BUFFERING")
            .bytes("input_schema", &schema_to_ipc(call.input_schema)?)
            .bytes("settings", &settings_batch(call.settings)?)
            .strings("schema_path", &schema_path());
        let logs = Arc::default();
        let (response, _) = with_worker(&pool, &logs, |worker| {
            call_wrapped(worker, methods::BIND, bind_call.clone())
        })?;
        let response = Record::new(&response, "bind result")?;
        let output_schema_ipc = response.bytes("output_schema")?;
        Ok(RemoteBind {
            function: call.function.to_string(),
            bind_call: bind_call.to_ipc()?,
            output_schema: schema_from_ipc(&output_schema_ipc)?,
            output_schema_ipc,
            opaque_data: response.opt_bytes("opaque_data")?,
            pool,
        })
    }

    /// The output schema the worker's bind returned.
    pub(crate) fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// The opaque data the worker's bind returned.
    pub(crate) fn opaque_data(&self) -> Option<Vec<u8>> {
        self.opaque_data.clone()
    }
}

/// The schema the worker lists its functions in, as calls name it.
fn schema_path() -> [String; 1] {
    [SCHEMA_NAME.to_string()]
}

/// A state id and the label of the worker that returned it.
pub(crate) type Processed = (Vec<u8>, String);

/// One execution of a [`RemoteBind`].
#[derive(Clone)]
pub(crate) struct Remote {
    pool: Arc<Pool>,
    function: String,
    exec: Vec<u8>,
    init_request: Row,
    logs: Arc<Mutex<Vec<String>>>,
}

/// The one-row batch of the settings, as text.
fn settings_batch(settings: &Settings) -> Result<Vec<u8>> {
    let (fields, columns): (Vec<Field>, Vec<_>) = settings
        .iter()
        .map(|(name, value)| {
            (
                Field::new(name, DataType::Utf8, true),
                Arc::new(StringArray::from(vec![value])) as _,
            )
        })
        .unzip();
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(1));
    let batch =
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)?;
    encode_batch(&batch)
}

impl Remote {
    /// Opens an execution of `bound` in a worker (sink init); the worker
    /// gives it its id.
    pub(crate) fn start(
        bound: &RemoteBind,
        projection: Option<&[usize]>,
        logs: Arc<Mutex<Vec<String>>>,
    ) -> Result<Self> {
        let mut init_request = Row::new(schemas::init_request())
            .bytes("bind_call", &bound.bind_call)
            .bytes("output_schema", &bound.output_schema_ipc)
            .opt_bytes("bind_opaque_data", bound.opaque_data.as_deref());
        if let Some(columns) = projection {
            let ids: Vec<Option<i64>> = columns.iter().map(|c| Some(*c as i64)).collect();
            init_request = init_request.set(
                "projection_ids",
                Arc::new(arrow_array::ListArray::from_iter_primitive::<
                    arrow_array::types::Int64Type,
                    _,
                    _,
                >(vec![Some(ids)])),
            );
        }
        let mut remote = Remote {
            pool: bound.pool.clone(),
            function: bound.function.clone(),
            exec: Vec::new(),
            init_request,
            logs,
        };
        let request = remote
            .init_request
            .clone()
            .enum_value("phase", phases::SINK);
        (remote.exec, _) = remote.with_worker(|worker| {
            let params = wrap_request(request.clone().to_ipc()?)?;
            let mut session = worker
                .client
                .open_producer(methods::INIT, &params, None, true)
                .map_err(remote_error)?;
            let exec = match session.header() {
                Some((header, _)) => Record::new(header, "init header")?.bytes("execution_id")?,
                None => return Err(Error::function("the worker's init sent no header")),
            };
            while session.tick().map_err(remote_error)?.is_some() {}
            session.close().map_err(remote_error)?;
            Ok(exec)
        })?;
        Ok(remote)
    }

    /// The id of this execution, chosen by the worker.
    pub(crate) fn execution_id(&self) -> &[u8] {
        &self.exec
    }

    /// Runs `f` on a worker of the pool (see [`with_worker`]).
    fn with_worker<T>(&self, f: impl FnMut(&mut Worker) -> Result<T>) -> Result<(T, String)> {
        with_worker(&self.pool, &self.logs, f)
    }

    /// Sinks `batch` in a worker; returns the state id and the worker's label.
    /// The batch crosses in the worker connection's shared memory, or inline
    /// in the request where there is none (or the worker cannot use it).
    pub(crate) fn process(
        &self,
        batch: &RecordBatch,
        batch_index: Option<i64>,
    ) -> Result<(Vec<u8>, String)> {
        self.with_worker(|worker| {
            if let Some(metadata) = worker.shared.input(batch) {
                match call(
                    worker,
                    methods::PROCESS,
                    self.process_request(&[], batch_index),
                    Some(&metadata),
                )? {
                    Ok(result) => {
                        worker.shared.used();
                        return Record::new(&result, "process result")?.bytes("state_id");
                    }
                    Err(e) if e.error_type == shm::REFUSED => worker.shared.refused(&e.message),
                    Err(e) => return Err(remote_error(e)),
                }
            }
            let request = self.process_request(&encode_batch(batch)?, batch_index);
            let result = call_wrapped(worker, methods::PROCESS, request)?;
            Record::new(&result, "process result")?.bytes("state_id")
        })
    }

    /// Sinks the batch gathered into `worker`'s segment at `slot` (see
    /// [`super::gather`]); the state id and the worker's label, and the
    /// worker to keep, unless the call broke its connection. Where the
    /// worker cannot use the segment the batch goes inline; where it died
    /// before the request, to another worker.
    pub(crate) fn process_in_segment(
        &self,
        mut worker: Worker,
        slot: Slot,
    ) -> Result<(Processed, Option<Worker>)> {
        let label = worker.pid_label.clone();
        let named = worker.label();
        let metadata = worker
            .shared
            .input_at(slot)
            .ok_or_else(|| Error::function("a gathered batch without shared memory"))?;
        let outcome = call(
            &mut worker,
            methods::PROCESS,
            self.process_request(&[], None),
            Some(&metadata),
        );
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(worker.take_logs());
        let failure = match outcome? {
            Ok(result) => {
                worker.shared.used();
                let state_id = Record::new(&result, "process result")?.bytes("state_id")?;
                return Ok(((state_id, label), Some(worker)));
            }
            Err(e) if e.error_type == shm::REFUSED => {
                let batch = one_batch(worker.shared.copy_out(slot)?)?;
                worker.shared.refused(&e.message);
                let request = self.process_request(&encode_batch(&batch)?, None);
                return match call_wrapped(&mut worker, methods::PROCESS, request)
                    .and_then(|result| Record::new(&result, "process result")?.bytes("state_id"))
                {
                    Ok(state_id) => Ok(((state_id, label), Some(worker))),
                    Err(e) => Err(in_worker(e, &named)),
                };
            }
            Err(e) => remote_error(e),
        };
        if died_before_request(&failure) {
            let batch = one_batch(worker.shared.copy_out(slot)?)?;
            self.pool.refused(&worker);
            return Ok((self.process(&batch, None)?, None));
        }
        Err(in_worker(failure, &named))
    }

    /// A process request for the input batch `input` (empty: in shared memory).
    fn process_request(&self, input: &[u8], batch_index: Option<i64>) -> Row {
        Row::new(schemas::process_request())
            .str("function_name", &self.function)
            .bytes("execution_id", &self.exec)
            .bytes("input_batch", input)
            .i64("batch_index", batch_index)
            .strings("schema_path", &schema_path())
    }

    /// A sinking thread's gatherer of number columns for its worker's
    /// shared memory (see [`super::gather`]); `None` when the input has
    /// other columns or the pool's batches do not cross in shared memory.
    pub(crate) fn batch_sink(&self, schema: &Schema, batch_rows: usize) -> Result<Option<InPlace>> {
        if !self.pool.shares_memory() {
            return Ok(None);
        }
        Ok(Gather::new(self.clone(), schema, batch_rows)?
            .map(|gather| InPlace::batches(Box::new(gather))))
    }

    /// A worker of the pool, kept by a sinking thread (see [`super::gather`]).
    pub(crate) fn checkout(&self) -> Result<Worker> {
        self.pool.checkout()
    }

    /// Gives back a worker [checked out](Self::checkout) whose calls all succeeded.
    pub(crate) fn checkin(&self, worker: Worker) {
        self.pool.checkin(worker);
    }

    /// Combines in a worker; returns the finalize ids and the worker's label.
    pub(crate) fn combine(&self, state_ids: &[Vec<u8>]) -> Result<(Vec<Vec<u8>>, String)> {
        let request = Row::new(schemas::combine_request())
            .str("function_name", &self.function)
            .bytes("execution_id", &self.exec)
            .byte_list("state_ids", state_ids)
            .strings("schema_path", &schema_path());
        self.with_worker(|worker| {
            let result = call_wrapped(worker, methods::COMBINE, request.clone())?;
            Record::new(&result, "combine result")?.byte_list("finalize_state_ids")
        })
    }

    /// Streams the batches of one finalize id from a worker, on a thread of
    /// its own that holds the worker for the stream's life.
    pub(crate) fn finalize(
        &self,
        finalize_id: Vec<u8>,
    ) -> Result<(Box<dyn TableProducer>, String)> {
        let request = self
            .init_request
            .clone()
            .enum_value("phase", phases::FINALIZE)
            .bytes("execution_id", &self.exec)
            .bytes("finalize_state_id", &finalize_id);
        let params = wrap_request(request.to_ipc()?)?;
        let mut worker = self.pool.checkout()?;
        let used = worker.pid_label.clone();
        let (tx, rx) = sync_channel::<Result<RecordBatch>>(1);
        let pool = self.pool.clone();
        let logs = self.logs.clone();
        std::thread::spawn(move || {
            let mut attempt = 0;
            loop {
                let outcome = stream(&mut worker, &params, &tx);
                logs.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(worker.take_logs());
                match outcome {
                    // Only a stream read to its end leaves the connection in step.
                    Streamed::ToTheEnd => pool.checkin(worker),
                    // A worker that died while idle never got the request:
                    // retry on another (the lifecycle line names the first).
                    Streamed::NotSent(_) if attempt < MAX_IDLE => {
                        attempt += 1;
                        pool.refused(&worker);
                        match pool.checkout() {
                            Ok(next) => {
                                worker = next;
                                continue;
                            }
                            Err(e) => {
                                tx.send(Err(e)).ok();
                            }
                        }
                    }
                    Streamed::NotSent(e) => {
                        tx.send(Err(e)).ok();
                    }
                    Streamed::Stopped => {}
                }
                return;
            }
        });
        Ok((Box::new(RemoteProducer { rx, done: false }), used))
    }

    /// Asks a worker to remove the execution's state, on a thread of its
    /// own: the query's end never waits for a worker (one that hangs would
    /// hold it forever with `vgi_worker_timeout_seconds = 0`). Best effort:
    /// the caller clears the store itself.
    pub(crate) fn end(&self) {
        let request = Row::new(schemas::destructor_request())
            .str("function_name", &self.function)
            .bytes("execution_id", &self.exec)
            .strings("schema_path", &schema_path());
        let (pool, logs, function) = (self.pool.clone(), self.logs.clone(), self.function.clone());
        let destructor = move || {
            if let Err(e) = with_worker(&pool, &logs, |worker| {
                call_wrapped(worker, methods::DESTRUCTOR, request.clone()).map(drop)
            }) {
                eprintln!("vgi: {function}: {e}");
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("vgi-destructor".into())
            .spawn(destructor)
        {
            eprintln!("vgi: {}: cannot send the destructor: {e}", self.function);
        }
    }
}

/// Runs `f` on a worker of `pool`; the worker returns to the pool if the
/// call succeeded, and the lines it logged go to `logs`. Errors name the
/// worker.
fn with_worker<T>(
    pool: &Pool,
    logs: &Mutex<Vec<String>>,
    mut f: impl FnMut(&mut Worker) -> Result<T>,
) -> Result<(T, String)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut worker = pool.checkout()?;
        let result = f(&mut worker);
        logs.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(worker.take_logs());
        let label = worker.pid_label.clone();
        let named = worker.label();
        // After a failed call the connection may hold unread bytes (a
        // stream the server still drains): the worker exits rather than
        // serve again.
        match result {
            Ok(value) => {
                pool.checkin(worker);
                return Ok((value, label));
            }
            // A worker that died while idle: the request never reached
            // it, so another worker may take it.
            Err(e) if died_before_request(&e) && attempt <= MAX_IDLE => {
                pool.refused(&worker);
                continue;
            }
            Err(e) => return Err(in_worker(e, &named)),
        }
    }
}

/// A wrapped unary call; returns the result record.
fn call_wrapped(worker: &mut Worker, method: &str, request: Row) -> Result<RecordBatch> {
    call(worker, method, request, None)?.map_err(remote_error)
}

/// A wrapped unary call with request metadata; the worker's error, if it
/// answered one, as it sent it.
fn call(
    worker: &mut Worker,
    method: &str,
    request: Row,
    metadata: Option<&Metadata>,
) -> Result<std::result::Result<RecordBatch, vgi_rpc_client::RpcError>> {
    let params = wrap_request(request.to_ipc()?)?;
    match worker.client.call_unary(method, &params, metadata) {
        Ok((result, _)) => Ok(Ok(unwrap(&result, "result")?)),
        Err(e) => Ok(Err(e)),
    }
}

/// How a finalize stream ended.
enum Streamed {
    /// Every batch was read and the stream closed.
    ToTheEnd,
    /// The worker was gone before it got the request.
    NotSent(Error),
    /// The stream failed (the error went to the reader) or the reader left.
    Stopped,
}

/// Streams the batches of the finalize `init` in `params` from `worker` to `tx`.
fn stream(
    worker: &mut Worker,
    params: &RecordBatch,
    tx: &std::sync::mpsc::SyncSender<Result<RecordBatch>>,
) -> Streamed {
    let label = worker.label();
    let failed = |e| Err(in_worker(remote_error(e), &label));
    let metadata = worker.shared.for_stream();
    let Worker { client, shared, .. } = worker;
    let mut session = match client.open_producer(methods::INIT, params, metadata.as_ref(), true) {
        Ok(session) => session,
        Err(e) => {
            let e = in_worker(remote_error(e), &label);
            if died_before_request(&e) {
                return Streamed::NotSent(e);
            }
            tx.send(Err(e)).ok();
            return Streamed::Stopped;
        }
    };
    loop {
        match session.tick() {
            Ok(Some((batch, batch_metadata))) => {
                let batch = match shared.output(&batch_metadata) {
                    None => Ok(batch),
                    Some(Ok(mut batches)) if batches.len() == 1 => Ok(batches.remove(0)),
                    Some(Ok(batches)) => Err(in_worker(
                        Error::function(format!(
                            "finalize: expected one batch in shared memory, got {}",
                            batches.len()
                        )),
                        &label,
                    )),
                    Some(Err(e)) => Err(in_worker(e, &label)),
                };
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    // The query stopped reading (LIMIT, error), or the
                    // batch could not be read out of shared memory.
                    session.cancel().ok();
                    return Streamed::Stopped;
                }
            }
            Ok(None) => {
                let closed = session.close().is_ok();
                if closed {
                    shared.used();
                }
                tx.send(Ok(RecordBatch::new_empty(Arc::new(Schema::empty()))))
                    .ok();
                return if closed {
                    Streamed::ToTheEnd
                } else {
                    Streamed::Stopped
                };
            }
            Err(e) => {
                tx.send(failed(e)).ok();
                return Streamed::Stopped;
            }
        }
    }
}

/// A worker's error: a function's own error (sent as `ValueError`) keeps its
/// message; any other (the worker died, timed out, broke the protocol) says
/// what happened.
fn remote_error(e: vgi_rpc_client::RpcError) -> Error {
    if e.error_type == "ValueError" {
        return Error::function(e.message);
    }
    // Over HTTP the transport's message already says what happened.
    if e.message.starts_with(NOT_CONNECTED) || e.message.starts_with(TIMED_OUT) {
        return Error::function(e.message);
    }
    let what = if e.message.contains("empty IPC stream") {
        "the worker exited before it answered"
    } else if e.message.contains("deadline elapsed") {
        "the worker did not answer within vgi_worker_timeout_seconds and was killed"
    } else if e.error_type == "HttpError" || e.error_type == "ProtocolError" {
        "the worker's answer is not VGI's"
    } else {
        "the worker failed"
    };
    Error::function(format!("{what} ({}: {})", e.error_type, e.message))
}

/// Whether the request never reached the worker: writing it failed because
/// the worker process was gone (it exited or was killed while idle in the
/// pool), or no connection to the HTTP worker could be made.
fn died_before_request(e: &Error) -> bool {
    let message = e.to_string();
    message.contains("Broken pipe (os error 32)") || message.contains(NOT_CONNECTED)
}

fn in_worker(e: Error, label: &str) -> Error {
    Error::function(format!("{e} ({label})"))
}

/// The batches a finalize thread receives; an empty zero-column batch marks
/// the end of the stream.
struct RemoteProducer {
    rx: Receiver<Result<RecordBatch>>,
    done: bool,
}

impl TableProducer for RemoteProducer {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        match self.rx.recv() {
            Ok(Ok(batch)) if batch.num_columns() == 0 => {
                self.done = true;
                Ok(None)
            }
            Ok(result) => result.map(Some),
            Err(_) => Err(Error::function(
                "finalize: the worker's stream ended without its end marker",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pool::{test_pool, test_program};
    use super::*;
    use std::time::Duration;

    #[test]
    fn ending_an_execution_does_not_wait_for_a_worker_that_never_answers() {
        let dir = tempfile::tempdir().unwrap();
        // Reads the request and never answers (no timeout is set).
        let program = test_program(dir.path(), "stuck-worker", "exec cat >/dev/null");
        let remote = Remote {
            pool: Arc::new(test_pool(&program, 1)),
            function: "buffer_input".into(),
            exec: b"e".to_vec(),
            init_request: Row::new(schemas::init_request()),
            logs: Arc::default(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            remote.end();
            tx.send(()).ok();
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the query's end returned while the worker was still silent");
    }
}
