//! A bound call and its executions, as the operator drives them: bind once,
//! then per query `process` per batch, `combine` once, and one producer per
//! finalize state id.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::arrow_ffi::{check_batch_schema, WireSchema};
use super::in_place::{Finished, InPlace, Sent, VgiColumn};
use super::registry::RegisteredFunction;
use super::registry::{DEFAULT_PROCESS_BATCH_ROWS, PROCESS_BATCH_ROWS_SETTING};
use super::subprocess::{
    check_settings, pool_for, store_for, Remote, RemoteBind, STORE_URL_SETTING,
};
use crate::memory_budget::memory_budget;
use crate::s3_secret::split_s3_secret;
use vgi::sdk::{
    check_arguments, ArgSpec, Arguments, BindParams, BufferingParams, Error, Interrupt, Settings,
    TableProducer,
};
use vgi::store::{new_execution_id, BufferingStore};
use vgi::Result;

/// What binding one call produced; shared by its executions.
pub(crate) struct BoundCall {
    pub(crate) function: Arc<RegisteredFunction>,
    store: Arc<BufferingStore>,
    input_schema: WireSchema,
    pub(crate) output_schema: SchemaRef,
    arguments: Arguments,
    settings: Settings,
    opaque_data: Option<Vec<u8>>,
    /// Set when a worker bound the call (`vgi_execution = 'subprocess'` or
    /// `'remote'`): its executions run in workers too.
    remote: Option<RemoteBind>,
    /// Bytes the store's memory tier may hold (`vgi_memory_budget`); 0: none.
    memory_budget: usize,
}

impl BoundCall {
    /// Bytes the store's memory tier may hold for its executions
    /// (`vgi_memory_budget`), also what the bridge keeps of freed batch
    /// memory for the next batches.
    pub(crate) fn memory_budget(&self) -> usize {
        self.memory_budget
    }

    /// Checks the arguments against the function's specs and runs `on_bind`,
    /// in this process or, in subprocess execution, in a worker.
    /// `external_access` is DuckDB's `enable_external_access` (without it,
    /// only the vgi-worker beside the extension may be started).
    pub(crate) fn bind(
        function: Arc<RegisteredFunction>,
        input_schema: WireSchema,
        arguments: Arguments,
        settings: Settings,
        external_access: bool,
    ) -> Result<Self> {
        let (settings, s3_secret) = split_s3_secret(settings);
        // Before the store, which remote execution reaches over the network.
        check_settings(&settings, external_access)?;
        let store = store_for(&settings, s3_secret.as_ref(), &function.store)?;
        let memory_budget = memory_budget(&settings)?;
        let pool = pool_for(&settings, &store, external_access)?;
        let (output_schema, opaque_data, remote) = match pool {
            Some(pool) => {
                let remote = RemoteBind::bind(
                    pool,
                    RemoteCall {
                        function: &function.name,
                        params: &function.params,
                        input_schema: &input_schema.schema,
                        arguments: &arguments,
                        settings: &settings,
                    },
                )?;
                (remote.output_schema(), remote.opaque_data(), Some(remote))
            }
            None => {
                check_arguments(&function.params, &arguments)?;
                let response = function.function.on_bind(&BindParams {
                    input_schema: input_schema.schema.clone(),
                    arguments: arguments.clone(),
                    settings: settings.clone(),
                })?;
                (response.output_schema, response.opaque_data, None)
            }
        };
        Ok(BoundCall {
            function,
            store,
            input_schema,
            output_schema,
            arguments,
            settings,
            opaque_data,
            remote,
            memory_budget,
        })
    }
}

/// What a worker's bind (subprocess mode) needs of a call.
#[cfg_attr(not(feature = "subprocess"), allow(dead_code))]
pub(crate) struct RemoteCall<'a> {
    pub(crate) function: &'a str,
    pub(crate) params: &'a [ArgSpec],
    pub(crate) input_schema: &'a SchemaRef,
    pub(crate) arguments: &'a Arguments,
    pub(crate) settings: &'a Settings,
}

/// A log line for DuckDB's logger.
pub(crate) enum LogLine {
    /// A lifecycle event (DEBUG level).
    Debug(String),
    /// A line the function logged with `BufferingParams::log` (INFO level).
    Info(String),
}

/// One execution (one query) of a bound call.
pub(crate) struct Execution {
    call: Arc<BoundCall>,
    execution_id: Vec<u8>,
    interrupt: Interrupt,
    /// The output columns the query reads, when DuckDB pushed a projection down.
    projection: Option<Vec<usize>>,
    /// The schema of the batches finalize produces (the projected output).
    produced_schema: SchemaRef,
    logs: Arc<Mutex<Vec<String>>>,
    /// Lifecycle events, recorded only when DuckDB logs at DEBUG level.
    lifecycle: Option<Mutex<Vec<String>>>,
    state_ids: Mutex<Vec<Vec<u8>>>,
    finalize_ids: Mutex<Vec<Vec<u8>>>,
    /// Set when the lifecycle runs in worker processes (`vgi_execution`).
    remote: Option<Remote>,
}

/// ` in worker #n` for a lifecycle line of a call a worker served.
fn in_worker(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!(" in {label}")
    }
}

impl Execution {
    /// Starts one execution of `call`; `external_access` is DuckDB's
    /// `enable_external_access` (without it, only the vgi-worker beside the
    /// extension may be started).
    pub(crate) fn start(
        call: Arc<BoundCall>,
        interrupt: Interrupt,
        debug_logs: bool,
        external_access: bool,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let produced_schema = match &projection {
            Some(columns) => Arc::new(call.output_schema.project(columns)?),
            None => call.output_schema.clone(),
        };
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let remote = match &call.remote {
            Some(bound) => {
                // A call bound before external access was disabled.
                check_settings(&call.settings, external_access)?;
                Some(Remote::start(bound, projection.as_deref(), logs.clone())?)
            }
            None => None,
        };
        // In process, the state stays in the store's memory tier up to the
        // budget, and the store claims the execution for this process at its
        // first write to a file; with workers, every write goes to files and
        // this process takes the execution over from the worker that opened
        // it, as it owns the query.
        let execution_id = match &remote {
            Some(remote) => {
                if let Err(e) = call.store.claim(remote.execution_id()) {
                    // The worker already stored the bind: remove it again.
                    remote.end();
                    call.store.clear(remote.execution_id()).ok();
                    return Err(e);
                }
                // The store removes the state at the query's end, whatever
                // became of the workers: it must be theirs.
                if !vgi::worker::opened_in(&call.store, remote.execution_id())? {
                    remote.end();
                    return Err(Error::InvalidArgument(format!(
                        "the workers keep their state in another store than {}: the execution \
                         they opened is not there ({STORE_URL_SETTING} must be the workers' --store)",
                        call.store.root().display()
                    )));
                }
                remote.execution_id().to_vec()
            }
            None => {
                let id = new_execution_id()?;
                if call.memory_budget > 0 {
                    call.store.keep_in_memory(&id, call.memory_budget);
                }
                id
            }
        };
        let exec = Execution {
            call,
            execution_id,
            interrupt,
            projection,
            produced_schema,
            logs,
            lifecycle: debug_logs.then(Mutex::default),
            state_ids: Mutex::default(),
            finalize_ids: Mutex::default(),
            remote,
        };
        exec.debug(|| format!("init execution_id={}", hex::encode(&exec.execution_id)));
        Ok(exec)
    }

    fn debug(&self, line: impl FnOnce() -> String) {
        if let Some(lines) = &self.lifecycle {
            lock(lines).push(format!("{}: {}", self.call.function.name, line()));
        }
    }

    /// The oldest log line not yet handed to DuckDB.
    pub(crate) fn next_log(&self) -> Option<LogLine> {
        if let Some(lines) = &self.lifecycle {
            let mut lines = lock(lines);
            if !lines.is_empty() {
                return Some(LogLine::Debug(lines.remove(0)));
            }
        }
        let mut lines = lock(&self.logs);
        (!lines.is_empty()).then(|| LogLine::Info(lines.remove(0)))
    }

    /// The schema of the batches `process` receives.
    pub(crate) fn input_schema(&self) -> &WireSchema {
        &self.call.input_schema
    }

    fn params(&self, batch_index: Option<i64>) -> BufferingParams {
        let call = &self.call;
        BufferingParams {
            execution_id: self.execution_id.clone(),
            storage: call.store.clone(),
            output_schema: call.output_schema.clone(),
            input_schema: call.input_schema.schema.clone(),
            arguments: call.arguments.clone(),
            settings: call.settings.clone(),
            attach_opaque_data: call.opaque_data.clone(),
            batch_index,
            projected_columns: self.projection.clone(),
            logs: self.logs.clone(),
            interrupt: self.interrupt.clone(),
        }
    }

    /// Sinks one batch and records the state id it returns.
    pub(crate) fn process(&self, batch: &RecordBatch, batch_index: Option<i64>) -> Result<()> {
        let (state_id, worker) = match &self.remote {
            Some(remote) => remote.process(batch, batch_index)?,
            None => {
                let params = self.params(batch_index);
                let state_id = self.call.function.function.process(&params, batch)?;
                (state_id, String::new())
            }
        };
        self.record_processed(batch.num_rows(), batch_index, state_id, &worker);
        Ok(())
    }

    /// Logs one processed batch and records its state id for `combine`.
    fn record_processed(
        &self,
        rows: usize,
        batch_index: Option<i64>,
        state_id: Vec<u8>,
        worker: &str,
    ) {
        self.debug(|| {
            format!(
                "process rows={rows} batch_index={batch_index:?} state_id={}{}",
                hex::encode(&state_id),
                in_worker(worker)
            )
        });
        lock(&self.state_ids).push(state_id);
    }

    /// The in-place sink of one sinking thread: the function's own when it
    /// has one and runs in this process; in worker processes, a gatherer
    /// of number columns for the thread's worker, where the input has only
    /// those and batches cross in shared memory.
    pub(crate) fn in_place_start(&self) -> Result<Option<InPlace>> {
        if let Some(remote) = &self.remote {
            let rows = self
                .call
                .settings
                .get_i64(PROCESS_BATCH_ROWS_SETTING)?
                .unwrap_or(DEFAULT_PROCESS_BATCH_ROWS);
            let rows = usize::try_from(rows.max(1)).unwrap_or(usize::MAX);
            return remote.batch_sink(&self.input_schema().schema, rows);
        }
        let sink = self
            .call
            .function
            .function
            .in_place_sink(&self.params(None))?;
        Ok(sink.map(InPlace::new))
    }

    /// Sinks one chunk in place and records the batches a gatherer sent.
    ///
    /// # Safety
    /// As [`InPlace::sink`].
    pub(crate) unsafe fn in_place_sink(
        &self,
        sink: &mut InPlace,
        columns: &[VgiColumn],
        rows: usize,
    ) -> Result<()> {
        // SAFETY: as this function's contract.
        let sunk = unsafe { sink.sink(&self.input_schema().schema, columns, rows) };
        self.record_sent(sink.take_sent());
        sunk
    }

    /// Ends a thread's in-place sink and records its state ids with those of `process`.
    pub(crate) fn in_place_finish(&self, sink: InPlace) -> Result<()> {
        let rows = sink.rows();
        match sink.finish()? {
            Finished::StateId(state_id) => {
                self.debug(|| {
                    format!(
                        "process rows={rows} batch_index=None state_id={} in place",
                        hex::encode(&state_id)
                    )
                });
                lock(&self.state_ids).push(state_id);
            }
            Finished::Sent(sent) => self.record_sent(sent),
        }
        Ok(())
    }

    /// Records the state ids of batches a gatherer sent to workers.
    fn record_sent(&self, sent: Vec<Sent>) {
        for batch in sent {
            self.record_processed(batch.rows, None, batch.state_id, &batch.worker);
        }
    }

    /// Runs `combine` over every state id; returns the number of finalize ids.
    pub(crate) fn combine(&self) -> Result<usize> {
        let state_ids = std::mem::take(&mut *lock(&self.state_ids));
        let (finalize_ids, worker) = match &self.remote {
            Some(remote) => remote.combine(&state_ids)?,
            None => {
                let params = self.params(None);
                let ids = self.call.function.function.combine(&params, &state_ids)?;
                (ids, String::new())
            }
        };
        let count = finalize_ids.len();
        self.debug(|| {
            format!(
                "combine state_ids={} finalize_ids={count}{}",
                state_ids.len(),
                in_worker(&worker)
            )
        });
        *lock(&self.finalize_ids) = finalize_ids;
        Ok(count)
    }

    /// Opens the producer of the `index`-th finalize id.
    pub(crate) fn finalize(&self, index: usize) -> Result<Producer> {
        let finalize_id = lock(&self.finalize_ids)
            .get(index)
            .cloned()
            .ok_or_else(|| {
                Error::InvalidArgument(format!("no finalize state id number {index}"))
            })?;
        let id = hex::encode(&finalize_id);
        let (inner, worker) = match &self.remote {
            Some(remote) => remote.finalize(finalize_id)?,
            None => {
                let params = self.params(None);
                let producer = self
                    .call
                    .function
                    .function
                    .finalize_producer(&params, finalize_id)?;
                (producer, String::new())
            }
        };
        self.debug(|| format!("finalize finalize_state_id={id}{}", in_worker(&worker)));
        Ok(Producer {
            inner,
            output_schema: self.produced_schema.clone(),
        })
    }

    /// Removes this execution's state from the store.
    pub(crate) fn end(&self) -> Result<()> {
        if let Some(remote) = &self.remote {
            remote.end();
        }
        self.call.store.clear(&self.execution_id)
    }
}

impl Drop for Execution {
    /// The interrupt's probe reads the query's DuckDB context, which may go
    /// away once the execution ended: clones of `params.interrupt` that a
    /// function kept must not reach it.
    fn drop(&mut self) {
        self.interrupt.detach();
    }
}

/// A finalize producer whose batches are checked against the bound schema.
pub(crate) struct Producer {
    inner: Box<dyn TableProducer>,
    output_schema: SchemaRef,
}

impl Producer {
    pub(crate) fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let batch = self.inner.next_batch()?;
        if let Some(batch) = &batch {
            check_batch_schema(batch, &self.output_schema)?;
        }
        Ok(batch)
    }
}

/// Locks a mutex, also after a panic elsewhere poisoned it (the data is a
/// plain list that a panic cannot leave half-updated).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
