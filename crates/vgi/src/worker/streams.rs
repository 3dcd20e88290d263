//! The streams a worker's `init` answers with: none for a sink, and the
//! finalize stream, one producer batch per tick, through the client's shared
//! memory segment when it named one. Over HTTP a finalize stream goes on
//! in whichever worker gets the next request (see [`super::resume`]).

use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use vgi_rpc::errors::RpcError;
use vgi_rpc::log::LogLevel;
use vgi_rpc::server::CallContext;
use vgi_rpc::stream::{OutputCollector, ProducerState};

use super::bound::INIT_KEY;
use super::cleanup;
use super::handlers::{rpc, run_phase, SharedSegment};
use crate::protocol::shm;
use crate::{BufferingParams, TableProducer};

/// The stream of a sink init: no rows.
pub(super) struct Finished;

impl ProducerState for Finished {
    fn produce(
        &mut self,
        out: &mut OutputCollector,
        _: &CallContext,
    ) -> vgi_rpc::errors::Result<()> {
        out.finish();
        Ok(())
    }
}

/// How often a finalize stream marks its execution as used.
const TOUCH_EVERY: Duration = Duration::from_secs(1);

/// The stream of a finalize init: one batch of the producer per tick. At
/// its end it records that its finalize id was streamed, and removes the
/// execution if it was the last.
pub(super) struct Finalize {
    pub(super) producer: Box<dyn TableProducer>,
    pub(super) projection: Option<Vec<usize>>,
    pub(super) params: BufferingParams,
    pub(super) finalize_id: Vec<u8>,
    pub(super) touched: Instant,
    /// The client's segment, when it named one: batches that fit go there.
    pub(super) shared: Option<SharedSegment>,
    /// Batches emitted so far (by every worker that served the stream).
    pub(super) emitted: u64,
}

impl Finalize {
    fn keep_alive(&mut self) -> crate::Result<()> {
        if self.touched.elapsed() >= TOUCH_EVERY {
            self.touched = Instant::now();
            self.params
                .storage
                .kv_touch(&self.params.execution_id, INIT_KEY)?;
        }
        Ok(())
    }

    fn streamed(&self) -> crate::Result<()> {
        let (store, exec) = (&self.params.storage, &self.params.execution_id);
        if cleanup::finalize_streamed(store, exec, &self.finalize_id)? {
            store.clear(exec)?;
        }
        Ok(())
    }
}

impl ProducerState for Finalize {
    fn produce(
        &mut self,
        out: &mut OutputCollector,
        ctx: &CallContext,
    ) -> vgi_rpc::errors::Result<()> {
        self.keep_alive().map_err(rpc)?;
        let producer = &mut self.producer;
        match run_phase(&self.params, ctx, || producer.next_batch())? {
            Some(batch) => {
                self.emitted += 1;
                let batch = match &self.projection {
                    Some(columns) => batch
                        .project(columns)
                        .map_err(|e| RpcError::runtime_error(e.to_string()))?,
                    None => batch,
                };
                emit(out, batch, self.shared.as_ref())
            }
            None => {
                if let Err(e) = self.streamed() {
                    ctx.client_log(LogLevel::Warn, format!("finalize cleanup: {e}"));
                }
                out.finish();
                Ok(())
            }
        }
    }

    fn encode_state(&self) -> vgi_rpc::errors::Result<Vec<u8>> {
        Ok(super::resume::encode(self))
    }
}

/// Emits `batch` through the client's segment when it fits there, else inline.
fn emit(
    out: &mut OutputCollector,
    batch: RecordBatch,
    shared: Option<&SharedSegment>,
) -> vgi_rpc::errors::Result<()> {
    if let Some(shared) = shared {
        let mut segment = shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(segment) = segment.as_mut() {
            if let Some(slot) = segment.write_batch(&batch).map_err(rpc)? {
                let metadata = [(shm::BATCH_KEY.to_string(), slot.to_metadata())].into();
                return out.emit_with_metadata(RecordBatch::new_empty(batch.schema()), metadata);
            }
        }
    }
    out.emit(batch)
}
