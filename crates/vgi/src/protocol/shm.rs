//! The shared-memory side channel between vgi's subprocess client (the
//! extension) and `vgi-worker`: large batches cross in a memory segment that
//! both processes map, instead of as IPC bytes nested in a request record
//! that goes through the pipe.
//!
//! The client creates one segment per worker connection, the file
//! `/dev/shm/vgi-shm-<32 hex digits>` (mode 0600, its pages reserved with
//! `fallocate` so that no write can fault), names it in a request's metadata
//! ([`SEGMENT_KEY`] = the name) and unlinks it once the worker has attached.
//!
//! - `table_buffering_process`: the client writes the input batch's IPC
//!   stream into the segment and sends the request with `input_batch` empty
//!   and [`INPUT_KEY`] = `offset:length` in the request's metadata.
//! - finalize `init` (a producer stream): the worker writes each output
//!   batch's IPC stream into the segment and emits a zero-row batch with
//!   [`BATCH_KEY`] = `offset:length`; a batch that does not fit goes inline.
//!
//! Ownership of the segment passes with the lockstep of the calls: the
//! client writes only before it sends a request and reads only after an
//! answer; the worker reads and writes only while it serves a request. The
//! client copies what it reads out of the segment. The worker decodes a
//! process request's input in place ([`Segment::read_in_place`]: no copy)
//! and, before it answers, [`Segment::reclaim`]s the slot: if the function
//! kept any of the input's buffers, the pages under them become private to
//! the worker (`mremap` of a copy over them, so their addresses and contents
//! stay) and the segment is mapped again for later calls. So neither an
//! allocator nor a lock is shared across the processes, and what a function
//! keeps never changes under it. The worker trusts its client to keep the
//! lockstep, as it trusts any process of its user (which could ptrace it).
//! A request without these keys (any other VGI client's) is served inline.

use std::ffi::c_void;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::{Buffer, MutableBuffer};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::mm::{MapFlags, MremapFlags, ProtFlags};

use crate::error::{Error, Result};
use crate::ipc::{decode_buffer, encode_batch_into};

/// Request metadata: the name of the client's segment.
pub const SEGMENT_KEY: &str = "vgi.shm.segment";
/// Process request metadata: where the input batch's IPC stream is.
pub const INPUT_KEY: &str = "vgi.shm.input";
/// Stream batch metadata: where the output batch's IPC stream is.
pub const BATCH_KEY: &str = "vgi.shm.batch";

/// The error type of a request whose shared memory the worker cannot use:
/// nothing ran, so the client may send the request again inline.
pub const REFUSED: &str = "SharedMemoryError";

/// The directory segments live in (a tmpfs on Linux).
const DIR: &str = "/dev/shm";
/// Every segment's name starts so; the worker attaches no other file.
const PREFIX: &str = "vgi-shm-";
/// The largest segment either side maps.
pub const MAX_LEN: usize = 1 << 30;

/// A range of a segment: `offset:length` in metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    offset: usize,
    len: usize,
}

impl Slot {
    /// The `len` bytes at `offset`.
    pub fn new(offset: usize, len: usize) -> Slot {
        Slot { offset, len }
    }

    /// The metadata value.
    pub fn to_metadata(self) -> String {
        format!("{}:{}", self.offset, self.len)
    }

    /// Parses a metadata value.
    pub fn parse(value: &str) -> Result<Slot> {
        let bad = || Error::InvalidArgument(format!("shared memory slot: bad value '{value}'"));
        let (offset, len) = value.split_once(':').ok_or_else(bad)?;
        Ok(Slot {
            offset: offset.parse().map_err(|_| bad())?,
            len: len.parse().map_err(|_| bad())?,
        })
    }
}

/// A mapped segment.
pub struct Segment {
    name: String,
    fd: OwnedFd,
    /// The mapping calls use; batches read in place hold it too.
    mapping: Arc<Mapping>,
    /// The slot last read in place, until [`Segment::reclaim`].
    lent: Option<Slot>,
}

/// One mapping of a segment's file: unmapped when the segment and every
/// buffer read in place from it are gone.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// The mapping is plain memory owned by this value; which process may touch
// it when is the protocol's business (module docs), and the buffers that
// share it only read it.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once, when nothing
        // refers to it any more.
        unsafe {
            rustix::mm::munmap(self.ptr.as_ptr().cast::<c_void>(), self.len).ok();
        }
    }
}

impl Segment {
    /// Creates a segment of `len` bytes, its pages reserved (client side).
    /// Fails where there is no `/dev/shm` or it has no room; the caller then
    /// sends batches inline.
    pub fn create(len: usize) -> Result<Segment> {
        if len == 0 || len > MAX_LEN {
            return Err(invalid(format!("a segment of {len} bytes")));
        }
        let name = format!(
            "{PREFIX}{}",
            hex::encode(crate::store::random::random_bytes::<16>()?)
        );
        let path = format!("{DIR}/{name}");
        let fd = rustix::fs::open(
            path.as_str(),
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| os_error("create shared memory", &path, e))?;
        let reserved =
            rustix::fs::fallocate(&fd, rustix::fs::FallocateFlags::empty(), 0, len as u64);
        if let Err(e) = reserved {
            rustix::fs::unlink(path.as_str()).ok();
            return Err(os_error("reserve shared memory", &path, e));
        }
        match map(&fd, len, &path) {
            Ok(mapping) => Ok(Segment {
                name,
                fd,
                mapping: Arc::new(mapping),
                lent: None,
            }),
            Err(e) => {
                rustix::fs::unlink(path.as_str()).ok();
                Err(e)
            }
        }
    }

    /// Maps the segment a client named (worker side): only a regular file
    /// of this user in `/dev/shm` with a segment's name, never through a
    /// symlink.
    pub fn attach(name: &str) -> Result<Segment> {
        let valid = name
            .strip_prefix(PREFIX)
            .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        if !valid {
            return Err(invalid(format!(
                "'{name}' is not a shared memory segment's name"
            )));
        }
        let path = format!("{DIR}/{name}");
        let fd = rustix::fs::open(
            path.as_str(),
            OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| os_error("attach shared memory", &path, e))?;
        let stat =
            rustix::fs::fstat(&fd).map_err(|e| os_error("attach shared memory", &path, e))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(invalid(format!("{path} is not a regular file")));
        }
        if stat.st_uid != rustix::process::geteuid().as_raw() {
            return Err(invalid(format!("{path} belongs to uid {}", stat.st_uid)));
        }
        let len = usize::try_from(stat.st_size).unwrap_or(usize::MAX);
        if len == 0 || len > MAX_LEN {
            return Err(invalid(format!("{path} has {len} bytes")));
        }
        let mapping = map(&fd, len, &path)?;
        Ok(Segment {
            name: name.to_string(),
            fd,
            mapping: Arc::new(mapping),
            lent: None,
        })
    }

    /// The segment's name, as [`SEGMENT_KEY`] carries it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The segment's size in bytes.
    pub fn len(&self) -> usize {
        self.mapping.len
    }

    /// Whether the segment has no bytes (never: [`Segment::create`] and
    /// [`Segment::attach`] refuse an empty one).
    pub fn is_empty(&self) -> bool {
        self.mapping.len == 0
    }

    /// Removes the segment's name; the mappings stay valid until dropped.
    pub fn unlink(&self) -> Result<()> {
        let path = format!("{DIR}/{}", self.name);
        match rustix::fs::unlink(path.as_str()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(os_error("remove shared memory", &path, e)),
        }
    }

    /// The segment's bytes, to write a request's input into (client side).
    pub fn memory_mut(&mut self) -> &mut [u8] {
        self.reclaim();
        // SAFETY: the mapping is `len` bytes and lives as long as `self`;
        // `&mut self` makes this the only slice of it in this process (no
        // buffer read in place refers to it after `reclaim`), and the
        // protocol keeps the peer off it until the request is sent.
        unsafe { std::slice::from_raw_parts_mut(self.mapping.ptr.as_ptr(), self.mapping.len) }
    }

    /// Writes `batch` as an IPC stream at the start of the segment; `None`
    /// when it does not fit.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<Option<Slot>> {
        let memory = self.memory_mut();
        let mut writer = SliceWriter {
            memory,
            written: 0,
            full: false,
        };
        let encoded = encode_batch_into(batch, &mut writer).map(drop);
        match encoded {
            Ok(()) => Ok(Some(Slot {
                offset: 0,
                len: writer.written,
            })),
            Err(_) if writer.full => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The batches of the IPC stream in `slot`, copied out of the segment.
    pub fn read_batches(&self, slot: Slot) -> Result<Vec<RecordBatch>> {
        let start = self.slot_start(slot)?;
        // SAFETY: the range lies inside the mapping (`slot_start`); the
        // protocol keeps the peer from writing it until this call answers.
        let bytes = unsafe { std::slice::from_raw_parts(start.as_ptr(), slot.len) };
        let mut copy = MutableBuffer::with_capacity(slot.len);
        copy.extend_from_slice(bytes);
        decode_buffer(Buffer::from(copy))
    }

    /// The batches of the IPC stream in `slot`, their buffers in the segment
    /// itself (worker side). [`Segment::reclaim`] must run before the
    /// request is answered; the next read or write runs it first.
    pub fn read_in_place(&mut self, slot: Slot) -> Result<Vec<RecordBatch>> {
        self.reclaim();
        let start = self.slot_start(slot)?;
        self.lent = Some(slot);
        // SAFETY: the range lies inside the mapping, which the buffer keeps
        // mapped; the peer leaves it alone until the request is answered,
        // and `reclaim` makes it private to this process if it is kept.
        let buffer =
            unsafe { Buffer::from_custom_allocation(start, slot.len, self.mapping.clone()) };
        decode_buffer(buffer)
    }

    /// Ends the lease of the slot last read in place: when any of its
    /// buffers is still alive, their pages are replaced by private copies
    /// (same addresses, same bytes) and calls go on in a new mapping of the
    /// segment. If the system cannot spare the memory for that, the process
    /// aborts: the peer would otherwise write under buffers in use.
    pub fn reclaim(&mut self) {
        let Some(slot) = self.lent.take() else {
            return;
        };
        if Arc::strong_count(&self.mapping) == 1 {
            return;
        }
        let path = format!("{DIR}/{}", self.name);
        let remapped = map(&self.fd, self.mapping.len, &path).and_then(|fresh| {
            privatize(&self.mapping, slot).map_err(|e| os_error("copy shared memory", &path, e))?;
            Ok(fresh)
        });
        match remapped {
            Ok(fresh) => self.mapping = Arc::new(fresh),
            Err(e) => {
                eprintln!(
                    "vgi: buffers a function kept lie in shared memory, which cannot be made \
                     private ({e}); stopping rather than let them change"
                );
                std::process::abort();
            }
        }
    }

    /// Where `slot` starts in the mapping, checked to lie inside it.
    fn slot_start(&self, slot: Slot) -> Result<NonNull<u8>> {
        let end = slot.offset.checked_add(slot.len);
        if end.is_none_or(|end| end > self.mapping.len) {
            return Err(invalid(format!(
                "slot {} lies outside the shared memory segment of {} bytes",
                slot.to_metadata(),
                self.mapping.len
            )));
        }
        // SAFETY: `offset` lies inside the mapping (checked above).
        Ok(unsafe { self.mapping.ptr.add(slot.offset) })
    }
}

/// Replaces the pages under `slot` of `mapping` by private copies of them.
fn privatize(mapping: &Mapping, slot: Slot) -> rustix::io::Result<()> {
    let page = rustix::param::page_size();
    let start = slot.offset / page * page;
    let len = (slot.offset + slot.len).div_ceil(page) * page - start;
    if len == 0 {
        return Ok(());
    }
    // SAFETY: a new private mapping nothing else refers to; the range of
    // `mapping` lies inside it (a slot ends inside the file, and the last
    // page is mapped whole); the buffers there only read, and the copy
    // replaces the pages with the same bytes in one system call.
    unsafe {
        let copy = rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )?;
        let target = mapping.ptr.as_ptr().add(start);
        std::ptr::copy_nonoverlapping(target, copy.cast::<u8>(), len);
        let moved = rustix::mm::mremap_fixed(
            copy,
            len,
            len,
            MremapFlags::MAYMOVE,
            target.cast::<c_void>(),
        );
        if let Err(e) = moved {
            rustix::mm::munmap(copy, len).ok();
            return Err(e);
        }
    }
    Ok(())
}

/// Maps `len` bytes of `fd`, shared and writable.
fn map(fd: &OwnedFd, len: usize, path: &str) -> Result<Mapping> {
    // SAFETY: a new shared mapping of a file this process opened; nothing
    // else in this process refers to the range it returns.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            fd,
            0,
        )
    }
    .map_err(|e| os_error("map shared memory", path, e))?;
    let ptr = NonNull::new(ptr.cast::<u8>())
        .ok_or_else(|| invalid(format!("{path} mapped at address 0")))?;
    Ok(Mapping { ptr, len })
}

/// The size of `batch`'s IPC stream, counted without keeping the bytes.
pub fn encoded_len(batch: &RecordBatch) -> Result<usize> {
    Ok(encode_batch_into(batch, Counter(0))?.0)
}

fn os_error(op: &'static str, path: &str, e: rustix::io::Errno) -> Error {
    Error::Io {
        path: path.into(),
        op,
        source: e.into(),
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidArgument(format!("shared memory: {reason}"))
}

/// Writes into a fixed slice; fails once it is full.
struct SliceWriter<'a> {
    memory: &'a mut [u8],
    written: usize,
    full: bool,
}

impl Write for SliceWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = &mut self.memory[self.written..];
        if data.len() > room.len() {
            self.full = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "the shared memory segment is full",
            ));
        }
        room[..data.len()].copy_from_slice(data);
        self.written += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts bytes written.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0 += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;

    fn batch(rows: i64) -> RecordBatch {
        batch_from(0, rows)
    }

    fn batch_from(first: i64, rows: i64) -> RecordBatch {
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values(first..first + rows));
        let s: ArrayRef = Arc::new(StringArray::from_iter_values(
            (first..first + rows).map(|i| format!("s{i}")),
        ));
        RecordBatch::try_from_iter([("a", a), ("s", s)]).unwrap()
    }

    /// Where the first column's values are.
    fn values_at(batch: &RecordBatch) -> usize {
        batch.column(0).to_data().buffers()[0].as_ptr() as usize
    }

    /// Whether `at` lies in the mapping `segment` uses for calls.
    fn in_mapping(segment: &Segment, at: usize) -> bool {
        let base = segment.mapping.ptr.as_ptr() as usize;
        (base..base + segment.mapping.len).contains(&at)
    }

    fn connected() -> (Segment, Segment) {
        let client = Segment::create(1 << 20).unwrap();
        let worker = Segment::attach(client.name()).unwrap();
        client.unlink().unwrap();
        (client, worker)
    }

    #[test]
    fn a_batch_read_in_place_lies_in_the_segment_and_once_dropped_leaves_it_as_it_was() {
        let (mut client, mut worker) = connected();
        let slot = client.write_batch(&batch(1000)).unwrap().unwrap();
        let read = worker.read_in_place(slot).unwrap();
        assert_eq!(read, vec![batch(1000)]);
        assert!(in_mapping(&worker, values_at(&read[0])), "copied");
        let mapping = worker.mapping.ptr;
        drop(read);
        worker.reclaim();
        assert_eq!(worker.mapping.ptr, mapping);
        let slot = client.write_batch(&batch_from(7, 10)).unwrap().unwrap();
        assert_eq!(worker.read_in_place(slot).unwrap(), vec![batch_from(7, 10)]);
    }

    #[test]
    fn a_batch_kept_past_its_call_keeps_its_bytes_when_the_peer_writes_again() {
        let (mut client, mut worker) = connected();
        let slot = client.write_batch(&batch(1000)).unwrap().unwrap();
        let kept = worker.read_in_place(slot).unwrap();
        let at = values_at(&kept[0]);
        worker.reclaim();
        assert_eq!(values_at(&kept[0]), at, "the kept buffers moved");
        assert!(
            !in_mapping(&worker, at),
            "calls go on under the kept buffers"
        );
        let slot = client
            .write_batch(&batch_from(5000, 1000))
            .unwrap()
            .unwrap();
        assert_eq!(kept, vec![batch(1000)]);
        assert_eq!(
            worker.read_in_place(slot).unwrap(),
            vec![batch_from(5000, 1000)]
        );
        let slot = worker.write_batch(&batch_from(1, 2)).unwrap().unwrap();
        assert_eq!(client.read_batches(slot).unwrap(), vec![batch_from(1, 2)]);
        assert_eq!(kept, vec![batch(1000)]);
    }

    #[test]
    fn a_batch_written_by_one_mapping_is_read_by_another() {
        let mut client = Segment::create(1 << 20).unwrap();
        let worker = Segment::attach(client.name()).unwrap();
        client.unlink().unwrap();
        assert!(!std::path::Path::new(&format!("{DIR}/{}", client.name())).exists());
        let slot = client.write_batch(&batch(1000)).unwrap().unwrap();
        let parsed = Slot::parse(&slot.to_metadata()).unwrap();
        assert_eq!(parsed, slot);
        assert_eq!(worker.read_batches(parsed).unwrap(), vec![batch(1000)]);
        assert_eq!(slot.len, encoded_len(&batch(1000)).unwrap());
    }

    #[test]
    fn a_batch_that_does_not_fit_is_none_and_leaves_the_segment_usable() {
        let mut segment = Segment::create(4096).unwrap();
        segment.unlink().unwrap();
        assert_eq!(segment.write_batch(&batch(10_000)).unwrap(), None);
        let slot = segment.write_batch(&batch(3)).unwrap().unwrap();
        assert_eq!(segment.read_batches(slot).unwrap(), vec![batch(3)]);
    }

    #[test]
    fn slots_outside_the_segment_and_damaged_bytes_are_errors() {
        let mut segment = Segment::create(4096).unwrap();
        segment.unlink().unwrap();
        let slot = segment.write_batch(&batch(3)).unwrap().unwrap();
        let outside = Slot::parse(&format!("4000:{}", slot.len)).unwrap();
        let message = segment.read_batches(outside).unwrap_err().to_string();
        assert!(
            message.contains("outside the shared memory segment"),
            "{message}"
        );
        let huge = Slot::parse(&format!("{}:{}", usize::MAX, 2)).unwrap();
        assert!(segment.read_batches(huge).is_err());
        let truncated = Slot::parse(&format!("0:{}", slot.len / 2)).unwrap();
        assert!(segment.read_batches(truncated).is_err());
        for bad in ["", "1", "a:b", "1:", ":2", "-1:2"] {
            assert!(Slot::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_segments_of_this_user_are_attached_never_other_files() {
        for name in [
            "../etc/passwd",
            "vgi-shm-",
            "vgi-shm-xyz",
            "other-0123456789abcdef0123456789abcdef",
        ] {
            let message = Segment::attach(name).err().unwrap().to_string();
            assert!(
                message.contains("not a shared memory segment's name"),
                "{name}: {message}"
            );
        }
        let missing = format!("{PREFIX}{}", "0".repeat(32));
        assert!(Segment::attach(&missing).is_err());
        let target = Segment::create(4096).unwrap();
        let link = format!("{PREFIX}{}", "1".repeat(32));
        let link_path = format!("{DIR}/{link}");
        std::os::unix::fs::symlink(format!("{DIR}/{}", target.name()), &link_path).unwrap();
        let refused = Segment::attach(&link);
        std::fs::remove_file(&link_path).unwrap();
        target.unlink().unwrap();
        assert!(refused.is_err(), "a symlink was followed");
    }
}
