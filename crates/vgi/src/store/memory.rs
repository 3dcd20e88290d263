//! The memory tier: the state of an execution whose every phase runs in
//! this process stays in memory, appended batches as Arrow data (not
//! encoded), other values as bytes, under a byte budget shared by all such
//! executions of the store. What does not fit is spilled to the execution's
//! directory exactly as the filesystem store writes it (framed, checksummed,
//! published whole), under the id it would have had in memory, so a log
//! lists the same ids in the same order wherever its entries are.
//!
//! Executions that other processes share (subprocess workers) are never in
//! the tier: they use the filesystem store from the start.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;

use super::ops::on_backend;
use super::paths::log_rel;
use super::{Backend, BufferingStore};
use crate::error::{Error, Result};
use crate::ipc;

/// One log entry as [`BufferingStore::read_log_entry`] returns it.
#[derive(Debug)]
pub enum LogEntry {
    /// Batches kept in memory as they were appended.
    Batches(Vec<RecordBatch>),
    /// An encoded value: appended bytes, or a batch's Arrow IPC stream (a
    /// spilled entry, or any entry of an execution outside the tier).
    Encoded(Vec<u8>),
}

/// A value being appended to a log.
pub(crate) enum Value<'a> {
    Batch(&'a RecordBatch),
    Bytes(&'a [u8]),
}

impl Value<'_> {
    fn size(&self) -> usize {
        match self {
            Value::Batch(batch) => batch.get_array_memory_size(),
            Value::Bytes(bytes) => bytes.len(),
        }
    }

    fn slot(&self) -> Slot {
        match self {
            Value::Batch(batch) => Slot::Batch((*batch).clone()),
            Value::Bytes(bytes) => Slot::Bytes(bytes.to_vec()),
        }
    }

    fn encode(&self) -> Result<Vec<u8>> {
        match self {
            Value::Batch(batch) => ipc::encode_batch(batch),
            Value::Bytes(bytes) => Ok(bytes.to_vec()),
        }
    }
}

/// A log entry held in memory.
enum Slot {
    Batch(RecordBatch),
    Bytes(Vec<u8>),
    /// Handed to a producer, which dropped it once it had yielded it.
    Released,
}

#[derive(Default)]
struct MemLog {
    next_id: i64,
    /// The entries in memory (and released ones), with their sizes.
    slots: BTreeMap<i64, (Slot, usize)>,
    /// Whether some entries did not fit and are in the log's directory.
    spilled: bool,
}

struct MemExecution {
    budget: usize,
    /// Bytes this execution holds (its share of [`MemoryTier::held`]).
    held: usize,
    logs: HashMap<(Vec<u8>, Vec<u8>), MemLog>,
    kv: HashMap<Vec<u8>, Vec<u8>>,
    /// Keys whose value did not fit and is in a file.
    kv_spilled: HashSet<Vec<u8>>,
}

type Shared = Arc<Mutex<MemExecution>>;

/// The executions of one store that live in memory.
#[derive(Default)]
pub(crate) struct MemoryTier {
    executions: Mutex<HashMap<Vec<u8>, Shared>>,
    /// Bytes held by every execution of the tier together.
    held: AtomicUsize,
}

impl std::fmt::Debug for MemoryTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTier")
            .field("held", &self.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryTier {
    fn get(&self, exec: &[u8]) -> Option<Shared> {
        lock(&self.executions).get(exec).cloned()
    }

    /// Takes `bytes` of the budget if the tier's total stays within `budget`.
    fn reserve(&self, bytes: usize, budget: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= budget)
            })
            .is_ok()
    }

    fn release(&self, state: &mut MemExecution, bytes: usize) {
        state.held -= bytes;
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl BufferingStore {
    /// Keeps the state of `exec` in memory from now on, while the bytes all
    /// executions of the tier hold stay within `budget`; what does not fit is
    /// spilled to files. Only for an execution whose every phase runs in this
    /// process: other processes see none of its in-memory state.
    pub fn keep_in_memory(&self, exec: &[u8], budget: usize) {
        let state = MemExecution {
            budget,
            held: 0,
            logs: HashMap::new(),
            kv: HashMap::new(),
            kv_spilled: HashSet::new(),
        };
        lock(&self.memory.executions).insert(exec.to_vec(), Arc::new(Mutex::new(state)));
    }

    /// Whether the state of `exec` is kept in memory (see [`keep_in_memory`](Self::keep_in_memory)).
    pub fn is_in_memory(&self, exec: &[u8]) -> bool {
        self.memory.get(exec).is_some()
    }

    /// Bytes the memory tier holds, over all its executions.
    pub fn memory_held(&self) -> usize {
        self.memory.held.load(Ordering::Acquire)
    }

    /// Drops the in-memory state of `exec`, if it has any.
    pub(crate) fn forget_in_memory(&self, exec: &[u8]) {
        if let Some(shared) = lock(&self.memory.executions).remove(exec) {
            let mut state = lock(&shared);
            let held = state.held;
            self.memory.release(&mut state, held);
            state.logs.clear();
            state.kv.clear();
        }
    }

    /// Appends `value` to the log of an execution in the tier, in memory if
    /// it fits, else to a file; `None` when `exec` is not in the tier.
    pub(crate) fn append_in_memory(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        value: Value<'_>,
    ) -> Result<Option<i64>> {
        let Some(shared) = self.memory.get(exec) else {
            return Ok(None);
        };
        let rel = log_rel(exec, ns, key)?;
        let size = value.size();
        let id = {
            let mut state = lock(&shared);
            let fits = self.memory.reserve(size, state.budget);
            if fits {
                state.held += size;
            }
            let log = state.logs.entry((ns.to_vec(), key.to_vec())).or_default();
            let id = log.next_id;
            log.next_id = id.checked_add(1).ok_or_else(|| Error::Corrupt {
                path: self.root().join(&rel),
                reason: "entry ids exhausted".into(),
            })?;
            if fits {
                log.slots.insert(id, (value.slot(), size));
                return Ok(Some(id));
            }
            log.spilled = true;
            id
        };
        let bytes = value.encode()?;
        on_backend!(self, b => b.put_entry_at(exec, ns, key, id, &bytes))?;
        Ok(Some(id))
    }

    /// The ids of a log of an execution in the tier, in memory or spilled,
    /// ascending; `None` when `exec` is not in the tier.
    pub(crate) fn entry_ids_in_memory(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
    ) -> Result<Option<Vec<i64>>> {
        let Some(shared) = self.memory.get(exec) else {
            return Ok(None);
        };
        log_rel(exec, ns, key)?;
        let (mut ids, spilled) = {
            let state = lock(&shared);
            match state.logs.get(&(ns.to_vec(), key.to_vec())) {
                Some(log) => (log.slots.keys().copied().collect::<Vec<_>>(), log.spilled),
                None => (Vec::new(), false),
            }
        };
        if spilled {
            ids.extend(self.backend_entry_ids(exec, ns, key)?);
            ids.sort_unstable();
            ids.dedup();
        }
        Ok(Some(ids))
    }

    /// Entry `id` of a log of an execution in the tier, handed over (and no
    /// longer held) when `release`. The outer `None`: `exec` is not in the
    /// tier; the inner one: the entry is not in memory and the log spilled
    /// nothing, so it is not in a file either.
    pub(crate) fn log_entry_in_memory(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
        release: bool,
    ) -> Result<Option<Option<LogEntry>>> {
        let Some(shared) = self.memory.get(exec) else {
            return Ok(None);
        };
        let mut state = lock(&shared);
        let Some(log) = state.logs.get_mut(&(ns.to_vec(), key.to_vec())) else {
            return Ok(Some(None));
        };
        let spilled = log.spilled;
        let Some((slot, size)) = log.slots.get_mut(&id) else {
            return if spilled { Ok(None) } else { Ok(Some(None)) };
        };
        if matches!(slot, Slot::Released) {
            return Err(Error::Corrupt {
                path: self.log_entry_path(exec, ns, key, id)?,
                reason: "the entry was released when a producer yielded it; a log kept in \
                         memory can be read by one producer only"
                    .into(),
            });
        }
        if !release {
            let entry = match slot {
                Slot::Batch(batch) => LogEntry::Batches(vec![batch.clone()]),
                Slot::Bytes(bytes) => LogEntry::Encoded(bytes.clone()),
                Slot::Released => unreachable!("checked above"),
            };
            return Ok(Some(Some(entry)));
        }
        let size = std::mem::take(size);
        let entry = match std::mem::replace(slot, Slot::Released) {
            Slot::Batch(batch) => LogEntry::Batches(vec![batch]),
            Slot::Bytes(bytes) => LogEntry::Encoded(bytes),
            Slot::Released => unreachable!("checked above"),
        };
        self.memory.release(&mut state, size);
        Ok(Some(Some(entry)))
    }

    /// Stores a key-value entry of an execution in the tier: `Some(true)`
    /// when it is kept in memory, `Some(false)` when it did not fit and the
    /// caller must write its file, `None` when `exec` is not in the tier.
    pub(crate) fn kv_put_in_memory(
        &self,
        exec: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<bool>> {
        let Some(shared) = self.memory.get(exec) else {
            return Ok(None);
        };
        let mut state = lock(&shared);
        if let Some(old) = state.kv.remove(key) {
            self.memory.release(&mut state, old.len());
        }
        if !self.memory.reserve(value.len(), state.budget) {
            state.kv_spilled.insert(key.to_vec());
            return Ok(Some(false));
        }
        state.held += value.len();
        state.kv.insert(key.to_vec(), value.to_vec());
        if state.kv_spilled.remove(key) {
            on_backend!(self, b => b.kv_del(exec, key))?;
        }
        Ok(Some(true))
    }

    /// Looks up a key-value entry of an execution in the tier: `Some(found)`
    /// when memory answers, `None` when the file store must (`exec` is not
    /// in the tier, or the value was spilled).
    pub(crate) fn kv_get_in_memory(&self, exec: &[u8], key: &[u8]) -> Option<Option<Vec<u8>>> {
        let shared = self.memory.get(exec)?;
        let state = lock(&shared);
        if state.kv_spilled.contains(key) {
            return None;
        }
        Some(state.kv.get(key).cloned())
    }

    /// Removes a key-value entry of an execution in the tier: `Some(existed)`
    /// when memory answers, `None` when the file store must remove it too.
    pub(crate) fn kv_del_in_memory(&self, exec: &[u8], key: &[u8]) -> Option<bool> {
        let shared = self.memory.get(exec)?;
        let mut state = lock(&shared);
        let existed = match state.kv.remove(key) {
            Some(old) => {
                self.memory.release(&mut state, old.len());
                true
            }
            None => false,
        };
        if state.kv_spilled.remove(key) {
            return None;
        }
        Some(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::table_producer::{StoreScanProducer, TableProducer};
    use crate::store::test_store;
    use arrow_array::{ArrayRef, Int64Array, StringArray};

    fn batch(first: i64, rows: i64) -> RecordBatch {
        let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(first..first + rows));
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (first..first + rows).map(|i| format!("row {i}")),
        ));
        RecordBatch::try_from_iter([("i", ints), ("s", text)]).unwrap()
    }

    fn drain(store: &Arc<BufferingStore>, exec: &[u8]) -> Vec<RecordBatch> {
        let mut p = StoreScanProducer::new(Arc::clone(store), exec, b"n", b"k");
        std::iter::from_fn(|| p.next_batch().unwrap()).collect()
    }

    fn files_of(store: &BufferingStore, exec: &[u8]) -> Vec<i64> {
        store.backend_entry_ids(exec, b"n", b"k").unwrap()
    }

    #[test]
    fn in_budget_nothing_touches_the_file_system() {
        let (_dir, store) = test_store();
        store.keep_in_memory(b"e", 1 << 30);
        let batches: Vec<_> = (0..4).map(|i| batch(i * 100, 100)).collect();
        for (i, b) in batches.iter().enumerate() {
            assert_eq!(store.append_batch(b"e", b"n", b"k", b).unwrap(), i as i64);
        }
        let sizes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        assert_eq!(store.memory_held(), sizes);
        assert!(!store.exec_dir(b"e").unwrap().exists(), "no directory");
        assert_eq!(store.entry_ids(b"e", b"n", b"k").unwrap(), [0, 1, 2, 3]);
        assert_eq!(drain(&store, b"e"), batches);
        assert_eq!(store.memory_held(), 0, "released as drained");
        store.clear(b"e").unwrap();
    }

    #[test]
    fn past_the_budget_entries_spill_framed_and_read_back_in_order() {
        let (_dir, store) = test_store();
        let batches: Vec<_> = (0..5).map(|i| batch(i * 50, 50)).collect();
        let one = batches[0].get_array_memory_size();
        store.keep_in_memory(b"e", 2 * one + one / 2);
        for b in &batches {
            store.append_batch(b"e", b"n", b"k", b).unwrap();
        }
        assert_eq!(store.memory_held(), 2 * one);
        assert_eq!(files_of(&store, b"e"), [2, 3, 4]);
        let spilled = store.read_entry(b"e", b"n", b"k", 3).unwrap().unwrap();
        assert_eq!(
            ipc::decode_batches(&spilled).unwrap(),
            vec![batches[3].clone()]
        );
        let on_disk = std::fs::read(store.log_entry_path(b"e", b"n", b"k", 3).unwrap()).unwrap();
        assert_eq!(&on_disk[super::super::frame::HEADER_LEN..], &spilled[..]);
        assert_eq!(store.entry_ids(b"e", b"n", b"k").unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(drain(&store, b"e"), batches);
        assert_eq!(store.memory_held(), 0);
        store.clear(b"e").unwrap();
        assert!(
            !store.exec_dir(b"e").unwrap().exists(),
            "spilled files removed"
        );
    }

    #[test]
    fn mixed_memory_and_spilled_entries_list_in_append_order() {
        let (_dir, store) = test_store();
        let small = batch(0, 10);
        let large = batch(10, 5000);
        let small_again = batch(5010, 10);
        store.keep_in_memory(
            b"e",
            2 * small.get_array_memory_size() + small_again.get_array_memory_size(),
        );
        for b in [&small, &large, &small_again, &large, &small] {
            store.append_batch(b"e", b"n", b"k", b).unwrap();
        }
        assert_eq!(files_of(&store, b"e"), [1, 3]);
        assert_eq!(store.entry_ids(b"e", b"n", b"k").unwrap(), [0, 1, 2, 3, 4]);
        let ranged = |first, last| {
            let mut p = StoreScanProducer::new(Arc::clone(&store), b"e", b"n", b"k")
                .with_id_range(first, last)
                .expecting((last - first + 1) as usize);
            std::iter::from_fn(|| p.next_batch().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(
            ranged(2, 4),
            [small_again.clone(), large.clone(), small.clone()]
        );
        assert_eq!(ranged(0, 1), [small, large]);
    }

    #[test]
    fn a_producer_releases_each_entry_as_it_yields_it() {
        let (_dir, store) = test_store();
        store.keep_in_memory(b"e", 1 << 30);
        let batches: Vec<_> = (0..3).map(|i| batch(i * 10, 1000)).collect();
        for b in &batches {
            store.append_batch(b"e", b"n", b"k", b).unwrap();
        }
        let total = store.memory_held();
        let mut p = StoreScanProducer::new(Arc::clone(&store), b"e", b"n", b"k");
        let first = p.next_batch().unwrap().unwrap();
        assert_eq!(first, batches[0]);
        assert_eq!(
            store.memory_held(),
            total - batches[0].get_array_memory_size()
        );
        let err = store.read_log_entry(b"e", b"n", b"k", 0, true).unwrap_err();
        assert!(err.to_string().contains("released"), "{err}");
        assert_eq!(store.entry_ids(b"e", b"n", b"k").unwrap(), [0, 1, 2]);
        assert_eq!(p.next_batch().unwrap().unwrap(), batches[1]);
        assert_eq!(p.next_batch().unwrap().unwrap(), batches[2]);
        assert!(p.next_batch().unwrap().is_none());
        assert_eq!(store.memory_held(), 0);
    }

    #[test]
    fn reading_without_release_keeps_the_entry() {
        let (_dir, store) = test_store();
        store.keep_in_memory(b"e", 1 << 30);
        store.append_batch(b"e", b"n", b"k", &batch(0, 3)).unwrap();
        store.append(b"e", b"n", b"k", b"bytes").unwrap();
        let held = store.memory_held();
        let page = store.scan(b"e", b"n", b"k", -1, 10).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(ipc::decode_batches(&page[0].1).unwrap(), [batch(0, 3)]);
        assert_eq!(page[1], (1, b"bytes".to_vec()));
        assert_eq!(store.memory_held(), held);
        assert!(store.read_entry(b"e", b"n", b"k", 7).unwrap().is_none());
    }

    #[test]
    fn clear_frees_memory_and_spilled_files() {
        let (_dir, store) = test_store();
        let b = batch(0, 100);
        store.keep_in_memory(b"e", b.get_array_memory_size());
        store.append_batch(b"e", b"n", b"k", &b).unwrap();
        store.append_batch(b"e", b"n", b"k", &b).unwrap();
        store.kv_put(b"e", b"key", b"v").unwrap();
        assert!(store.memory_held() > 0);
        assert_eq!(files_of(&store, b"e"), [1]);
        store.clear(b"e").unwrap();
        assert_eq!(store.memory_held(), 0);
        assert!(!store.is_in_memory(b"e"));
        assert!(!store.exec_dir(b"e").unwrap().exists());
        assert!(store.entry_ids(b"e", b"n", b"k").unwrap().is_empty());
        assert_eq!(store.kv_get(b"e", b"key").unwrap(), None);
    }

    #[test]
    fn the_budget_is_shared_by_the_executions_of_the_tier() {
        let (_dir, store) = test_store();
        let b = batch(0, 100);
        let size = b.get_array_memory_size();
        store.keep_in_memory(b"e1", size);
        store.keep_in_memory(b"e2", size);
        store.append_batch(b"e1", b"n", b"k", &b).unwrap();
        store.append_batch(b"e2", b"n", b"k", &b).unwrap();
        assert!(files_of(&store, b"e1").is_empty());
        assert_eq!(files_of(&store, b"e2"), [0]);
        store.clear(b"e1").unwrap();
        store.append_batch(b"e2", b"n", b"k", &b).unwrap();
        assert_eq!(files_of(&store, b"e2"), [0], "the freed budget is reused");
        assert_eq!(drain(&store, b"e2"), [b.clone(), b]);
    }

    #[test]
    fn executions_outside_the_tier_write_files_from_the_start() {
        let (_dir, store) = test_store();
        store.append_batch(b"e", b"n", b"k", &batch(0, 5)).unwrap();
        assert_eq!(store.memory_held(), 0);
        assert_eq!(files_of(&store, b"e"), [0]);
        assert_eq!(drain(&store, b"e"), [batch(0, 5)]);
        assert_eq!(drain(&store, b"e"), [batch(0, 5)], "files stay readable");
    }

    #[test]
    fn key_value_entries_live_in_memory_and_spill_when_too_large() {
        let (_dir, store) = test_store();
        store.keep_in_memory(b"e", 8);
        let kv_file = store.kv_path(b"e", b"k").unwrap();
        store.kv_put(b"e", b"k", b"small").unwrap();
        assert!(!kv_file.exists());
        assert_eq!(store.memory_held(), 5);
        store.kv_put(b"e", b"k", b"much too large").unwrap();
        assert!(kv_file.exists());
        assert_eq!(store.memory_held(), 0);
        assert_eq!(
            store.kv_get(b"e", b"k").unwrap().unwrap(),
            b"much too large"
        );
        store.kv_put(b"e", b"k", b"tiny").unwrap();
        assert!(!kv_file.exists(), "the spilled value is removed");
        assert_eq!(store.kv_get(b"e", b"k").unwrap().unwrap(), b"tiny");
        assert!(store.kv_del(b"e", b"k").unwrap());
        assert!(!store.kv_del(b"e", b"k").unwrap());
        assert_eq!(store.kv_get(b"e", b"k").unwrap(), None);
        store.kv_put(b"e", b"big", b"0123456789").unwrap();
        assert!(store.kv_del(b"e", b"big").unwrap());
        assert_eq!(store.kv_get(b"e", b"big").unwrap(), None);
        assert_eq!(store.memory_held(), 0);
    }

    #[test]
    fn names_are_checked_in_memory_too() {
        let (_dir, store) = test_store();
        store.keep_in_memory(b"e", 1 << 20);
        let long = vec![7u8; 200];
        assert!(matches!(
            store.append(b"e", &long, b"k", b"v"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(store.kv_put(b"e", &long, b"v").is_err());
    }
}
