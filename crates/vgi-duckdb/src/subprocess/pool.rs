//! A pool of worker connections, shared by every query of the process:
//! `vgi-worker` processes it starts (subprocess execution), or clients of
//! the HTTP workers of `vgi_worker_urls` (remote execution).
//!
//! The idle process returned last is handed out first, so a 1-thread
//! query's calls keep to one warm worker. An HTTP call goes to the URL with
//! the fewest of the pool's calls in flight (ties in turn), as a load
//! balancer's "least outstanding requests" would: however calls return,
//! concurrent calls land on different workers while some are free. A URL
//! that refused a connection is passed over for [`UNREACHABLE_FOR`] while
//! another may answer, or it would draw every call, having none in flight
//! (a load balancer's passive health check). A worker whose connection broke
//! (it died, timed out or answered out of turn) is dropped, which kills a
//! process, and replaced on the next checkout.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vgi_rpc_client::{HttpClient, RpcClient};

use super::client::Client;
use super::http::ReqwestExecutor;
use super::shared::SharedMemory;
use vgi::protocol::{PROTOCOL_NAME, PROTOCOL_VERSION};
use vgi::{Error, Result};

/// Idle workers kept after a burst of parallel calls.
pub(crate) const MAX_IDLE: usize = 8;

/// How many pools (one per distinct worker configuration) a process keeps.
const KEPT_POOLS: usize = 4;

/// How long a URL that refused a connection is passed over.
const UNREACHABLE_FOR: Duration = Duration::from_secs(5);

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
    /// The index of the worker's URL in the pool's (remote execution).
    target: Option<usize>,
    /// Counts the worker among its URL's calls in flight while checked out.
    lease: Option<InFlight>,
}

/// One call in flight to a URL, for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Worker {
    /// A worker with serial number `serial`: a process, or a client of the
    /// pool's URL number `target`.
    fn spawn(
        config: &WorkerConfig,
        serial: u64,
        target: Option<usize>,
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
                let url = target
                    .and_then(|target| urls.get(target))
                    .ok_or_else(|| Error::function("an HTTP worker without its URL"))?;
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
            target,
            lease: None,
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
    /// The calls in flight to each URL (remote execution).
    in_flight: Vec<Arc<AtomicUsize>>,
    /// Where the next search for the least busy URL starts, so that ties
    /// go to the URLs in turn.
    next_url: AtomicUsize,
    /// When each URL last refused a connection (remote execution).
    refused_at: Mutex<Vec<Option<Instant>>>,
}

impl Pool {
    /// The process-wide pool for `config`: the one of the last
    /// [`KEPT_POOLS`] distinct configurations used, else a new one (the
    /// least recently used pool then goes, and its idle workers exit), so
    /// connections with different settings do not restart each other's
    /// workers at every query.
    pub(crate) fn get(config: WorkerConfig) -> Result<Arc<Pool>> {
        static POOLS: Mutex<VecDeque<Arc<Pool>>> = Mutex::new(VecDeque::new());
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        let pool = match pools.iter().position(|pool| pool.config == config) {
            Some(at) => pools.remove(at).expect("a position in the deque"),
            None => Arc::new(Pool::new(config)?),
        };
        pools.push_front(pool.clone());
        pools.truncate(KEPT_POOLS);
        Ok(pool)
    }

    fn new(config: WorkerConfig) -> Result<Pool> {
        let (http, in_flight) = match &config.endpoint {
            Endpoint::Urls(urls) => (
                Some(Arc::new(ReqwestExecutor::new()?)),
                urls.iter().map(|_| Arc::default()).collect::<Vec<_>>(),
            ),
            Endpoint::Command(_) => (None, Vec::new()),
        };
        Ok(Pool {
            idle: Mutex::default(),
            spawned: Mutex::new(0),
            http,
            refused_at: Mutex::new(vec![None; in_flight.len()]),
            in_flight,
            next_url: AtomicUsize::new(0),
            config,
        })
    }

    /// Whether the pool's workers are processes whose batches cross in
    /// shared memory (not HTTP workers, not `vgi_worker_shared_memory = false`).
    pub(crate) fn shares_memory(&self) -> bool {
        self.config.shared_memory && matches!(self.config.endpoint, Endpoint::Command(_))
    }

    /// A worker for one call: a client of the least busy URL, or an idle
    /// process.
    pub(crate) fn checkout(&self) -> Result<Worker> {
        if self.in_flight.is_empty() {
            self.checkout_process()
        } else {
            self.checkout_url()
        }
    }

    /// An idle client of the URL with the fewest calls in flight, or a new
    /// one (a client opens its connection at its first request). The choice
    /// and its count happen under the pool's lock, so concurrent checkouts
    /// see each other.
    fn checkout_url(&self) -> Result<Worker> {
        let mut idle = self.idle();
        let target = self.least_busy_url();
        let lease = InFlight::new(&self.in_flight[target]);
        let found = idle
            .iter()
            .position(|worker| worker.target == Some(target))
            .and_then(|at| idle.remove(at));
        drop(idle);
        let mut worker = match found {
            Some(worker) => worker,
            None => Worker::spawn(
                &self.config,
                self.next_serial(),
                Some(target),
                self.http.as_ref(),
            )?,
        };
        worker.lease = Some(lease);
        Ok(worker)
    }

    /// The URL with the fewest calls in flight among those that did not
    /// refuse a connection in the last [`UNREACHABLE_FOR`] (among all if
    /// every one did); among equals, the first from a start that moves on
    /// at every call.
    fn least_busy_url(&self) -> usize {
        let count = self.in_flight.len();
        let start = self.next_url.fetch_add(1, Ordering::Relaxed) % count;
        let refused_at = self.refused_at();
        let refused_lately =
            |at: usize| refused_at[at].is_some_and(|when| when.elapsed() < UNREACHABLE_FOR);
        (0..count)
            .map(|offset| (start + offset) % count)
            .min_by_key(|&at| {
                (
                    refused_lately(at),
                    self.in_flight[at].load(Ordering::SeqCst),
                )
            })
            .unwrap_or(0)
    }

    /// Records that `worker`'s URL refused a connection, so that calls pass
    /// it over for a while (no effect on a process).
    pub(crate) fn refused(&self, worker: &Worker) {
        if let Some(target) = worker.target {
            self.refused_at()[target] = Some(Instant::now());
        }
    }

    fn refused_at(&self) -> MutexGuard<'_, Vec<Option<Instant>>> {
        self.refused_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle process, after starting workers up to the pool's size.
    /// Workers are started without holding the pool's lock, so other calls
    /// take and return workers meanwhile; a worker that fails to start is an
    /// error only when no started one is at hand.
    fn checkout_process(&self) -> Result<Worker> {
        let missing = self.config.size.max(1).saturating_sub(self.idle().len());
        let mut started = Vec::with_capacity(missing);
        let mut failed = None;
        for _ in 0..missing {
            match Worker::spawn(&self.config, self.next_serial(), None, None) {
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
                Worker::spawn(&self.config, self.next_serial(), None, None)
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

    /// Returns `worker` to the pool if its connection can take another call,
    /// at the front: the next call gets the worker used last, whose caches,
    /// shared memory and bind of the execution are warm (a 1-thread query's
    /// calls all go to one worker instead of taking turns).
    /// Beyond [`MAX_IDLE`] idle workers, the extra one exits.
    pub(crate) fn checkin(&self, mut worker: Worker) {
        worker.lease = None;
        if let Some(target) = worker.target {
            self.refused_at()[target] = None;
        }
        let mut idle = self.idle();
        if worker.client.is_reusable() && idle.len() < MAX_IDLE.max(self.config.size) {
            idle.push_front(worker);
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

    /// A pool of clients of three URLs nothing listens on (no call is made).
    fn url_pool() -> Pool {
        let urls = (1..=3).map(|n| format!("http://127.0.0.1:{n}")).collect();
        Pool::new(WorkerConfig {
            endpoint: Endpoint::Urls(urls),
            timeout: None,
            size: 3,
            shared_memory: false,
        })
        .unwrap()
    }

    fn url(worker: &Worker) -> String {
        worker.url.clone().unwrap()
    }

    #[test]
    fn a_call_goes_to_the_url_with_the_fewest_calls_in_flight() {
        let pool = url_pool();
        let first: Vec<Worker> = (0..3).map(|_| pool.checkout().unwrap()).collect();
        let mut urls: Vec<String> = first.iter().map(url).collect();
        urls.sort();
        urls.dedup();
        assert_eq!(urls.len(), 3, "three calls at once, three URLs");
        let mut first = first.into_iter();
        let (a, b, c) = (
            first.next().unwrap(),
            first.next().unwrap(),
            first.next().unwrap(),
        );
        let (freed, busy) = (url(&c), [url(&a), url(&b)]);
        pool.checkin(c);
        let next = pool.checkout().unwrap();
        assert_eq!(
            url(&next),
            freed,
            "the only URL with one call in flight, not {busy:?}"
        );
        let broken = url(&a);
        drop(a);
        let after = pool.checkout().unwrap();
        assert_eq!(
            url(&after),
            broken,
            "a dropped worker's call is no longer in flight"
        );
        let fourth = pool.checkout().expect("more calls than URLs share them");
        drop((b, next, after, fourth));
        assert!(pool.in_flight.iter().all(|n| n.load(Ordering::SeqCst) == 0));
    }

    #[test]
    fn calls_one_after_another_go_to_the_urls_in_turn() {
        let pool = url_pool();
        let mut seen = Vec::new();
        for _ in 0..6 {
            let worker = pool.checkout().unwrap();
            seen.push(url(&worker));
            pool.checkin(worker);
        }
        assert_eq!(seen[..3], seen[3..], "{seen:?}");
        let mut first = seen[..3].to_vec();
        first.sort();
        first.dedup();
        assert_eq!(first.len(), 3, "{seen:?}");
        assert!(pool.idle().len() <= 3, "an idle client per URL is reused");
    }

    #[test]
    fn a_url_that_refused_a_connection_is_passed_over_while_another_may_answer() {
        let pool = url_pool();
        let dead = pool.checkout().unwrap();
        let dead_url = url(&dead);
        pool.refused(&dead);
        drop(dead);
        let busy: Vec<Worker> = (0..4).map(|_| pool.checkout().unwrap()).collect();
        let urls: Vec<String> = busy.iter().map(url).collect();
        assert!(
            !urls.contains(&dead_url),
            "two calls each on the other URLs, none on {dead_url}: {urls:?}"
        );
        for worker in &busy {
            pool.refused(worker);
        }
        let tried = pool
            .checkout()
            .expect("every URL refused lately: one is tried anyway");
        assert_eq!(url(&tried), dead_url, "the one with no call in flight");
        let mut busy = busy.into_iter();
        let answered = busy.next().unwrap();
        let answered_url = url(&answered);
        pool.checkin(answered);
        assert_eq!(
            url(&pool.checkout().unwrap()),
            answered_url,
            "a URL that answered a call is no longer passed over"
        );
    }

    #[test]
    fn a_configuration_used_again_gets_its_pool_back_until_others_push_it_out() {
        let config = |name: &str| WorkerConfig {
            endpoint: Endpoint::Command(vec![format!("/nonexistent/{name}")]),
            timeout: None,
            size: 1,
            shared_memory: true,
        };
        let first = Pool::get(config("kept-a")).unwrap();
        let other = Pool::get(config("kept-b")).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(Arc::ptr_eq(&first, &Pool::get(config("kept-a")).unwrap()));
        for i in 0..KEPT_POOLS {
            Pool::get(config(&format!("kept-filler-{i}"))).unwrap();
        }
        assert!(!Arc::ptr_eq(&first, &Pool::get(config("kept-a")).unwrap()));
    }

    #[test]
    fn the_worker_returned_last_is_handed_out_next() {
        let dir = tempfile::tempdir().unwrap();
        let program = test_program(dir.path(), "worker", "exec cat >/dev/null");
        let pool = test_pool(&program, 3);
        for _ in 0..3 {
            let worker = pool.checkout().unwrap();
            let label = worker.pid_label.clone();
            pool.checkin(worker);
            let again = pool.checkout().unwrap();
            assert_eq!(again.pid_label, label);
            pool.checkin(again);
        }
        assert_eq!(*pool.spawned.lock().unwrap(), 3, "no worker started twice");
    }

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
