//! A moto S3 server on a free 127.0.0.1 port, for the object-store tests.
//! `VGI_MOTO_SERVER` names the server to run with `-H 127.0.0.1 -p PORT`
//! (the Makefile's is `test/s3-server`: moto with atomic conditional writes);
//! without it the tests skip, saying so.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for moto to answer (its cold start takes about 2.5 s).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running moto server, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The port of `endpoint`.
    pub port: u16,
}

/// A free loopback port (free when this returns; moto binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends a bodiless request to `127.0.0.1:port`; the status code, if any answer.
pub fn request(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer).ok()?;
    let line = String::from_utf8_lossy(&answer);
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Moto {
    /// Starts moto with `env` added to its environment, waiting until it
    /// answers; `None` (after one line saying why) when `VGI_MOTO_SERVER` is unset.
    pub fn start(env: &[(&str, &str)]) -> Option<Moto> {
        let Some(binary) = std::env::var_os("VGI_MOTO_SERVER") else {
            eprintln!("skipped: VGI_MOTO_SERVER (the path of moto_server) is not set");
            return None;
        };
        let port = free_port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary:?}: {e}"));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let start = Instant::now();
        while request(port, "GET", "/moto-api/") != Some(200) {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at start: {status}");
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "moto_server did not answer on port {port} within {READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// Creates `bucket` (an unsigned request, which moto accepts while it
    /// enforces no authentication).
    pub fn create_bucket(&self, bucket: &str) {
        let status = request(self.port, "PUT", &format!("/{bucket}"));
        assert_eq!(status, Some(200), "create bucket {bucket}");
    }

    /// Stops the server, waiting for it to exit.
    pub fn stop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
