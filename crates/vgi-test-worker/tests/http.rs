//! Drives `vgi-test-worker --http` processes on loopback with vgi-rpc's
//! HTTP client: health, a whole buffering lifecycle whose finalize streams
//! go on in another worker sharing the token key and the store (a
//! directory, and S3 on moto when `VGI_MOTO_SERVER` is set), the refusal to
//! start without a token key or with a bad store, and the stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use vgi::protocol::rows::{wrap_request, Record};
use vgi::protocol::{methods, phases};
use vgi_rpc_client::HttpClient;

#[allow(dead_code)]
mod support;
use support::*;

#[allow(dead_code)]
#[path = "../../vgi/tests/support/moto.rs"]
mod moto;

/// The token key every worker of a test shares (hex, 32 bytes).
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Longest wait for a worker to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Most turns a finalize stream may take before the test gives up.
const MAX_TURNS: usize = 1000;

/// Input batches of a query, and rows in each.
const BATCHES: i64 = 40;
const ROWS: i64 = 5;

/// A `vgi-test-worker --http 127.0.0.1:0` process, killed on drop.
struct Worker {
    child: Child,
    /// `http://IP:PORT`, from its first line.
    url: String,
    _stdout: BufReader<ChildStdout>,
}

/// The worker command with `args`, the environment `env` and stdout piped.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vgi-test-worker"));
    cmd.args(args)
        .env_remove("VGI_TOKEN_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

impl Worker {
    /// Starts a worker on store `store` and reads its address line.
    fn start(store: &str, env: &[(&str, &str)]) -> Worker {
        let started = Instant::now();
        let mut env = env.to_vec();
        env.push(("VGI_TOKEN_KEY", KEY));
        let mut child = command(&["--http", "127.0.0.1:0", "--store", store], &env)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn vgi-test-worker");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim_end()
            .strip_prefix("vgi-worker: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        eprintln!("worker at {url} ready after {:?}", started.elapsed());
        Worker {
            child,
            url,
            _stdout: stdout,
        }
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn client(&self) -> HttpClient {
        HttpClient::connect(self.url.clone())
            .protocol("vgi.v3")
            .protocol_version("3.0.0")
            .build()
            .unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Waits (bounded) for `child` to exit.
fn wait(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < EXIT_TIMEOUT, "the worker did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a worker command that must fail at start: its exit status and stderr.
fn refused(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut child = command(args, env).spawn().unwrap();
    let status = wait(&mut child);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// An `init` over HTTP: the header's execution id, the first batch (if
/// any) and the token that continues the stream after it.
fn open_init(
    client: &mut HttpClient,
    request: vgi::protocol::rows::Row,
) -> (Vec<u8>, Option<RecordBatch>, Option<String>) {
    let params = wrap_request(request.to_ipc().unwrap()).unwrap();
    let mut session = client
        .open_producer(methods::INIT, &params, None, true)
        .unwrap();
    let (header, _) = session.header().cloned().expect("init has a header");
    let exec = Record::new(&header, "header")
        .unwrap()
        .bytes("execution_id")
        .unwrap();
    match session.next_with_token().unwrap() {
        Some(((batch, _), token)) => (exec, Some(batch), token),
        None => (exec, None, None),
    }
}

/// A finalize stream opened on `workers[0]`, each continuation sent to the
/// next worker in turn: its batches.
fn finalize(
    workers: &mut [HttpClient],
    bound: &Bound,
    exec: &[u8],
    finalize_id: &[u8],
) -> Vec<RecordBatch> {
    let request = init_request(bound, phases::FINALIZE, Some(exec), Some(finalize_id));
    let (_, first, mut token) = open_init(&mut workers[0], request);
    let mut batches: Vec<RecordBatch> = first.into_iter().collect();
    for turn in 1..=MAX_TURNS {
        let Some(resume) = token.take() else {
            return batches;
        };
        let n = workers.len();
        let client = &mut workers[turn % n];
        let started = Instant::now();
        let mut session = client.resume_stream(methods::INIT, resume);
        match session.next_with_token().unwrap() {
            Some(((batch, _), next)) => {
                if turn == 1 {
                    eprintln!("one continuation turn: {:?}", started.elapsed());
                }
                batches.push(batch);
                token = next;
            }
            None => return batches,
        }
    }
    panic!("the finalize stream took more than {MAX_TURNS} turns");
}

fn int64s(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

/// A whole query of `function` on two workers sharing `store`: process on
/// both, combine on the second, every finalize stream started on the first
/// and continued on both in turn. Returns the output's first column sorted.
fn lifecycle(store: &str, env: &[(&str, &str)], function: &str) -> Vec<i64> {
    let (a, b) = (Worker::start(store, env), Worker::start(store, env));
    let mut clients = [a.client(), b.client()];
    let bound = bind(&mut clients[0], function, &args(vec![])).unwrap();
    let (exec, none, token) = open_init(
        &mut clients[0],
        init_request(&bound, phases::SINK, None, None),
    );
    assert!(none.is_none() && token.is_none(), "a sink init has no rows");
    let mut state_ids = Vec::new();
    // More batches than buffer_input's 16 partitions: its streams have several.
    for i in 0..BATCHES {
        let batch = input(i * ROWS, ROWS);
        let client = &mut clients[i as usize % 2];
        let index = Some(BATCHES - 1 - i);
        state_ids.push(process(client, function, &exec, &batch, index).unwrap());
    }
    let finalize_ids = combine(&mut clients[1], function, &exec, &state_ids).unwrap();
    let mut out = Vec::new();
    for id in &finalize_ids {
        let batches = finalize(&mut clients, &bound, &exec, id);
        out.extend(batches);
    }
    assert!(
        out.len() > finalize_ids.len(),
        "some stream had several batches"
    );
    let mut values = int64s(&out);
    values.sort();
    values
}

fn executions(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn health_answers_200() {
    let tmp = tempfile::tempdir().unwrap();
    let worker = Worker::start(tmp.path().join("store").to_str().unwrap(), &[]);
    assert_eq!(moto::request(worker.port(), "GET", "/health"), Some(200));
    assert_eq!(moto::request(worker.port(), "GET", "/"), Some(404));
}

#[test]
fn finalize_streams_go_on_in_another_worker_on_a_shared_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let expected: Vec<i64> = (0..BATCHES * ROWS).collect();
    // buffer_input's producer resumes from its checkpoint; the batch index
    // fixture's has none and is rebuilt and advanced.
    for function in ["buffer_input", "batch_index_buffer_input"] {
        let values = lifecycle(store.to_str().unwrap(), &[], function);
        assert_eq!(values, expected, "{function}");
        assert_eq!(
            executions(&store),
            0,
            "{function}: the execution was removed"
        );
    }
}

#[test]
fn finalize_streams_go_on_in_another_worker_on_s3() {
    let Some(moto) = moto::Moto::start(&[]) else {
        return;
    };
    moto.create_bucket("vgi-http");
    let env = [
        ("AWS_ENDPOINT", moto.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let values = lifecycle("s3://vgi-http/run", &env, "buffer_input");
    assert_eq!(values, (0..BATCHES * ROWS).collect::<Vec<i64>>());
}

#[test]
fn without_a_token_key_the_worker_refuses_to_start() {
    let (status, stderr) = refused(&["--http", "127.0.0.1:0"], &[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("VGI_TOKEN_KEY"), "{stderr}");
    let (status, stderr) = refused(&["--http", "127.0.0.1:0"], &[("VGI_TOKEN_KEY", "abcd")]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("at least 32"), "{stderr}");
}

#[test]
fn a_bad_store_stops_the_worker_with_one_line_naming_it() {
    // Nothing listens on port 1 of the loopback: the S3 store is unreachable.
    let unreachable = [
        ("AWS_ENDPOINT", "http://127.0.0.1:1"),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    for store in ["ftp://nowhere/x", "s3://vgi-none/prefix"] {
        let (status, stderr) = refused(&["--store", store], &unreachable);
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(store), "{stderr}");
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

const SIGTERM: i32 = 15;

#[test]
fn sigterm_stops_the_worker_with_status_0() {
    let tmp = tempfile::tempdir().unwrap();
    let mut worker = Worker::start(tmp.path().join("store").to_str().unwrap(), &[]);
    let mut client = worker.client();
    bind(&mut client, "buffer_input", &args(vec![])).unwrap();
    assert_eq!(unsafe { libc_kill(worker.child.id() as i32, SIGTERM) }, 0);
    assert_eq!(wait(&mut worker.child).code(), Some(0));
}
