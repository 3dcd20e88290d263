//! Table buffering (sink + source) function model.
//!
//! Lifecycle, keyed by `execution_id`:
//! 1. sink init: an execution id is minted;
//! 2. [`TableBufferingFunction::process`] per input batch, returning a state id;
//! 3. [`TableBufferingFunction::combine`] once, merging state ids into
//!    finalize state ids;
//! 4. [`TableBufferingFunction::finalize_producer`] per finalize state id,
//!    building the producer of the output;
//! 5. cleanup: the execution's store state is cleared.
//!
//! State lives in a [`BufferingStore`], which outlives any one process.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::arguments::Arguments;
use super::function::{ArgSpec, BindParams, BindResponse, FunctionMetadata};
use super::in_place::InPlaceSink;
use super::interrupt::Interrupt;
use super::settings::Settings;
use super::table_producer::{StoreScanProducer, TableProducer};
use crate::error::Result;
use crate::store::BufferingStore;

/// What process, combine and finalize receive.
pub struct BufferingParams {
    /// Id of this execution; scopes all store state.
    pub execution_id: Vec<u8>,
    /// The cross-process store.
    pub storage: Arc<BufferingStore>,
    /// Schema of the table argument's rows.
    pub input_schema: SchemaRef,
    /// Schema the function declared at bind time.
    pub output_schema: SchemaRef,
    /// Indices into `output_schema` that DuckDB needs; `None` means all.
    pub projected_columns: Option<Vec<usize>>,
    /// The call's constant arguments.
    pub arguments: Arguments,
    /// The extension's settings for this call.
    pub settings: Settings,
    /// The opaque data returned by `on_bind`, replayed to every phase.
    pub attach_opaque_data: Option<Vec<u8>>,
    /// DuckDB's per-chunk batch index, set on `process` when the function
    /// declares `requires_input_batch_index`.
    pub batch_index: Option<i64>,
    /// INFO log lines to surface in `duckdb_logs()`.
    pub logs: Arc<Mutex<Vec<String>>>,
    /// Whether the query was interrupted; check it in long loops.
    pub interrupt: Interrupt,
}

impl BufferingParams {
    /// Params with the given identity and schemas; everything else empty.
    pub fn new(
        execution_id: Vec<u8>,
        storage: Arc<BufferingStore>,
        input_schema: SchemaRef,
        output_schema: SchemaRef,
    ) -> Self {
        BufferingParams {
            execution_id,
            storage,
            input_schema,
            output_schema,
            projected_columns: None,
            arguments: Arguments::empty(),
            settings: Settings::new(),
            attach_opaque_data: None,
            batch_index: None,
            logs: Arc::default(),
            interrupt: Interrupt::default(),
        }
    }

    /// Queue an INFO log line; recorded even if another thread panicked holding the lock.
    pub fn log(&self, message: impl Into<String>) {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.into());
    }

    /// Remove and return the queued log lines.
    pub fn take_logs(&self) -> Vec<String> {
        std::mem::take(&mut *self.logs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Append `batch` to the log `(ns, key)` of this execution; returns its
    /// id. In DuckDB's process the batch is kept as it is while the memory
    /// tier's budget allows, else it is IPC-encoded into the store's files
    /// (see [`BufferingStore::append_batch`]).
    pub fn append_batch(&self, ns: &[u8], key: &[u8], batch: &RecordBatch) -> Result<i64> {
        self.storage
            .append_batch(&self.execution_id, ns, key, batch)
    }

    /// A producer yielding the batches appended to `(ns, key)` by
    /// [`append_batch`](Self::append_batch). The entries it yields are
    /// released from memory (see [`StoreScanProducer`]), so a log is read
    /// by one producer.
    pub fn batch_producer(&self, ns: &[u8], key: &[u8]) -> Box<dyn TableProducer> {
        Box::new(StoreScanProducer::new(
            Arc::clone(&self.storage),
            &self.execution_id,
            ns,
            key,
        ))
    }
}

/// A table buffering (sink + source) function.
pub trait TableBufferingFunction: Send + Sync {
    /// SQL name of the function.
    fn name(&self) -> &str;
    /// Description and planning flags.
    fn metadata(&self) -> FunctionMetadata;
    /// Parameter declarations, in positional order.
    fn argument_specs(&self) -> Vec<ArgSpec>;
    /// Validate arguments and declare the output schema.
    fn on_bind(&self, params: &BindParams) -> Result<BindResponse>;
    /// Sink one batch; return an opaque state id.
    fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>>;
    /// Optionally, a sink that reads one thread's input in place in DuckDB's
    /// process instead of `process` batches (see [`crate::sdk::in_place`]); its
    /// state id must be what `process` would give for the same rows. Only for
    /// functions whose sink does not depend on batch order or batch indexes.
    /// Default: none.
    fn in_place_sink(&self, _params: &BufferingParams) -> Result<Option<Box<dyn InPlaceSink>>> {
        Ok(None)
    }
    /// Merge the state ids of all `process` calls into finalize state ids.
    fn combine(&self, params: &BufferingParams, state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>>;
    /// Build the producer of the output for one finalize state id.
    fn finalize_producer(
        &self,
        params: &BufferingParams,
        finalize_state_id: Vec<u8>,
    ) -> Result<Box<dyn TableProducer>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;
    use arrow_array::{ArrayRef, Int64Array};
    use arrow_schema::{DataType, Field, Schema};

    /// Buffers every input batch and replays them in order.
    struct Replay;

    impl TableBufferingFunction for Replay {
        fn name(&self) -> &str {
            "replay"
        }
        fn metadata(&self) -> FunctionMetadata {
            FunctionMetadata::new("replays its input").with_source_order_dependent(true)
        }
        fn argument_specs(&self) -> Vec<ArgSpec> {
            vec![ArgSpec::table("input")]
        }
        fn on_bind(&self, params: &BindParams) -> Result<BindResponse> {
            Ok(BindResponse::new(params.input_schema.clone()))
        }
        fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>> {
            params.append_batch(b"rows", b"", batch)?;
            Ok(b"rows".to_vec())
        }
        fn combine(&self, params: &BufferingParams, state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
            params.log(format!("combining {} states", state_ids.len()));
            Ok(vec![b"rows".to_vec()])
        }
        fn finalize_producer(
            &self,
            params: &BufferingParams,
            finalize_state_id: Vec<u8>,
        ) -> Result<Box<dyn TableProducer>> {
            Ok(params.batch_producer(&finalize_state_id, b""))
        }
    }

    #[test]
    fn lifecycle_round_trip() {
        let (_dir, store) = test_store();
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let f: Box<dyn TableBufferingFunction> = Box::new(Replay);
        let bind = BindParams {
            input_schema: schema.clone(),
            arguments: Arguments::empty(),
            settings: Settings::new(),
        };
        let out = f.on_bind(&bind).unwrap().output_schema;
        let exec = crate::store::new_execution_id().unwrap();
        let params = BufferingParams::new(exec.clone(), store.clone(), schema.clone(), out);
        let batches: Vec<RecordBatch> = (0..3)
            .map(|i| {
                let col: ArrayRef = Arc::new(Int64Array::from(vec![i, i * 10]));
                RecordBatch::try_new(schema.clone(), vec![col]).unwrap()
            })
            .collect();
        let states: Vec<Vec<u8>> = batches
            .iter()
            .map(|b| f.process(&params, b).unwrap())
            .collect();
        let finals = f.combine(&params, &states).unwrap();
        assert_eq!(params.take_logs(), ["combining 3 states"]);
        assert!(params.take_logs().is_empty());
        let mut produced = Vec::new();
        for id in finals {
            let mut p = f.finalize_producer(&params, id).unwrap();
            while let Some(b) = p.next_batch().unwrap() {
                produced.push(b);
            }
        }
        assert_eq!(produced, batches);
        store.clear(&exec).unwrap();
    }

    #[test]
    fn log_survives_a_poisoned_lock() {
        let (_dir, store) = test_store();
        let schema = Arc::new(Schema::empty());
        let params = Arc::new(BufferingParams::new(vec![1], store, schema.clone(), schema));
        let p = Arc::clone(&params);
        let joined = std::thread::spawn(move || {
            let _guard = p.logs.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(joined.is_err());
        assert!(params.logs.is_poisoned());
        params.log("still recorded");
        assert_eq!(params.take_logs(), ["still recorded"]);
    }
}
