//! `keep_input(data TABLE)`: `buffer_input` that also keeps, in its
//! process, the last input batches it was given, and checks at every call
//! that none of them changed since it got it. A worker reads a process
//! request's input in place from shared memory that the client writes again
//! after the answer; this pins down that batches a function keeps stay as
//! they were (`vgi::protocol::shm`).

use std::collections::VecDeque;
use std::sync::Mutex;

use arrow_array::RecordBatch;

use vgi::{
    ArgSpec, BindParams, BindResponse, BufferingParams, Error, FunctionMetadata, Result,
    TableBufferingFunction, TableProducer,
};
use vgi_functions::BufferInput;

const NAME: &str = "keep_input";

/// How many batches a process keeps.
const KEPT: usize = 16;

/// The batches kept, each with its IPC bytes as they were when it came.
static KEPT_BATCHES: Mutex<VecDeque<(RecordBatch, Vec<u8>)>> = Mutex::new(VecDeque::new());

/// Checks every kept batch, then keeps `batch` (dropping the oldest).
fn keep(batch: &RecordBatch) -> Result<()> {
    let mut kept = KEPT_BATCHES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (earlier, bytes) in kept.iter() {
        if vgi::ipc::encode_batch(earlier)? != *bytes {
            return Err(Error::function(format!(
                "{NAME}: a batch kept from an earlier call changed under it"
            )));
        }
    }
    if kept.len() == KEPT {
        kept.pop_front();
    }
    kept.push_back((batch.clone(), vgi::ipc::encode_batch(batch)?));
    Ok(())
}

/// Buffers its input, keeping the last batches in its process.
pub struct KeepInput;

impl TableBufferingFunction for KeepInput {
    fn name(&self) -> &str {
        NAME
    }
    fn metadata(&self) -> FunctionMetadata {
        FunctionMetadata::new(
            "Test fixture: buffer_input that keeps its last input batches and fails if any changed.",
        )
    }
    fn argument_specs(&self) -> Vec<ArgSpec> {
        BufferInput.argument_specs()
    }
    fn on_bind(&self, params: &BindParams) -> Result<BindResponse> {
        BufferInput.on_bind(params)
    }
    fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>> {
        keep(batch)?;
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
