//! A pool of `vgi-worker` processes, shared by every query of the process.
//!
//! Workers are handed out oldest-idle first, so consecutive calls alternate
//! between processes. A worker whose connection broke (it died, timed out or
//! answered out of turn) is dropped, which kills it, and replaced on the next
//! checkout.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use vgi_rpc_client::RpcClient;

use super::shared::SharedMemory;
use vgi::protocol::{PROTOCOL_NAME, PROTOCOL_VERSION};
use vgi::{Error, Result};

/// Idle workers kept after a burst of parallel calls.
pub(crate) const MAX_IDLE: usize = 8;

/// How workers are started.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct WorkerConfig {
    /// The command line of a worker.
    pub(crate) command: Vec<String>,
    /// Per-call timeout; `None` waits forever.
    pub(crate) timeout: Option<Duration>,
    /// Workers kept ready.
    pub(crate) size: usize,
    /// Whether large batches cross in shared memory (else in the pipe).
    pub(crate) shared_memory: bool,
}

/// One worker process and the INFO lines it logged during the current call.
pub(crate) struct Worker {
    pub(crate) client: RpcClient,
    pub(crate) pid_label: String,
    pub(crate) logs: Arc<Mutex<Vec<String>>>,
    /// The connection's shared memory for large batches.
    pub(crate) shared: SharedMemory,
}

impl Worker {
    fn spawn(config: &WorkerConfig, serial: u64) -> Result<Worker> {
        let client =
            RpcClient::connect_with_timeout(&config.command, config.timeout).map_err(|e| {
                Error::function(format!(
                    "cannot start the worker `{}`: {e}",
                    config.command.join(" ")
                ))
            })?;
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = logs.clone();
        let client = client
            .protocol(PROTOCOL_NAME)
            .protocol_version(PROTOCOL_VERSION)
            .on_log(Box::new(move |message| {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(message.message);
            }));
        Ok(Worker {
            client,
            pid_label: format!("worker #{serial}"),
            logs,
            shared: SharedMemory::new(config.shared_memory),
        })
    }

    /// The lines the worker logged since the last call.
    pub(crate) fn take_logs(&self) -> Vec<String> {
        std::mem::take(&mut *self.logs.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The idle workers of one configuration.
pub(crate) struct Pool {
    config: WorkerConfig,
    idle: Mutex<VecDeque<Worker>>,
    spawned: Mutex<u64>,
}

impl Pool {
    /// The process-wide pool for `config` (a new one when the settings changed).
    pub(crate) fn get(config: WorkerConfig) -> Arc<Pool> {
        static POOL: OnceLock<Mutex<Option<Arc<Pool>>>> = OnceLock::new();
        let mut current = POOL
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match current.as_ref() {
            Some(pool) if pool.config == config => pool.clone(),
            _ => {
                let pool = Arc::new(Pool {
                    config,
                    idle: Mutex::default(),
                    spawned: Mutex::new(0),
                });
                *current = Some(pool.clone());
                pool
            }
        }
    }

    /// An idle worker, after starting workers up to the pool's size.
    /// Workers are started without holding the pool's lock, so other calls
    /// take and return workers meanwhile; a worker that fails to start is an
    /// error only when no started one is at hand.
    pub(crate) fn checkout(&self) -> Result<Worker> {
        let missing = self.config.size.max(1).saturating_sub(self.idle().len());
        let mut started = Vec::with_capacity(missing);
        let mut failed = None;
        for _ in 0..missing {
            match Worker::spawn(&self.config, self.next_serial()) {
                Ok(worker) => started.push(worker),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let mut idle = self.idle();
        idle.extend(started);
        match (idle.pop_front(), failed) {
            (Some(worker), _) => Ok(worker),
            (None, Some(e)) => Err(e),
            // Calls on other threads took the idle workers meanwhile.
            (None, None) => {
                drop(idle);
                Worker::spawn(&self.config, self.next_serial())
            }
        }
    }

    fn idle(&self) -> MutexGuard<'_, VecDeque<Worker>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_serial(&self) -> u64 {
        let mut spawned = self.spawned.lock().unwrap_or_else(|e| e.into_inner());
        *spawned += 1;
        *spawned
    }

    /// Returns `worker` to the pool if its connection can take another call.
    /// Beyond [`MAX_IDLE`] idle workers, the extra one exits.
    pub(crate) fn checkin(&self, worker: Worker) {
        let mut idle = self.idle();
        if worker.client.is_reusable() && idle.len() < MAX_IDLE.max(self.config.size) {
            idle.push_back(worker);
        }
    }
}

/// A pool of `size` workers started by `program` (no call is made on them).
#[cfg(test)]
pub(crate) fn test_pool(program: &std::path::Path, size: usize) -> Pool {
    Pool {
        config: WorkerConfig {
            command: vec![program.display().to_string()],
            timeout: None,
            size,
            shared_memory: true,
        },
        idle: Mutex::default(),
        spawned: Mutex::new(0),
    }
}

/// An executable shell script `name` in `dir` running `body`.
#[cfg(test)]
pub(crate) fn test_program(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_cannot_start_is_no_error_while_another_is_idle() {
        let dir = tempfile::tempdir().unwrap();
        // Exits when the pool closes its stdin.
        let program = test_program(dir.path(), "worker", "exec cat >/dev/null");
        let pool = test_pool(&program, 2);
        let first = pool.checkout().expect("starts two workers, hands out one");
        std::fs::remove_file(&program).unwrap();
        let second = pool
            .checkout()
            .expect("the idle worker, though the one to replace it cannot start");
        let err = pool
            .checkout()
            .err()
            .expect("no worker is idle and none can start");
        assert!(err.to_string().contains("cannot start the worker"), "{err}");
        assert_eq!(*pool.spawned.lock().unwrap(), 4, "two started, two failed");
        drop((first, second));
    }
}
