//! One execution run by `vgi-worker` processes: every call of the lifecycle
//! goes to a worker of the pool, over protocol `vgi.v2`.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::pool::{Pool, Worker};
use crate::protocol::rows::{schema_to_ipc, unwrap, wrap_request, Record, Row};
use crate::protocol::{methods, phases, schemas};
use crate::sdk::ipc::encode_batch;
use crate::{Arguments, Error, Result, Settings, TableProducer};

/// What a remote execution needs of its bound call.
pub(crate) struct RemoteCall<'a> {
    pub(crate) function: &'a str,
    pub(crate) input_schema: &'a SchemaRef,
    pub(crate) output_schema: &'a SchemaRef,
    pub(crate) arguments: &'a Arguments,
    pub(crate) settings: &'a Settings,
}

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
    /// Binds the call in a worker and opens its execution there (sink init);
    /// returns the execution and the id the worker gave it.
    pub(crate) fn start(
        pool: Arc<Pool>,
        call: RemoteCall,
        projection: Option<&[usize]>,
        logs: Arc<Mutex<Vec<String>>>,
    ) -> Result<Self> {
        let bind_call = Row::new(schemas::bind_request())
            .str("function_name", call.function)
            .bytes("arguments", &call.arguments.to_ipc_bytes()?)
            .enum_value("function_type", "TABLE")
            .bytes("input_schema", &schema_to_ipc(call.input_schema)?)
            .bytes("settings", &settings_batch(call.settings)?)
            .to_ipc()?;
        let mut init_request = Row::new(schemas::init_request())
            .bytes("bind_call", &bind_call)
            .bytes("output_schema", &schema_to_ipc(call.output_schema)?);
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
            pool,
            function: call.function.to_string(),
            exec: Vec::new(),
            init_request,
            logs,
        };
        let request = remote
            .init_request
            .clone()
            .enum_value("phase", phases::SINK);
        remote.exec = remote.with_worker(|worker| {
            let params = wrap_request(request.to_ipc()?)?;
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

    /// Runs `f` on a worker of the pool; the worker returns to the pool if
    /// the call succeeded. Errors name the worker.
    fn with_worker<T>(&self, f: impl FnOnce(&mut Worker) -> Result<T>) -> Result<T> {
        let mut worker = self.pool.checkout()?;
        let result = f(&mut worker);
        self.keep_logs(worker.take_logs());
        let label = worker.pid_label.clone();
        // After a failed call the connection may hold unread bytes (a stream
        // the server still drains): the worker exits rather than serve again.
        if result.is_ok() {
            self.pool.checkin(worker);
        }
        result.map_err(|e| in_worker(e, &label))
    }

    fn keep_logs(&self, lines: Vec<String>) {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(lines);
    }

    /// A wrapped unary call; returns the result record.
    fn call(worker: &mut Worker, method: &str, request: Row) -> Result<RecordBatch> {
        let params = wrap_request(request.to_ipc()?)?;
        let (result, _) = worker
            .client
            .call_unary(method, &params, None)
            .map_err(remote_error)?;
        unwrap(&result, "result")
    }

    pub(crate) fn process(&self, batch: &RecordBatch, batch_index: Option<i64>) -> Result<Vec<u8>> {
        let request = Row::new(schemas::process_request())
            .str("function_name", &self.function)
            .bytes("execution_id", &self.exec)
            .bytes("input_batch", &encode_batch(batch)?)
            .i64("batch_index", batch_index);
        self.with_worker(|worker| {
            let result = Self::call(worker, methods::PROCESS, request)?;
            Record::new(&result, "process result")?.bytes("state_id")
        })
    }

    pub(crate) fn combine(&self, state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        let request = Row::new(schemas::combine_request())
            .str("function_name", &self.function)
            .bytes("execution_id", &self.exec)
            .byte_list("state_ids", state_ids);
        self.with_worker(|worker| {
            let result = Self::call(worker, methods::COMBINE, request)?;
            Record::new(&result, "combine result")?.byte_list("finalize_state_ids")
        })
    }

    /// Streams the batches of one finalize id from a worker, on a thread of
    /// its own that holds the worker for the stream's life.
    pub(crate) fn finalize(&self, finalize_id: Vec<u8>) -> Result<Box<dyn TableProducer>> {
        let request = self
            .init_request
            .clone()
            .enum_value("phase", phases::FINALIZE)
            .bytes("execution_id", &self.exec)
            .bytes("finalize_state_id", &finalize_id);
        let params = wrap_request(request.to_ipc()?)?;
        let mut worker = self.pool.checkout()?;
        let (tx, rx) = sync_channel::<Result<RecordBatch>>(1);
        let pool = self.pool.clone();
        let logs = self.logs.clone();
        std::thread::spawn(move || {
            let label = worker.pid_label.clone();
            let failed = |e| Err(in_worker(remote_error(e), &label));
            // Only a stream read to its end leaves the connection in step.
            let mut finished = false;
            match worker
                .client
                .open_producer(methods::INIT, &params, None, true)
            {
                Err(e) => {
                    tx.send(failed(e)).ok();
                }
                Ok(mut session) => loop {
                    match session.tick() {
                        Ok(Some((batch, _))) => {
                            if tx.send(Ok(batch)).is_err() {
                                // The query stopped reading (LIMIT, error).
                                session.cancel().ok();
                                break;
                            }
                        }
                        Ok(None) => {
                            finished = session.close().is_ok();
                            tx.send(Ok(RecordBatch::new_empty(Arc::new(Schema::empty()))))
                                .ok();
                            break;
                        }
                        Err(e) => {
                            tx.send(failed(e)).ok();
                            break;
                        }
                    }
                },
            }
            logs.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(worker.take_logs());
            if finished {
                pool.checkin(worker);
            }
        });
        Ok(Box::new(RemoteProducer { rx, done: false }))
    }

    /// Asks a worker to remove the execution's state (best effort: the
    /// caller clears the store too).
    pub(crate) fn end(&self) {
        let request = Row::new(schemas::destructor_request())
            .str("function_name", &self.function)
            .bytes("execution_id", &self.exec);
        if let Err(e) =
            self.with_worker(|worker| Self::call(worker, methods::DESTRUCTOR, request).map(drop))
        {
            eprintln!("vgi: {}: {e}", self.function);
        }
    }
}

/// A worker's error: a function's own error (sent as `ValueError`) keeps its
/// message; any other (the worker died, timed out, broke the protocol) says
/// what happened.
fn remote_error(e: vgi_rpc_client::RpcError) -> Error {
    if e.error_type == "ValueError" {
        Error::function(e.message)
    } else {
        Error::function(format!(
            "the worker failed: {}: {}",
            e.error_type, e.message
        ))
    }
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
