//! The client's side of a worker connection's shared memory (the protocol is
//! in [`vgi::protocol::shm`]): the segment is made at the first call that
//! needs it, grows to the largest batch, and loses its name in `/dev/shm`
//! once the worker has used it.

use std::collections::HashMap;

use arrow_array::RecordBatch;

use vgi::protocol::shm::{self, Segment, Slot};
use vgi::Result;

/// Request or batch metadata, as vgi-rpc carries it.
pub(crate) type Metadata = HashMap<String, String>;

/// The smallest segment: two of the bridge's largest process batches
/// (32 MiB of Arrow data each), so a finalize stream's batches fit too.
const MIN_LEN: usize = 64 << 20;

/// Shared memory of one worker connection.
pub(crate) enum SharedMemory {
    /// Batches go inline (`vgi_worker_shared_memory = false`, or shared
    /// memory could not be made or used).
    Off,
    /// Not needed yet.
    Unused,
    /// A segment; `named` while its file still exists in `/dev/shm`.
    Mapped { segment: Segment, named: bool },
}

impl SharedMemory {
    /// A connection's shared memory before its first call.
    pub(crate) fn new(enabled: bool) -> Self {
        if enabled {
            SharedMemory::Unused
        } else {
            SharedMemory::Off
        }
    }

    /// Writes `batch` into the segment (made or grown to fit); the request
    /// metadata that points the worker at it, or `None` to send it inline.
    pub(crate) fn input(&mut self, batch: &RecordBatch) -> Option<Metadata> {
        let slot = match self.write(batch) {
            Ok(slot) => slot?,
            Err(e) => {
                self.refused(&e.to_string());
                return None;
            }
        };
        self.input_at(slot)
    }

    /// The segment's memory, made or grown to at least `len` bytes, for a
    /// batch gathered straight into it; `None` when batches go inline.
    pub(crate) fn region(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > shm::MAX_LEN {
            return None;
        }
        if matches!(self, SharedMemory::Mapped { segment, .. } if segment.len() < len) {
            self.release();
        }
        if let Err(e) = self.segment(len.next_power_of_two().max(MIN_LEN)) {
            self.refused(&e.to_string());
        }
        match self {
            SharedMemory::Mapped { segment, .. } => Some(segment.memory_mut()),
            _ => None,
        }
    }

    /// The request metadata that points the worker at the input in `slot`.
    pub(crate) fn input_at(&self, slot: Slot) -> Option<Metadata> {
        let mut metadata = self.naming()?;
        metadata.insert(shm::INPUT_KEY.to_string(), slot.to_metadata());
        Some(metadata)
    }

    /// The batches of the IPC stream in `slot` of the segment, copied out.
    pub(crate) fn copy_out(&self, slot: Slot) -> Result<Vec<RecordBatch>> {
        match self {
            SharedMemory::Mapped { segment, .. } => segment.read_batches(slot),
            _ => Err(vgi::Error::function(
                "no shared memory to read a batch from",
            )),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<Option<Slot>> {
        if matches!(self, SharedMemory::Off) {
            return Ok(None);
        }
        if let Some(slot) = self
            .segment(MIN_LEN)?
            .and_then(|s| s.write_batch(batch).transpose())
        {
            return slot.map(Some);
        }
        let needed = shm::encoded_len(batch)?;
        if needed > shm::MAX_LEN {
            return Ok(None);
        }
        self.release();
        match self.segment(needed.next_power_of_two().max(MIN_LEN))? {
            Some(segment) => segment.write_batch(batch),
            None => Ok(None),
        }
    }

    /// The metadata of a finalize stream's request: it names a segment
    /// (made if there is none yet) for the worker to write batches into.
    pub(crate) fn for_stream(&mut self) -> Option<Metadata> {
        if let Err(e) = self.segment(MIN_LEN) {
            self.refused(&e.to_string());
        }
        self.naming()
    }

    /// The batch a stream sent in `metadata`'s slot of the segment, copied
    /// out; `None` when the batch came inline.
    pub(crate) fn output(&self, metadata: &Metadata) -> Option<Result<Vec<RecordBatch>>> {
        let slot = metadata.get(shm::BATCH_KEY)?;
        Some(match self {
            SharedMemory::Mapped { segment, .. } => {
                Slot::parse(slot).and_then(|slot| segment.read_batches(slot))
            }
            _ => Err(vgi::Error::function(format!(
                "the worker sent a batch in shared memory that this connection has not \
                 ({} = {slot})",
                shm::BATCH_KEY
            ))),
        })
    }

    /// A call that named the segment succeeded: the worker has it mapped,
    /// so its file is removed (nothing is left in `/dev/shm` if either
    /// process dies).
    pub(crate) fn used(&mut self) {
        if let SharedMemory::Mapped { segment, named } = self {
            if *named {
                segment.unlink().ok();
                *named = false;
            }
        }
    }

    /// The worker cannot use the segment: later calls send batches inline.
    pub(crate) fn refused(&mut self, why: &str) {
        if !matches!(self, SharedMemory::Off) {
            eprintln!("vgi: a worker's batches go through the pipe: {why}");
        }
        self.release();
        *self = SharedMemory::Off;
    }

    /// The segment, made with `len` bytes if there is none; `None` if off.
    fn segment(&mut self, len: usize) -> Result<Option<&mut Segment>> {
        if matches!(self, SharedMemory::Unused) {
            *self = SharedMemory::Mapped {
                segment: Segment::create(len)?,
                named: true,
            };
        }
        Ok(match self {
            SharedMemory::Mapped { segment, .. } => Some(segment),
            _ => None,
        })
    }

    fn naming(&self) -> Option<Metadata> {
        match self {
            SharedMemory::Mapped { segment, .. } => {
                Some([(shm::SEGMENT_KEY.to_string(), segment.name().to_string())].into())
            }
            _ => None,
        }
    }

    /// Drops the segment (removing its file if it still has one).
    fn release(&mut self) {
        if matches!(self, SharedMemory::Mapped { .. }) {
            self.used();
            *self = SharedMemory::Unused;
        }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        self.used();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array};
    use std::sync::Arc;

    fn batch(rows: i64) -> RecordBatch {
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
        RecordBatch::try_from_iter([("a", a)]).unwrap()
    }

    fn file_of(metadata: &Metadata) -> std::path::PathBuf {
        format!("/dev/shm/{}", metadata[shm::SEGMENT_KEY]).into()
    }

    #[test]
    fn the_segment_grows_to_the_largest_batch_and_its_file_goes_once_used() {
        let mut shared = SharedMemory::new(true);
        let small = shared.input(&batch(10)).unwrap();
        let first = file_of(&small);
        assert!(first.exists());
        let worker = Segment::attach(&small[shm::SEGMENT_KEY]).unwrap();
        let slot = Slot::parse(&small[shm::INPUT_KEY]).unwrap();
        assert_eq!(worker.read_batches(slot).unwrap(), vec![batch(10)]);
        shared.used();
        assert!(
            !first.exists(),
            "the segment's file is left once the worker mapped it"
        );

        // 80 MiB of data: a new, larger segment.
        let large = shared.input(&batch(10 << 20)).unwrap();
        let second = file_of(&large);
        assert_ne!(first, second);
        let worker = Segment::attach(&large[shm::SEGMENT_KEY]).unwrap();
        assert!(worker.len() >= 128 << 20);
        let slot = Slot::parse(&large[shm::INPUT_KEY]).unwrap();
        assert_eq!(worker.read_batches(slot).unwrap(), vec![batch(10 << 20)]);
        drop(shared);
        assert!(
            !second.exists(),
            "dropping the connection removes its segment's file"
        );
    }

    #[test]
    fn off_or_refused_means_inline() {
        let mut off = SharedMemory::new(false);
        assert!(off.input(&batch(10)).is_none());
        assert!(off.for_stream().is_none());
        let mut refused = SharedMemory::new(true);
        let metadata = refused.for_stream().unwrap();
        refused.refused("test");
        assert!(!file_of(&metadata).exists());
        assert!(refused.input(&batch(10)).is_none());
        let pointer: Metadata = [(shm::BATCH_KEY.to_string(), "0:10".to_string())].into();
        assert!(refused.output(&pointer).unwrap().is_err());
        assert!(refused.output(&Metadata::new()).is_none());
    }
}
