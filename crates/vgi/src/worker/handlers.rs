//! The worker's method handlers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow_array::{BinaryArray, Int64Array, RecordBatch};
use arrow_schema::SchemaRef;
use vgi_rpc::errors::RpcError;
use vgi_rpc::log::LogLevel;
use vgi_rpc::server::{CallContext, Request};
use vgi_rpc::stream::StreamResult;

use super::bound::{mark_used, Bound, INIT_KEY};
use super::streams::{Finalize, Finished};
use super::{catalog, cleanup};
use crate::ipc::{decode_batches, encode_batch};
use crate::protocol::rows::{
    decode_record, no_rows_ipc, schema_to_ipc, unwrap, wrap_result, Record, Row,
};
use crate::protocol::shm::{self, Segment, Slot};
use crate::protocol::{phases, schemas, REPEATABILITY, SCHEMA_NAME};
use crate::sdk::panic::catch_panic;
use crate::store::{new_execution_id, BufferingStore};
use crate::{BufferingParams, Error, TableBufferingFunction};

pub(crate) type Unary =
    fn(&Worker, &Request, &CallContext) -> vgi_rpc::errors::Result<Option<RecordBatch>>;

/// The bytes a client gets back from `catalog_attach` and sends on later calls.
const ATTACH_OPAQUE_DATA: &[u8] = b"vgi-worker";

/// Binds of the executions a process has served, by execution id, with when
/// it last used each.
type BindCache = HashMap<Vec<u8>, (Arc<Bound>, Instant)>;

/// The shared memory segment of the client this process serves (see
/// [`crate::protocol::shm`]), attached when a request first names it.
pub(super) type SharedSegment = Arc<Mutex<Option<Segment>>>;

/// A process request's input batches. Dropped before the request is
/// answered: batches read in place from shared memory are then reclaimed
/// from the segment, which the client writes again after the answer.
struct Input {
    batches: Vec<RecordBatch>,
    lent_from: Option<SharedSegment>,
}

impl Drop for Input {
    fn drop(&mut self) {
        self.batches.clear();
        if let Some(shared) = &self.lent_from {
            let mut segment = shared.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(segment) = segment.as_mut() {
                segment.reclaim();
            }
        }
    }
}

/// Serves a set of functions; shared by every call of one worker process.
pub struct Worker {
    functions: Vec<Box<dyn TableBufferingFunction>>,
    store: Arc<BufferingStore>,
    bound: Mutex<BindCache>,
    /// How long an execution may go unused before it is removed.
    idle: Duration,
    shared: SharedSegment,
    /// Whether requests may name a shared memory segment (not over HTTP).
    shared_memory: bool,
}

pub(super) fn rpc(e: Error) -> RpcError {
    RpcError::value_error(e.to_string())
}

fn answer(record: crate::Result<Vec<u8>>) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
    Ok(Some(wrap_result(record.map_err(rpc)?).map_err(rpc)?))
}

/// Runs one phase of a function: a panic becomes an error, and the lines it
/// logged go to the client whatever the outcome.
pub(super) fn run_phase<T>(
    params: &BufferingParams,
    ctx: &CallContext,
    phase: impl FnOnce() -> crate::Result<T>,
) -> vgi_rpc::errors::Result<T> {
    let result = catch_panic(phase);
    forward_logs(params, ctx);
    result.map_err(rpc)
}

/// Hands the lines a function logged to the client.
fn forward_logs(params: &BufferingParams, ctx: &CallContext) {
    let lines = std::mem::take(&mut *params.logs.lock().unwrap_or_else(|e| e.into_inner()));
    for line in lines {
        ctx.client_log(LogLevel::Info, line);
    }
}

impl Worker {
    /// A worker that removes an execution left unused for `idle`.
    pub fn new(
        functions: Vec<Box<dyn TableBufferingFunction>>,
        store: Arc<BufferingStore>,
        idle: Duration,
    ) -> Self {
        Worker {
            functions,
            store,
            bound: Mutex::default(),
            idle,
            shared: Arc::default(),
            shared_memory: true,
        }
    }

    /// This worker ignores the shared memory segments requests name, as a
    /// worker on another machine must: every batch goes inline.
    pub fn without_shared_memory(mut self) -> Self {
        self.shared_memory = false;
        self
    }

    /// Attaches the segment named in `metadata` unless it already is;
    /// whether the request names one.
    fn attach(&self, metadata: &vgi_rpc::wire::Metadata) -> crate::Result<bool> {
        let Some(name) = metadata
            .get(shm::SEGMENT_KEY)
            .filter(|_| self.shared_memory)
        else {
            return Ok(false);
        };
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if shared.as_ref().map(Segment::name) != Some(name.as_str()) {
            // The old mapping goes first, also when the new one fails.
            *shared = None;
            *shared = Some(Segment::attach(name)?);
        }
        Ok(true)
    }

    /// The input batches of a process request: read in place from the
    /// client's shared memory when the request says so, else inline.
    fn input_batches(&self, request: &Request, record: &Record) -> vgi_rpc::errors::Result<Input> {
        let Some(slot) = request.metadata.get(shm::INPUT_KEY) else {
            let batches =
                decode_batches(&record.bytes("input_batch").map_err(rpc)?).map_err(rpc)?;
            return Ok(Input {
                batches,
                lent_from: None,
            });
        };
        let unusable = |e: Error| RpcError::new(shm::REFUSED, e.to_string());
        let slot = Slot::parse(slot).map_err(unusable)?;
        let named = self.attach(&request.metadata).map_err(unusable)?;
        let mut segment = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match segment.as_mut() {
            Some(segment) if named => Ok(Input {
                batches: segment.read_in_place(slot).map_err(rpc)?,
                lent_from: Some(self.shared.clone()),
            }),
            _ => Err(RpcError::new(
                shm::REFUSED,
                format!("{} without {}", shm::INPUT_KEY, shm::SEGMENT_KEY),
            )),
        }
    }

    /// How long an execution may go unused before it is removed.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    fn cache(&self) -> MutexGuard<'_, BindCache> {
        self.bound.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes `exec`'s state from the store and this process's cache.
    fn remove(&self, exec: &[u8]) -> crate::Result<()> {
        self.cache().remove(exec);
        self.store.clear(exec)
    }

    /// Fails with [`Error::Ended`] when `exec` was removed while a call that
    /// wrote to it ran (a client that gave up on the call at its timeout
    /// clears the execution), after removing what the call wrote. On object
    /// storage, which has no directory to vanish, this is what keeps a late
    /// write from staying behind: the client's clear lists again after each
    /// deletion, so a write it missed is seen by this check or by its next listing.
    fn check_still_open(&self, exec: &[u8]) -> crate::Result<()> {
        if self.store.kv_modified(exec, INIT_KEY)?.is_some() {
            return Ok(());
        }
        self.remove(exec)?;
        Err(Error::Ended {
            path: self
                .store
                .root()
                .join(crate::store::paths::exec_name(exec)?),
        })
    }

    /// Removes the executions left unused for the idle time, and forgets
    /// the binds of executions that ended (in any worker: the destructor
    /// reaches only one) or that this process has not used for as long;
    /// returns how many executions it removed.
    pub fn sweep(&self) -> crate::Result<usize> {
        let idle = cleanup::idle_executions(&self.store, self.idle)?;
        for exec in &idle {
            self.remove(exec)?;
        }
        let cached: Vec<Vec<u8>> = self.cache().keys().cloned().collect();
        let mut ended = Vec::new();
        for exec in cached {
            if self.store.kv_modified(&exec, INIT_KEY)?.is_none() {
                ended.push(exec);
            }
        }
        let mut cache = self.cache();
        for exec in &ended {
            cache.remove(exec);
            self.store.leave(exec);
        }
        let stale: Vec<Vec<u8>> = cache
            .iter()
            .filter(|(_, (_, used))| used.elapsed() >= self.idle)
            .map(|(exec, _)| exec.clone())
            .collect();
        for exec in &stale {
            cache.remove(exec);
            self.store.leave(exec);
        }
        Ok(idle.len())
    }

    /// How many binds this process keeps.
    #[cfg(test)]
    pub(crate) fn cached_binds(&self) -> usize {
        self.cache().len()
    }

    pub(super) fn function(&self, bound: &Bound) -> &dyn TableBufferingFunction {
        self.functions[bound.function_index].as_ref()
    }

    /// The execution a request names, its bind and fresh params for one call.
    fn execution(&self, record: &Record) -> crate::Result<(Arc<Bound>, BufferingParams)> {
        self.execution_by_id(&record.bytes("execution_id")?)
    }

    /// Like [`execution`](Self::execution), for the execution `exec`.
    pub(super) fn execution_by_id(
        &self,
        exec: &[u8],
    ) -> crate::Result<(Arc<Bound>, BufferingParams)> {
        let bound = self.bound(exec)?;
        let params = bound.params(exec, &self.store);
        Ok((bound, params))
    }

    /// The bind of `exec`, which is marked as used now: from this process's
    /// cache, else from the store. An execution removed from the store (by
    /// the destructor, its end or idleness) is unknown.
    fn bound(&self, exec: &[u8]) -> crate::Result<Arc<Bound>> {
        let unknown = || {
            Error::InvalidArgument(format!(
                "unknown execution {}: no sink init stored its bind, or it ended",
                hex::encode(exec)
            ))
        };
        if !mark_used(&self.store, exec, self.idle)? {
            self.cache().remove(exec);
            return Err(unknown());
        }
        // Opened by a sink init (here or in another worker): once it is
        // removed, this worker's writes must not make it again.
        self.store.join(exec);
        if let Some((bound, used)) = self.cache().get_mut(exec) {
            *used = Instant::now();
            return Ok(bound.clone());
        }
        let init = self.store.kv_get(exec, INIT_KEY)?.ok_or_else(unknown)?;
        let bound = Arc::new(Bound::from_init(&self.functions, &decode_record(&init)?)?);
        self.cache()
            .insert(exec.to_vec(), (bound.clone(), Instant::now()));
        Ok(bound)
    }

    pub(crate) fn catalog_catalogs(
        &self,
        _: &Request,
        _: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        answer(catalog::catalog_info().and_then(|info| catalog::items(&[info])))
    }

    pub(crate) fn catalog_attach(
        &self,
        _: &Request,
        _: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        answer(catalog::attach_result(ATTACH_OPAQUE_DATA))
    }

    pub(crate) fn catalog_schemas(
        &self,
        _: &Request,
        _: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        answer(catalog::schema_info().and_then(|info| catalog::items(&[info])))
    }

    pub(crate) fn schema_functions(
        &self,
        request: &Request,
        _: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        let record =
            Record::new(&request.batch, "catalog_schema_contents_functions").map_err(rpc)?;
        let path = record.strings("path").map_err(rpc)?;
        let kind = record.opt_enum("type").map_err(rpc)?;
        let listed = path == [SCHEMA_NAME] && kind.as_deref() == Some("TABLE_FUNCTION");
        let infos = if listed {
            self.functions
                .iter()
                .map(|f| catalog::function_info(f.as_ref()))
                .collect::<crate::Result<Vec<_>>>()
                .map_err(rpc)?
        } else {
            Vec::new()
        };
        answer(catalog::items(&infos))
    }

    pub(crate) fn empty_listing(
        &self,
        _: &Request,
        _: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        answer(catalog::items(&[]))
    }

    pub(crate) fn bind(
        &self,
        request: &Request,
        _: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        let bind = unwrap(&request.batch, "request").map_err(rpc)?;
        let bound = Bound::bind(&self.functions, &bind).map_err(rpc)?;
        answer(schema_to_ipc(&bound.output_schema).and_then(|schema| {
            Row::new(schemas::bind_response())
                .bytes("output_schema", &schema)
                .opt_bytes("opaque_data", bound.opaque_data.as_deref())
                .enum_value("repeatability", REPEATABILITY)
                .to_ipc()
        }))
    }

    /// `init`: a sink init (phase TABLE_BUFFERING) starts or joins an
    /// execution and ends at once; a finalize init streams one finalize id.
    pub(crate) fn init(
        &self,
        request: &Request,
        ctx: &CallContext,
    ) -> vgi_rpc::errors::Result<StreamResult> {
        let init = unwrap(&request.batch, "request").map_err(rpc)?;
        let record = Record::new(&init, "InitRequest").map_err(rpc)?;
        let phase = record.opt_enum("phase").map_err(rpc)?;
        let projection = record
            .opt_i64_list("projection_ids")
            .map_err(rpc)?
            .map(|ids| ids.into_iter().map(|i| i as usize).collect::<Vec<_>>());
        match phase.as_deref() {
            Some(phases::SINK) => self.init_sink(&init, projection),
            Some(phases::FINALIZE) => self.init_finalize(request, &record, projection, ctx),
            other => Err(RpcError::value_error(format!(
                "init: unsupported phase {other:?} (this worker serves buffering functions)"
            ))),
        }
    }

    /// Opens the execution (or joins the one the request names): its
    /// InitRequest goes to the store, for every phase in every process.
    fn init_sink(
        &self,
        init: &RecordBatch,
        projection: Option<Vec<usize>>,
    ) -> vgi_rpc::errors::Result<StreamResult> {
        let record = Record::new(init, "InitRequest").map_err(rpc)?;
        let exec = match record.opt_bytes("execution_id").map_err(rpc)? {
            Some(exec) => exec,
            None => {
                let bound = Bound::from_init(&self.functions, init).map_err(rpc)?;
                let exec = new_execution_id().map_err(rpc)?;
                self.store.claim(&exec).map_err(rpc)?;
                self.store
                    .kv_put(&exec, INIT_KEY, &encode_batch(init).map_err(rpc)?)
                    .map_err(rpc)?;
                self.cache()
                    .insert(exec.clone(), (Arc::new(bound), Instant::now()));
                exec
            }
        };
        let bound = self.bound(&exec).map_err(rpc)?;
        let schema = projected(&bound.output_schema, projection.as_deref()).map_err(rpc)?;
        let header = init_header(&exec)?;
        Ok(StreamResult::producer(schema, Box::new(Finished)).with_header(header))
    }

    fn init_finalize(
        &self,
        request: &Request,
        record: &Record,
        projection: Option<Vec<usize>>,
        ctx: &CallContext,
    ) -> vgi_rpc::errors::Result<StreamResult> {
        let (bound, mut params) = self.execution(record).map_err(rpc)?;
        let finalize_id = record.bytes("finalize_state_id").map_err(rpc)?;
        let function = self.function(&bound);
        // A function that pushes projections down produces the projected
        // columns itself; for any other, the worker projects its batches.
        let (pushed, projected_here) = match projection {
            Some(p) if function.metadata().projection_pushdown => (Some(p), None),
            other => (None, other),
        };
        params.projected_columns = pushed.clone();
        let producer = run_phase(&params, ctx, || {
            function.finalize_producer(&params, finalize_id)
        })?;
        let schema = projected(
            &bound.output_schema,
            pushed.as_deref().or(projected_here.as_deref()),
        )
        .map_err(rpc)?;
        let header = init_header(&params.execution_id)?;
        // A segment this worker cannot map only means batches go inline.
        let named = self.attach(&request.metadata).unwrap_or_else(|e| {
            ctx.client_log(LogLevel::Warn, format!("finalize: batches go inline: {e}"));
            false
        });
        let shared = named.then(|| self.shared.clone());
        Ok(StreamResult::producer(
            schema,
            Box::new(Finalize {
                producer,
                projection: projected_here,
                params,
                finalize_id: record.bytes("finalize_state_id").map_err(rpc)?,
                touched: Instant::now(),
                shared,
                emitted: 0,
            }),
        )
        .with_header(header))
    }

    pub(crate) fn process(
        &self,
        request: &Request,
        ctx: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        let inner = unwrap(&request.batch, "request").map_err(rpc)?;
        let record = Record::new(&inner, "TableBufferingProcessRequest").map_err(rpc)?;
        let (bound, mut params) = self.execution(&record).map_err(rpc)?;
        params.batch_index = record.opt_i64("batch_index").map_err(rpc)?;
        let input = self.input_batches(request, &record)?;
        let batch = match input.batches.as_slice() {
            [batch] => batch,
            _ => {
                return Err(RpcError::value_error(format!(
                    "table_buffering_process: expected one input batch, got {}",
                    input.batches.len()
                )))
            }
        };
        let state_id = run_phase(&params, ctx, || {
            self.function(&bound).process(&params, batch)
        })?;
        self.check_still_open(&params.execution_id).map_err(rpc)?;
        answer(
            Row::new(schemas::process_response())
                .bytes("state_id", &state_id)
                .to_ipc(),
        )
    }

    pub(crate) fn combine(
        &self,
        request: &Request,
        ctx: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        let inner = unwrap(&request.batch, "request").map_err(rpc)?;
        let record = Record::new(&inner, "TableBufferingCombineRequest").map_err(rpc)?;
        let (bound, params) = self.execution(&record).map_err(rpc)?;
        let state_ids = record.byte_list("state_ids").map_err(rpc)?;
        let finalize_ids = run_phase(&params, ctx, || {
            self.function(&bound).combine(&params, &state_ids)
        })?;
        let exec = &params.execution_id;
        let done = cleanup::record_finalize_ids(&self.store, exec, &finalize_ids)
            .and_then(|done| if done { self.remove(exec) } else { Ok(()) });
        if let Err(e) = done {
            ctx.client_log(LogLevel::Warn, format!("combine cleanup: {e}"));
        }
        if !finalize_ids.is_empty() {
            self.check_still_open(exec).map_err(rpc)?;
        }
        answer(
            Row::new(schemas::combine_response())
                .byte_list("finalize_state_ids", &finalize_ids)
                .to_ipc(),
        )
    }

    /// Removes the execution's state; never fails (a failure is logged).
    pub(crate) fn destructor(
        &self,
        request: &Request,
        ctx: &CallContext,
    ) -> vgi_rpc::errors::Result<Option<RecordBatch>> {
        let cleared = unwrap(&request.batch, "request")
            .and_then(|inner| {
                Record::new(&inner, "TableBufferingDestructorRequest")?.bytes("execution_id")
            })
            .and_then(|exec| self.remove(&exec));
        if let Err(e) = cleared {
            ctx.client_log(LogLevel::Warn, format!("table_buffering_destructor: {e}"));
        }
        answer(no_rows_ipc(schemas::empty()))
    }
}

/// The header of an `init` stream: the execution's id (no opaque data; a
/// non-positive `max_workers` leaves the choice to the client).
fn init_header(exec: &[u8]) -> vgi_rpc::errors::Result<RecordBatch> {
    RecordBatch::try_new(
        schemas::global_init_response(),
        vec![
            Arc::new(BinaryArray::from(vec![exec])),
            Arc::new(BinaryArray::from(vec![None::<&[u8]>])),
            Arc::new(Int64Array::from(vec![0i64])),
        ],
    )
    .map_err(|e| RpcError::runtime_error(e.to_string()))
}

fn projected(schema: &SchemaRef, projection: Option<&[usize]>) -> crate::Result<SchemaRef> {
    Ok(match projection {
        Some(columns) => Arc::new(schema.project(columns)?),
        None => schema.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;
    use arrow_schema::Schema;

    fn bound() -> Arc<Bound> {
        Arc::new(Bound {
            function_index: 0,
            input_schema: Arc::new(Schema::empty()),
            output_schema: Arc::new(Schema::empty()),
            arguments: crate::Arguments::empty(),
            settings: crate::Settings::new(),
            opaque_data: None,
        })
    }

    #[test]
    fn a_sweep_forgets_the_binds_of_executions_that_ended_in_another_worker() {
        let (_dir, store) = test_store();
        let worker = Worker::new(Vec::new(), store.clone(), Duration::from_secs(600));
        for exec in [&b"live"[..], b"ended"] {
            store.kv_put(exec, INIT_KEY, b"init").unwrap();
            worker
                .cache()
                .insert(exec.to_vec(), (bound(), Instant::now()));
        }
        // The destructor went to another worker process.
        store.clear(b"ended").unwrap();
        assert_eq!(worker.sweep().unwrap(), 0, "nothing is idle yet");
        assert_eq!(worker.cached_binds(), 1);
        assert!(worker.cache().contains_key(&b"live"[..]));
    }

    #[test]
    fn a_write_after_the_execution_was_removed_is_removed_too() {
        let (_dir, store) = test_store();
        let worker = Worker::new(Vec::new(), store.clone(), Duration::from_secs(600));
        store.kv_put(b"open", INIT_KEY, b"init").unwrap();
        store.append(b"open", b"n", b"k", b"rows").unwrap();
        worker.check_still_open(b"open").unwrap();
        // The client cleared the execution at its timeout; the call's late
        // write came after the clear had listed it.
        store.kv_put(b"late", b"vgi.finalize_ids", b"ids").unwrap();
        let err = worker.check_still_open(b"late").unwrap_err();
        assert!(matches!(err, Error::Ended { .. }), "{err}");
        let left: Vec<Vec<u8>> = store
            .list_executions()
            .unwrap()
            .into_iter()
            .map(|(exec, _)| exec)
            .collect();
        assert_eq!(left, vec![b"open".to_vec()]);
    }
}
