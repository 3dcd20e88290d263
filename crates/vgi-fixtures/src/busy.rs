//! `busy_per_batch(data TABLE, milliseconds DOUBLE)`: `buffer_input` whose
//! every `process` call keeps its process's one work slot for
//! `milliseconds`, as a worker with one unit of compute (a model, a GPU)
//! would. Calls in one process take turns; calls in other processes (pooled
//! or remote workers) run side by side, so throughput grows with workers.
//! The benchmark of remote execution times it (bench/remote.py).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::DataType;

use vgi::{
    ArgSpec, BindParams, BindResponse, BufferingParams, Constraints, FunctionMetadata, Result,
    TableBufferingFunction, TableProducer,
};
use vgi_functions::BufferInput;

/// The process's one work slot.
static WORK_SLOT: Mutex<()> = Mutex::new(());

/// Buffers its input; every batch costs its process `milliseconds` of its one slot.
pub struct BusyPerBatch;

/// Holds the work slot for the call's `milliseconds`, checking for interrupts.
fn work(params: &BufferingParams) -> Result<()> {
    let milliseconds = params.arguments.get_f64("milliseconds")?.unwrap_or(0.0);
    let _slot = WORK_SLOT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let until = Instant::now() + Duration::from_secs_f64(milliseconds / 1000.0);
    loop {
        params.interrupt.check()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(10)));
    }
}

impl TableBufferingFunction for BusyPerBatch {
    fn name(&self) -> &str {
        "busy_per_batch"
    }
    fn metadata(&self) -> FunctionMetadata {
        FunctionMetadata::new(
            "Test fixture: buffer_input whose every batch keeps its process's one work slot for `milliseconds`.",
        )
    }
    fn argument_specs(&self) -> Vec<ArgSpec> {
        vec![
            ArgSpec::table("data"),
            ArgSpec::positional("milliseconds", DataType::Float64)
                .with_constraints(Constraints::default().with_ge(0.0)),
        ]
    }
    fn on_bind(&self, params: &BindParams) -> Result<BindResponse> {
        BufferInput.on_bind(params)
    }
    fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>> {
        work(params)?;
        BufferInput.process(params, batch)
    }
    fn combine(&self, params: &BufferingParams, state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        BufferInput.combine(params, state_ids)
    }
    fn finalize_producer(
        &self,
        params: &BufferingParams,
        finalize_state_id: Vec<u8>,
    ) -> Result<Box<dyn TableProducer>> {
        BufferInput.finalize_producer(params, finalize_state_id)
    }
}
