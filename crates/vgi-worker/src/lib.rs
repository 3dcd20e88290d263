//! `vgi-worker`: the vgi functions served over stdin/stdout to a VGI client
//! (the vgi extension's subprocess execution, or any client of protocol
//! `vgi.v3`). State goes to the store under `$TMPDIR`, shared with the
//! client and the other workers of the pool.
//!
//! The command line of both workers: `vgi-worker` (src/main.rs, the shipped
//! functions) and the tests' `vgi-test-worker` (crates/vgi-test-worker, with
//! the fixtures) call [`main`] with their functions.

use std::time::Duration;

use vgi::worker::{WorkerOptions, DEFAULT_IDLE_EXECUTION_SECONDS};
use vgi::TableBufferingFunction;

fn usage() -> String {
    format!(
        "usage: vgi-worker [--idle-execution-seconds N]

Serves the vgi functions to a VGI client (protocol vgi.v3) on stdin/stdout.

  --idle-execution-seconds N   remove an execution's state once no call has
                               used it for N seconds (N >= 1; default \
         {DEFAULT_IDLE_EXECUTION_SECONDS})"
    )
}

fn options(args: impl Iterator<Item = String>) -> Result<WorkerOptions, String> {
    let mut options = WorkerOptions::default();
    let mut args = args;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--idle-execution-seconds" => {
                let value = args
                    .next()
                    .ok_or("--idle-execution-seconds needs a value")?;
                let seconds: u64 = value.parse().ok().filter(|s| *s >= 1).ok_or(format!(
                    "--idle-execution-seconds: expected N >= 1, got {value}"
                ))?;
                options.idle = Duration::from_secs(seconds);
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

/// Parses the command line and serves `functions` on stdin/stdout; exits
/// with status 2 on a bad command line, 1 if serving fails.
pub fn main(functions: Vec<Box<dyn TableBufferingFunction>>) {
    let options = match options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("vgi-worker: {e}\n{}", usage());
            std::process::exit(2);
        }
    };
    if let Err(e) = vgi::worker::serve_stdio_with(functions, options) {
        eprintln!("vgi-worker: {e}");
        std::process::exit(1);
    }
}
