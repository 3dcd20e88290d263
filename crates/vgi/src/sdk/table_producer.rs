//! Sources of output batches for the finalize phase.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::error::{Error, Result};
use crate::ipc;
use crate::store::{BufferingStore, LogEntry};

/// Produces a function's output, one batch at a time.
pub trait TableProducer: Send {
    /// The next batch, or `None` once exhausted.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>>;

    /// Where this producer stands, as bytes [`restore`](Self::restore)
    /// accepts, so a finalize stream can continue in another process (HTTP).
    /// `None` (the default) when it cannot say: the stream is then resumed
    /// by building the producer anew and skipping the batches it already
    /// emitted, which is right only for a deterministic producer.
    fn checkpoint(&self) -> Option<Vec<u8>> {
        None
    }

    /// Moves a freshly built producer to `checkpoint` (from
    /// [`checkpoint`](Self::checkpoint) of a producer built the same way);
    /// `false` (the default) when it cannot.
    fn restore(&mut self, _checkpoint: &[u8]) -> Result<bool> {
        Ok(false)
    }
}

/// Yields batches from memory, in order.
#[derive(Debug, Default)]
pub struct VecProducer {
    batches: VecDeque<RecordBatch>,
}

impl VecProducer {
    /// A producer yielding `batches` in order.
    pub fn new(batches: Vec<RecordBatch>) -> Self {
        VecProducer {
            batches: batches.into(),
        }
    }
}

impl From<Vec<RecordBatch>> for VecProducer {
    fn from(batches: Vec<RecordBatch>) -> Self {
        Self::new(batches)
    }
}

impl TableProducer for VecProducer {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        Ok(self.batches.pop_front())
    }
}

/// Lazily reads the batches of one store log `(exec, ns, key)`, a page of
/// entries at a time, so the whole table is never in memory twice: entries
/// in files are read and decoded one page at a time, and entries the memory
/// tier holds are handed over and released from it as they are read, so a
/// batch this producer has yielded is held by no one but its consumer.
pub struct StoreScanProducer {
    store: Arc<BufferingStore>,
    exec: Vec<u8>,
    ns: Vec<u8>,
    key: Vec<u8>,
    page_size: usize,
    after_id: i64,
    last_id: i64,
    /// How many entries the range must hold, when the caller knows.
    expected: Option<usize>,
    /// The ids still to read, listed once on the first page.
    pending_ids: Option<VecDeque<i64>>,
    entries: VecDeque<(i64, LogEntry)>,
    decoded: VecDeque<RecordBatch>,
    exhausted: bool,
    /// The last entry whose batches were all yielded (-1: none yet).
    done_through: i64,
    /// The entry `decoded` came from and how many of its batches were yielded.
    current: Option<(i64, usize)>,
    /// After [`restore`](TableProducer::restore): batches of the first
    /// entry read that were yielded before.
    skip: usize,
}

impl StoreScanProducer {
    /// Entries read at a time by default: one, as an entry usually holds a
    /// whole `process` batch (up to 32 MiB), so memory stays at one entry and
    /// its decoded batches per producer.
    pub const DEFAULT_PAGE_SIZE: usize = 1;

    /// A producer over the log `(exec, ns, key)` of `store`.
    pub fn new(store: Arc<BufferingStore>, exec: &[u8], ns: &[u8], key: &[u8]) -> Self {
        StoreScanProducer {
            store,
            exec: exec.to_vec(),
            ns: ns.to_vec(),
            key: key.to_vec(),
            page_size: Self::DEFAULT_PAGE_SIZE,
            after_id: -1,
            last_id: i64::MAX,
            expected: None,
            pending_ids: None,
            entries: VecDeque::new(),
            decoded: VecDeque::new(),
            exhausted: false,
            done_through: -1,
            current: None,
            skip: 0,
        }
    }

    /// Fetch `entries` log entries per scan (at least 1).
    pub fn with_page_size(mut self, entries: usize) -> Self {
        self.page_size = entries.max(1);
        self
    }

    /// Read only the entries whose ids lie in `first..=last`, so that several
    /// producers can drain one log in parallel.
    pub fn with_id_range(mut self, first: i64, last: i64) -> Self {
        self.after_id = first.saturating_sub(1);
        self.last_id = last;
        self
    }

    /// Require `count` entries in the scanned range: fewer (an entry was lost)
    /// or more is a [`Error::Corrupt`] error instead of a silently different
    /// result. Callers that recorded the ids `process` returned know it.
    pub fn expecting(mut self, count: usize) -> Self {
        self.expected = Some(count);
        self
    }

    /// Reads the next page of entries. The log is listed once, on the first
    /// page (a producer runs after every append has finished), not per page.
    fn fill_page(&mut self) -> Result<()> {
        if self.pending_ids.is_none() {
            let (after, last) = (self.after_id, self.last_id);
            let ids = self.store.entry_ids(&self.exec, &self.ns, &self.key)?;
            let mut ids: VecDeque<i64> = ids
                .into_iter()
                .filter(|id| *id > after && *id <= last)
                .collect();
            if let Some(expected) = self.expected.filter(|n| *n != ids.len()) {
                return Err(Error::Corrupt {
                    path: self.store.log_dir(&self.exec, &self.ns, &self.key)?,
                    reason: format!(
                        "expected {expected} entries with ids {}..={last}, found {}: {}",
                        after.saturating_add(1),
                        ids.len(),
                        if ids.len() < expected {
                            "entries are missing"
                        } else {
                            "unexpected entries"
                        }
                    ),
                });
            }
            // The count above covers the whole range, also when resumed.
            let done = self.done_through;
            ids.retain(|id| *id > done);
            self.pending_ids = Some(ids);
        }
        let ids = self.pending_ids.as_mut().expect("listed above");
        for _ in 0..self.page_size {
            let Some(id) = ids.pop_front() else {
                break;
            };
            match self
                .store
                .read_log_entry(&self.exec, &self.ns, &self.key, id, true)?
            {
                Some(entry) => self.entries.push_back((id, entry)),
                None => {
                    return Err(Error::Corrupt {
                        path: self
                            .store
                            .log_entry_path(&self.exec, &self.ns, &self.key, id)?,
                        reason: "the entry vanished while it was being read".into(),
                    })
                }
            }
        }
        if ids.is_empty() {
            self.exhausted = true;
        }
        Ok(())
    }

    fn decode(&self, id: i64, bytes: &[u8]) -> Result<Vec<RecordBatch>> {
        ipc::decode_batches(bytes).map_err(|e| {
            match self
                .store
                .log_entry_path(&self.exec, &self.ns, &self.key, id)
            {
                Ok(path) => Error::Corrupt {
                    path,
                    reason: e.to_string(),
                },
                Err(path_error) => path_error,
            }
        })
    }
}

/// Bytes of a [`StoreScanProducer`] checkpoint: `done_through`, then how
/// many batches of the next entry were yielded (both little-endian).
const CHECKPOINT_LEN: usize = 16;

impl StoreScanProducer {
    /// Hands out the batches of entry `id`, less those yielded before a restore.
    fn start_entry(&mut self, id: i64, batches: Vec<RecordBatch>) {
        let skip = std::mem::take(&mut self.skip);
        let taken = skip.min(batches.len());
        self.decoded.extend(batches.into_iter().skip(taken));
        self.current = Some((id, taken));
        if self.decoded.is_empty() {
            self.finish_entry();
        }
    }

    fn finish_entry(&mut self) {
        if let Some((id, _)) = self.current.take() {
            self.done_through = id;
        }
    }
}

impl TableProducer for StoreScanProducer {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(batch) = self.decoded.pop_front() {
                if let Some((_, taken)) = &mut self.current {
                    *taken += 1;
                }
                if self.decoded.is_empty() {
                    self.finish_entry();
                }
                return Ok(Some(batch));
            }
            match self.entries.pop_front() {
                Some((id, LogEntry::Batches(batches))) => {
                    self.start_entry(id, batches);
                    continue;
                }
                Some((id, LogEntry::Encoded(bytes))) => {
                    let batches = self.decode(id, &bytes)?;
                    self.start_entry(id, batches);
                    continue;
                }
                None => {}
            }
            if self.exhausted {
                return Ok(None);
            }
            self.fill_page()?;
        }
    }

    /// The last entry fully yielded and the batches yielded of the next:
    /// entries in files stay until the execution is removed, so a producer
    /// over the same log continues from there.
    fn checkpoint(&self) -> Option<Vec<u8>> {
        let taken = self.current.map_or(0, |(_, taken)| taken);
        let mut bytes = Vec::with_capacity(CHECKPOINT_LEN);
        bytes.extend_from_slice(&self.done_through.to_le_bytes());
        bytes.extend_from_slice(&(taken as u64).to_le_bytes());
        Some(bytes)
    }

    fn restore(&mut self, checkpoint: &[u8]) -> Result<bool> {
        if checkpoint.len() != CHECKPOINT_LEN || self.pending_ids.is_some() {
            return Ok(false);
        }
        let (done, taken) = checkpoint.split_at(8);
        self.done_through = i64::from_le_bytes(done.try_into().expect("8 bytes"));
        self.skip = u64::from_le_bytes(taken.try_into().expect("8 bytes")) as usize;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;
    use arrow_array::{ArrayRef, Int32Array};

    fn batch(v: i32) -> RecordBatch {
        RecordBatch::try_from_iter([("v", Arc::new(Int32Array::from(vec![v, v + 1])) as ArrayRef)])
            .unwrap()
    }

    fn drain(p: &mut dyn TableProducer) -> Vec<RecordBatch> {
        std::iter::from_fn(|| p.next_batch().unwrap()).collect()
    }

    #[test]
    fn vec_producer_yields_in_order() {
        let mut p = VecProducer::new(vec![batch(1), batch(3)]);
        assert_eq!(drain(&mut p), vec![batch(1), batch(3)]);
        assert!(p.next_batch().unwrap().is_none());
    }

    #[test]
    fn store_producer_pages_through_the_log() {
        let (_dir, store) = test_store();
        let expected: Vec<RecordBatch> = (0..7).map(batch).collect();
        for b in &expected {
            store
                .append(b"e", b"n", b"k", ipc::encode_batch(b).unwrap())
                .unwrap();
        }
        let mut p = StoreScanProducer::new(Arc::clone(&store), b"e", b"n", b"k").with_page_size(3);
        assert_eq!(drain(&mut p), expected);
        assert!(p.next_batch().unwrap().is_none());
        let mut empty = StoreScanProducer::new(store, b"e", b"n", b"none");
        assert!(empty.next_batch().unwrap().is_none());
    }

    #[test]
    fn store_producer_reports_a_lost_entry() {
        let (_dir, store) = test_store();
        for i in 0..4 {
            store
                .append(b"e", b"n", b"k", ipc::encode_batch(&batch(i)).unwrap())
                .unwrap();
        }
        let scan = |count| {
            StoreScanProducer::new(Arc::clone(&store), b"e", b"n", b"k")
                .with_id_range(0, 3)
                .expecting(count)
        };
        assert_eq!(drain(&mut scan(4)).len(), 4);
        std::fs::remove_file(store.log_entry_path(b"e", b"n", b"k", 2).unwrap()).unwrap();
        let err = scan(4).next_batch().unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("expected 4 entries with ids 0..=3, found 3: entries are missing"),
            "{err}"
        );
    }

    #[test]
    fn store_producer_reads_only_its_id_range() {
        let (_dir, store) = test_store();
        let all: Vec<RecordBatch> = (0..10).map(batch).collect();
        for b in &all {
            store
                .append(b"e", b"n", b"k", ipc::encode_batch(b).unwrap())
                .unwrap();
        }
        let range = |first, last| {
            StoreScanProducer::new(Arc::clone(&store), b"e", b"n", b"k")
                .with_page_size(2)
                .with_id_range(first, last)
        };
        assert_eq!(drain(&mut range(3, 6)), all[3..=6].to_vec());
        assert_eq!(drain(&mut range(0, 0)), all[..1].to_vec());
        assert_eq!(drain(&mut range(9, 20)), all[9..].to_vec());
    }

    #[test]
    fn store_producer_resumes_from_its_checkpoint() {
        let (_dir, store) = test_store();
        let all: Vec<RecordBatch> = (0..6).map(batch).collect();
        for pair in all.chunks(2) {
            let mut bytes = Vec::new();
            {
                let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &pair[0].schema())
                    .unwrap();
                for b in pair {
                    w.write(b).unwrap();
                }
                w.finish().unwrap();
            }
            store.append(b"e", b"n", b"k", bytes).unwrap();
        }
        let scan = || StoreScanProducer::new(Arc::clone(&store), b"e", b"n", b"k").expecting(3);
        for yielded in 0..=all.len() {
            let mut first = scan();
            for b in &all[..yielded] {
                assert_eq!(&first.next_batch().unwrap().unwrap(), b);
            }
            let mut resumed = scan();
            assert!(resumed.restore(&first.checkpoint().unwrap()).unwrap());
            assert_eq!(
                drain(&mut resumed),
                all[yielded..].to_vec(),
                "after {yielded}"
            );
        }
    }

    #[test]
    fn corrupt_entry_reports_its_path() {
        let (_dir, store) = test_store();
        store.append(b"e", b"n", b"k", b"garbage").unwrap();
        let mut p = StoreScanProducer::new(store, b"e", b"n", b"k");
        let err = p.next_batch().unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains("00000000000000000000.bin"),
            "{err}"
        );
    }
}
