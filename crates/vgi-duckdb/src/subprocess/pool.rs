//! A pool of worker connections, shared by every query of the process:
//! `vgi-worker` processes it starts (subprocess execution), or clients of
//! the HTTP workers of `vgi_worker_urls` (remote execution).
//!
//! Workers are handed out oldest-idle first, so consecutive calls alternate
//! between processes (or URLs). A worker whose connection broke (it died,
//! timed out or answered out of turn) is dropped, which kills a process, and
//! replaced on the next checkout.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use vgi_rpc_client::{HttpClient, RpcClient};

use super::client::Client;
use super::http::ReqwestExecutor;
use super::shared::SharedMemory;
use vgi::protocol::{PROTOCOL_NAME, PROTOCOL_VERSION};
use vgi::{Error, Result};

/// Idle workers kept after a burst of parallel calls.
pub(crate) const MAX_IDLE: usize = 8;

/// Where the workers are.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Endpoint {
    /// Processes started with this command line, one per worker.
    Command(Vec<String>),
    /// HTTP workers at these base URLs, taken in turn.
    Urls(Vec<String>),
}

/// How workers are started or reached.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct WorkerConfig {
    pub(crate) endpoint: Endpoint,
    /// Per-call timeout; `None` waits forever.
    pub(crate) timeout: Option<Duration>,
    /// Workers kept ready.
    pub(crate) size: usize,
    /// Whether large batches cross in shared memory (else in the pipe;
    /// never over HTTP).
    pub(crate) shared_memory: bool,
}

/// One worker connection and the INFO lines it logged during the current call.
pub(crate) struct Worker {
    pub(crate) client: Client,
    /// `worker #n`, as lifecycle lines name the worker.
    pub(crate) pid_label: String,
    /// The HTTP worker's base URL.
    pub(crate) url: Option<String>,
    pub(crate) logs: Arc<Mutex<Vec<String>>>,
    /// The connection's shared memory for large batches.
    pub(crate) shared: SharedMemory,
}

impl Worker {
    fn spawn(
        config: &WorkerConfig,
        serial: u64,
        http: Option<&Arc<ReqwestExecutor>>,
    ) -> Result<Worker> {
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = logs.clone();
        let on_log = Box::new(move |message: vgi_rpc_client::LogMessage| {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message.message);
        });
        let (client, url, shared) = match &config.endpoint {
            Endpoint::Command(command) => {
                let client = RpcClient::connect_with_timeout(command, config.timeout)
                    .map_err(|e| {
                        Error::function(format!(
                            "cannot start the worker `{}`: {e}",
                            command.join(" ")
                        ))
                    })?
                    .protocol(PROTOCOL_NAME)
                    .protocol_version(PROTOCOL_VERSION)
                    .on_log(on_log);
                (Client::Pipe(client), None, config.shared_memory)
            }
            Endpoint::Urls(urls) => {
                let http =
                    http.ok_or_else(|| Error::function("an HTTP pool without its client"))?;
                let url = &urls[usize::try_from(serial - 1).unwrap_or(0) % urls.len().max(1)];
                let client = HttpClient::connect(url.as_str())
                    .protocol(PROTOCOL_NAME)
                    .protocol_version(PROTOCOL_VERSION)
                    .timeout(config.timeout)
                    // Arrow data on a local network: compressing costs more
                    // CPU than it saves in transfer.
                    .compression_level(None)
                    .executor(http.clone())
                    .on_log(on_log)
                    .build()
                    .map_err(|e| Error::function(format!("cannot reach the worker {url}: {e}")))?;
                (Client::Http(Box::new(client)), Some(url.clone()), false)
            }
        };
        Ok(Worker {
            client,
            pid_label: format!("worker #{serial}"),
            url,
            logs,
            shared: SharedMemory::new(shared),
        })
    }

    /// The worker as errors name it: `worker #n`, and its URL over HTTP.
    pub(crate) fn label(&self) -> String {
        match &self.url {
            Some(url) => format!("{} at {url}", self.pid_label),
            None => self.pid_label.clone(),
        }
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
    /// The connections of the pool's HTTP clients (remote execution).
    http: Option<Arc<ReqwestExecutor>>,
}

impl Pool {
    /// The process-wide pool for `config` (a new one when the settings changed).
    pub(crate) fn get(config: WorkerConfig) -> Result<Arc<Pool>> {
        static POOL: OnceLock<Mutex<Option<Arc<Pool>>>> = OnceLock::new();
        let mut current = POOL
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match current.as_ref() {
            Some(pool) if pool.config == config => Ok(pool.clone()),
            _ => {
                let pool = Arc::new(Pool::new(config)?);
                *current = Some(pool.clone());
                Ok(pool)
            }
        }
    }

    fn new(config: WorkerConfig) -> Result<Pool> {
        Ok(Pool {
            idle: Mutex::default(),
            spawned: Mutex::new(0),
            http: match config.endpoint {
                Endpoint::Urls(_) => Some(Arc::new(ReqwestExecutor::new()?)),
                Endpoint::Command(_) => None,
            },
            config,
        })
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
            match Worker::spawn(&self.config, self.next_serial(), self.http.as_ref()) {
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
                Worker::spawn(&self.config, self.next_serial(), self.http.as_ref())
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
    Pool::new(WorkerConfig {
        endpoint: Endpoint::Command(vec![program.display().to_string()]),
        timeout: None,
        size,
        shared_memory: true,
    })
    .unwrap()
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
