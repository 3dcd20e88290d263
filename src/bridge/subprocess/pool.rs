//! A pool of `vgi-worker` processes, shared by every query of the process.
//!
//! Workers are handed out oldest-idle first, so consecutive calls alternate
//! between processes. A worker whose connection broke (it died, timed out or
//! answered out of turn) is dropped, which kills it, and replaced on the next
//! checkout.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use vgi_rpc_client::RpcClient;

use crate::protocol::{PROTOCOL_NAME, PROTOCOL_VERSION};
use crate::{Error, Result};

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
}

/// One worker process and the INFO lines it logged during the current call.
pub(crate) struct Worker {
    pub(crate) client: RpcClient,
    pub(crate) pid_label: String,
    pub(crate) logs: Arc<Mutex<Vec<String>>>,
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
    pub(crate) fn checkout(&self) -> Result<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while idle.len() < self.config.size.max(1) {
            let serial = {
                let mut spawned = self.spawned.lock().unwrap_or_else(|e| e.into_inner());
                *spawned += 1;
                *spawned
            };
            idle.push_back(Worker::spawn(&self.config, serial)?);
        }
        Ok(idle
            .pop_front()
            .expect("the pool holds at least one worker"))
    }

    /// Returns `worker` to the pool if its connection can take another call.
    /// Beyond [`MAX_IDLE`] idle workers, the extra one exits.
    pub(crate) fn checkin(&self, worker: Worker) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if worker.client.is_reusable() && idle.len() < MAX_IDLE.max(self.config.size) {
            idle.push_back(worker);
        }
    }
}
