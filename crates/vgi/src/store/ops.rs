//! The store's public operations: an execution of the memory tier is
//! served from memory first, everything else goes to the backend.

use std::time::{Duration, SystemTime};

use arrow_array::RecordBatch;

use super::memory::{LogEntry, Value};
use super::paths::{exec_name, kv_name, kv_rel, log_rel};
use super::{Backend, BufferingStore, Orphan};
use crate::error::{Error, Result};
use crate::ipc;

/// Runs `$call` on the backend of `$store`, bound to `$b`.
macro_rules! on_backend {
    ($store:expr, $b:ident => $call:expr) => {
        match &$store.backend {
            Backend::Fs($b) => $call,
            #[cfg(feature = "object-store")]
            Backend::Object($b) => $call,
        }
    };
}
pub(crate) use on_backend;

impl BufferingStore {
    /// Store `value` under `(exec, key)`, atomically replacing any previous value.
    pub fn kv_put(&self, exec: &[u8], key: &[u8], value: &[u8]) -> Result<()> {
        kv_rel(exec)?;
        kv_name(key)?;
        if self.kv_put_in_memory(exec, key, value)? == Some(true) {
            return Ok(());
        }
        on_backend!(self, b => b.kv_put(exec, key, value))
    }

    /// The value under `(exec, key)`, or `None` if there is none.
    pub fn kv_get(&self, exec: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>> {
        kv_rel(exec)?;
        kv_name(key)?;
        if let Some(found) = self.kv_get_in_memory(exec, key) {
            return Ok(found);
        }
        on_backend!(self, b => b.kv_get(exec, key))
    }

    /// Remove `(exec, key)`; returns whether it existed.
    pub fn kv_del(&self, exec: &[u8], key: &[u8]) -> Result<bool> {
        kv_rel(exec)?;
        kv_name(key)?;
        if let Some(existed) = self.kv_del_in_memory(exec, key) {
            return Ok(existed);
        }
        on_backend!(self, b => b.kv_del(exec, key))
    }

    /// Marks `(exec, key)` as used now; returns false if there is no such entry.
    pub fn kv_touch(&self, exec: &[u8], key: &[u8]) -> Result<bool> {
        on_backend!(self, b => b.kv_touch(exec, key))
    }

    /// When `(exec, key)` was last written or touched; `None` if there is no such entry.
    pub fn kv_modified(&self, exec: &[u8], key: &[u8]) -> Result<Option<SystemTime>> {
        on_backend!(self, b => b.kv_modified(exec, key))
    }

    /// Append `value` under `(exec, ns, key)` and return its id. Ids start at
    /// 0, are unique across threads and processes, and increase in append
    /// order for each writer.
    pub fn append(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        value: impl AsRef<[u8]>,
    ) -> Result<i64> {
        if let Some(id) = self.append_in_memory(exec, ns, key, Value::Bytes(value.as_ref()))? {
            return Ok(id);
        }
        on_backend!(self, b => b.append(exec, ns, key, value.as_ref()))
    }

    /// Append `batch` to `(exec, ns, key)` and return its id, like
    /// [`append`](Self::append) of its Arrow IPC stream. An execution in the
    /// memory tier keeps the batch itself while it fits in the budget.
    pub fn append_batch(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        batch: &RecordBatch,
    ) -> Result<i64> {
        if let Some(id) = self.append_in_memory(exec, ns, key, Value::Batch(batch))? {
            return Ok(id);
        }
        self.append(exec, ns, key, ipc::encode_batch(batch)?)
    }

    /// The ids of the entries of `(exec, ns, key)`, ascending; empty for a log
    /// never appended to.
    pub fn entry_ids(&self, exec: &[u8], ns: &[u8], key: &[u8]) -> Result<Vec<i64>> {
        if let Some(ids) = self.entry_ids_in_memory(exec, ns, key)? {
            return Ok(ids);
        }
        self.backend_entry_ids(exec, ns, key)
    }

    /// The ids of the entries of `(exec, ns, key)` the backend holds, ascending.
    pub(crate) fn backend_entry_ids(&self, exec: &[u8], ns: &[u8], key: &[u8]) -> Result<Vec<i64>> {
        on_backend!(self, b => b.entry_ids(exec, ns, key))
    }

    /// The entry `id` of `(exec, ns, key)`, or `None` if there is none. With
    /// `release`, an entry held in memory is handed over and no longer kept
    /// (a producer that has yielded it drops it): reading it again is an
    /// error. Entries in files are never removed by reading.
    pub fn read_log_entry(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
        release: bool,
    ) -> Result<Option<LogEntry>> {
        if let Some(entry) = self.log_entry_in_memory(exec, ns, key, id, release)? {
            return Ok(entry);
        }
        log_rel(exec, ns, key)?;
        Ok(on_backend!(self, b => b.read_entry(exec, ns, key, id))?.map(LogEntry::Encoded))
    }

    /// The entry `id` of `(exec, ns, key)`, or `None` if there is none.
    pub fn read_entry(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
    ) -> Result<Option<Vec<u8>>> {
        match self.read_log_entry(exec, ns, key, id, false)? {
            Some(LogEntry::Batches(batches)) => match batches.as_slice() {
                [batch] => Ok(Some(ipc::encode_batch(batch)?)),
                _ => Err(Error::InvalidArgument(
                    "a log entry held in memory is one batch".into(),
                )),
            },
            Some(LogEntry::Encoded(bytes)) => Ok(Some(bytes)),
            None => Ok(None),
        }
    }

    /// Up to `limit` entries of `(exec, ns, key)` with `id > after_id`, ordered
    /// by id. A log never appended to is empty. Entries still being published
    /// by a concurrent `append` may be missed.
    pub fn scan(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut out = Vec::new();
        for id in self
            .entry_ids(exec, ns, key)?
            .into_iter()
            .filter(|id| *id > after_id)
        {
            if out.len() == limit {
                break;
            }
            if let Some(data) = self.read_entry(exec, ns, key, id)? {
                out.push((id, data));
            }
        }
        Ok(out)
    }

    /// Remove all state of `exec`, in memory and in the backend, and give up
    /// this process's claim on it; succeeds if there is none.
    pub fn clear(&self, exec: &[u8]) -> Result<()> {
        exec_name(exec)?;
        self.forget_in_memory(exec);
        on_backend!(self, b => b.clear(exec))
    }

    /// Every execution with state, as `(execution id, when it started)`,
    /// oldest first. For files, the time is the directory's mtime, which
    /// changes when the execution's first log or key-value entry is
    /// created, not on every write.
    pub fn list_executions(&self) -> Result<Vec<(Vec<u8>, SystemTime)>> {
        on_backend!(self, b => b.list_executions())
    }

    /// Takes `exec` over: this process owns it, so that garbage collection
    /// in any process leaves it alone until this process
    /// [clears](BufferingStore::clear) it or exits, and the workers that
    /// opened it leave its removal to this process.
    pub fn claim(&self, exec: &[u8]) -> Result<()> {
        on_backend!(self, b => b.claim(exec))
    }

    /// Makes this process an owner of `exec` before its first write to it
    /// (so that an execution that writes nothing leaves no trace).
    pub fn ensure_claimed(&self, exec: &[u8]) -> Result<()> {
        on_backend!(self, b => b.ensure_claimed(exec))
    }

    /// Records that `exec` was opened by another process and that this one
    /// serves calls of it (a worker): from now on a write to it never makes
    /// it again once it is gone (see [`Error::Ended`]).
    pub fn join(&self, exec: &[u8]) {
        on_backend!(self, b => b.join(exec))
    }

    /// Forgets that this process [joined](BufferingStore::join) `exec`.
    pub fn leave(&self, exec: &[u8]) {
        on_backend!(self, b => b.leave(exec))
    }

    /// Whether no other live process [took](BufferingStore::claim) `exec`
    /// over: this process did, or none did.
    pub fn owned_here_or_orphaned(&self, exec: &[u8]) -> Result<bool> {
        on_backend!(self, b => b.owned_here_or_orphaned(exec))
    }

    /// Removes every execution older than `ttl` that no live process owns,
    /// and reports each: removed, or why it could not be (the others are
    /// handled all the same).
    pub fn collect_orphans(&self, ttl: Duration) -> Result<Vec<Orphan>> {
        on_backend!(self, b => b.collect_orphans(ttl))
    }
}
