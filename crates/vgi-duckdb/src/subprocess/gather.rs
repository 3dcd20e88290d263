//! A sinking thread's in-place sink in subprocess execution: when every
//! input column is a fixed-width number, DuckDB's vectors are copied
//! straight into the shared-memory segment of a worker the thread keeps
//! for its whole sink, at the places of an IPC stream's body
//! ([`FixedLayout`]), and the process request points the worker at it.
//! One copy per value instead of two (into an Arrow batch, then into the
//! segment). Where the connection has no segment, the same layout is
//! gathered in this process's memory and the batch goes inline.

use arrow_buffer::MutableBuffer;
use arrow_schema::Schema;

use vgi::ipc::fixed_layout::{ColumnChunk, Filled, FixedLayout};
use vgi::protocol::shm::Slot;
use vgi::{Error, Result};

use super::pool::Worker;
use super::remote::Remote;
use crate::in_place::{BatchSink, Sent};

/// The most rows one chunk of DuckDB's has (its vector size).
const MAX_CHUNK_ROWS: usize = 2048;
/// The most bytes of values one process batch holds, as the bridge's.
const MAX_BATCH_BYTES: usize = 32 << 20;

/// A sinking thread's gatherer.
pub(crate) struct Gather {
    remote: Remote,
    layout: FixedLayout,
    /// Rows after which the batch is sent (`vgi_process_batch_rows`).
    flush_at: usize,
    /// The worker kept for this thread; `None` until the first chunk, and
    /// after a call that failed (it is dropped, which ends its process).
    worker: Option<Worker>,
    /// Where the batch is gathered when the connection has no segment.
    heap: Option<MutableBuffer>,
    filled: Vec<Filled>,
    rows: usize,
    sent: Vec<Sent>,
}

impl Gather {
    /// A gatherer for input `schema`, sending batches of `batch_rows` rows;
    /// `None` when a column is not a fixed-width number.
    pub(crate) fn new(remote: Remote, schema: &Schema, batch_rows: usize) -> Result<Option<Self>> {
        let row_bytes: usize = schema
            .fields()
            .iter()
            .map(|f| f.data_type().primitive_width().unwrap_or(0))
            .sum();
        let by_bytes = (MAX_BATCH_BYTES / row_bytes.max(1)).max(MAX_CHUNK_ROWS);
        let flush_at = batch_rows.clamp(1, by_bytes);
        let Some(layout) = FixedLayout::new(schema, flush_at + MAX_CHUNK_ROWS)? else {
            return Ok(None);
        };
        Ok(Some(Gather {
            remote,
            filled: vec![Filled::default(); schema.fields().len()],
            layout,
            flush_at,
            worker: None,
            heap: None,
            rows: 0,
            sent: Vec::new(),
        }))
    }

    /// Sends the gathered batch and starts the next one.
    fn flush(&mut self) -> Result<()> {
        let rows = std::mem::take(&mut self.rows);
        let columns = self.filled.len();
        let filled = std::mem::replace(&mut self.filled, vec![Filled::default(); columns]);
        if rows == 0 {
            return Ok(());
        }
        let layout = &self.layout;
        let sent = match (&mut self.heap, self.worker.take()) {
            (Some(heap), _) => {
                let range = layout.finish(heap.as_slice_mut(), rows, &filled)?;
                let batch = single_batch(&heap.as_slice()[range.offset..range.offset + range.len])?;
                self.remote.process(&batch, None)?
            }
            (None, Some(mut worker)) => {
                let region = worker
                    .shared
                    .region(layout.region_len())
                    .ok_or_else(|| Error::function("the worker's shared memory went away"))?;
                let range = layout.finish(region, rows, &filled)?;
                let (sent, worker) = self
                    .remote
                    .process_in_segment(worker, Slot::new(range.offset, range.len))?;
                self.worker = worker;
                sent
            }
            (None, None) => return Err(Error::function("a gathered batch without a worker")),
        };
        self.sent.push(Sent {
            state_id: sent.0,
            rows,
            worker: sent.1,
        });
        Ok(())
    }
}

impl BatchSink for Gather {
    /// Gathers one chunk; sends the batch once it holds
    /// `vgi_process_batch_rows` rows.
    fn append(&mut self, columns: &[ColumnChunk<'_>], rows: usize) -> Result<()> {
        if columns.len() != self.filled.len() {
            return Err(Error::function(format!(
                "in-place sink: a chunk of {} columns for an input of {}",
                columns.len(),
                self.filled.len()
            )));
        }
        if self.rows + rows > self.layout.capacity() {
            self.flush()?;
        }
        let at = self.rows;
        let region = region(
            &self.remote,
            &mut self.worker,
            &mut self.heap,
            self.layout.region_len(),
        )?;
        for (i, column) in columns.iter().enumerate() {
            self.layout
                .append(region, i, &mut self.filled[i], at, *column, rows)?;
        }
        self.rows += rows;
        if self.rows >= self.flush_at {
            self.flush()?;
        }
        Ok(())
    }

    fn take_sent(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    /// Sends what is left; the worker goes back to the pool when dropped.
    fn finish(mut self: Box<Self>) -> Result<Vec<Sent>> {
        self.flush()?;
        Ok(self.take_sent())
    }
}

/// The memory a batch of `len` bytes is gathered into: the kept worker's
/// segment (the worker checked out at the first chunk), else this
/// process's heap (the worker given back: batches then go inline).
fn region<'a>(
    remote: &Remote,
    worker: &'a mut Option<Worker>,
    heap: &'a mut Option<MutableBuffer>,
    len: usize,
) -> Result<&'a mut [u8]> {
    if worker.is_none() && heap.is_none() {
        *worker = Some(remote.checkout()?);
    }
    if heap.is_none() {
        let kept = worker.as_mut().expect("checked out above");
        if kept.shared.region(len).is_none() {
            if let Some(kept) = worker.take() {
                remote.checkin(kept);
            }
            *heap = Some(MutableBuffer::from_len_zeroed(len));
        }
    }
    match (heap, worker) {
        (Some(heap), _) => Ok(heap.as_slice_mut()),
        (None, Some(kept)) => kept
            .shared
            .region(len)
            .ok_or_else(|| Error::function("the worker's shared memory went away")),
        (None, None) => Err(Error::function("a gathered batch without a worker")),
    }
}

impl Drop for Gather {
    /// A worker whose calls all succeeded goes back to the pool.
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.remote.checkin(worker);
        }
    }
}

/// The one batch of the IPC stream `bytes`.
pub(crate) fn single_batch(bytes: &[u8]) -> Result<arrow_array::RecordBatch> {
    one_batch(vgi::ipc::decode_batches(bytes)?)
}

/// The only batch of `batches`.
pub(crate) fn one_batch(
    mut batches: Vec<arrow_array::RecordBatch>,
) -> Result<arrow_array::RecordBatch> {
    match (batches.pop(), batches.is_empty()) {
        (Some(batch), true) => Ok(batch),
        _ => Err(Error::function(
            "a gathered batch did not read back as one batch",
        )),
    }
}
