//! `vgi-worker`: the vgi functions served to a VGI client (the vgi
//! extension's subprocess execution, or any client of protocol `vgi.v3`)
//! over stdin/stdout, or over HTTP with `--http`. State goes to the store
//! under `$TMPDIR`, shared with the client and the other workers of the
//! pool, or to the store `--store` names.
//!
//! The command line of both workers: `vgi-worker` (src/main.rs, the shipped
//! functions) and the tests' `vgi-test-worker` (crates/vgi-test-worker, with
//! the fixtures) call [`main`] with their functions.

use std::net::SocketAddr;
use std::time::Duration;

use vgi::worker::{
    token_key_from_hex, HttpOptions, WorkerOptions, DEFAULT_IDLE_EXECUTION_SECONDS,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
};
use vgi::TableBufferingFunction;

/// The environment variable holding the HTTP worker's token key.
const TOKEN_KEY_VAR: &str = "VGI_TOKEN_KEY";

fn usage() -> String {
    format!(
        "usage: vgi-worker [--idle-execution-seconds N] [--store URL]
                  [--http ADDR [--request-timeout-seconds N]]

Serves the vgi functions to a VGI client (protocol vgi.v3) on stdin/stdout,
or over HTTP with --http.

  --idle-execution-seconds N   remove an execution's state once no call has
                               used it for N seconds (N >= 1; default \
         {DEFAULT_IDLE_EXECUTION_SECONDS});
                               over HTTP also how long a stream token lives
  --store URL                  keep state in s3://bucket/prefix (endpoint and
                               credentials from the AWS_* environment
                               variables) or in the directory URL (default:
                               a private directory under $TMPDIR)
  --http ADDR                  serve over HTTP on ADDR (e.g. 127.0.0.1:0)
                               and print `vgi-worker: listening on
                               http://IP:PORT` once ready; stops on SIGTERM.
                               Needs {TOKEN_KEY_VAR} (hex, >= 32 bytes),
                               the same in every worker that may continue
                               another's stream
  --request-timeout-seconds N  over HTTP, the longest a request may take
                               (N >= 1; default {DEFAULT_REQUEST_TIMEOUT_SECONDS})"
    )
}

/// What the command line asks for.
struct Command {
    options: WorkerOptions,
    http: Option<SocketAddr>,
    request_timeout: Duration,
}

fn seconds(flag: &str, value: Option<String>) -> Result<Duration, String> {
    let value = value.ok_or(format!("{flag} needs a value"))?;
    let seconds: u64 = value
        .parse()
        .ok()
        .filter(|s| *s >= 1)
        .ok_or(format!("{flag}: expected N >= 1, got {value}"))?;
    Ok(Duration::from_secs(seconds))
}

fn parse(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut command = Command {
        options: WorkerOptions::default(),
        http: None,
        request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECONDS),
    };
    let mut timeout_given = false;
    let mut args = args;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--idle-execution-seconds" => command.options.idle = seconds(&arg, args.next())?,
            "--request-timeout-seconds" => {
                command.request_timeout = seconds(&arg, args.next())?;
                timeout_given = true;
            }
            "--store" => {
                let url = args.next().ok_or("--store needs a value")?;
                command.options.store = Some(url);
            }
            "--http" => {
                let addr = args.next().ok_or("--http needs a value")?;
                let addr = addr
                    .parse()
                    .map_err(|e| format!("--http: expected IP:PORT, got {addr} ({e})"))?;
                command.http = Some(addr);
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if timeout_given && command.http.is_none() {
        return Err("--request-timeout-seconds needs --http".into());
    }
    Ok(command)
}

/// The token key from the environment; an HTTP worker refuses to start without it.
fn token_key() -> Result<Vec<u8>, String> {
    let hex = std::env::var(TOKEN_KEY_VAR).map_err(|_| {
        format!(
            "--http needs {TOKEN_KEY_VAR}: a hex key of at least 32 bytes shared by every \
             worker (e.g. `openssl rand -hex 32`)"
        )
    })?;
    token_key_from_hex(&hex).map_err(|e| format!("{TOKEN_KEY_VAR}: {e}"))
}

/// Parses the command line and serves `functions` on stdin/stdout or over
/// HTTP; exits with status 2 on a bad command line, 1 if serving fails
/// (also a store that cannot be opened, or no token key for `--http`).
pub fn main(functions: Vec<Box<dyn TableBufferingFunction>>) {
    let command = match parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("vgi-worker: {e}\n{}", usage());
            std::process::exit(2);
        }
    };
    let served = match command.http {
        None => {
            vgi::worker::serve_stdio_with(functions, command.options).map_err(|e| e.to_string())
        }
        Some(addr) => token_key().and_then(|token_key| {
            let http = HttpOptions {
                addr,
                request_timeout: command.request_timeout,
                token_key,
            };
            vgi::worker::serve_http(functions, command.options, http).map_err(|e| e.to_string())
        }),
    };
    if let Err(e) = served {
        eprintln!("vgi-worker: {e}");
        std::process::exit(1);
    }
}
