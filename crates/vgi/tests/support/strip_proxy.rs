//! A loopback HTTP proxy in front of a real server that drops one request
//! header (each request on its own connection): a server that ignores
//! `If-None-Match`, for the store's conditional-create probe.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// The running proxy; stops on drop.
pub struct StripProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl StripProxy {
    /// Forwards `127.0.0.1:<new port>` to `127.0.0.1:upstream`, without `header`.
    pub fn start(upstream: u16, header: &'static str) -> StripProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    if let Ok(client) = client {
                        std::thread::spawn(move || serve(client, upstream, header));
                    }
                }
            })
        };
        StripProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            stop,
            port,
            thread: Some(thread),
        }
    }
}

impl Drop for StripProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop.
        TcpStream::connect(("127.0.0.1", self.port)).ok();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

/// Relays one request and its answer, the head rewritten.
fn serve(mut client: TcpStream, upstream: u16, header: &str) {
    let timeout = Some(Duration::from_secs(10));
    client.set_read_timeout(timeout).ok();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || !matches!(client.read(&mut byte), Ok(1)) {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let drop_line = |line: &str| {
        let name = line.split(':').next().unwrap_or("").trim();
        name.eq_ignore_ascii_case(header) || name.eq_ignore_ascii_case("connection")
    };
    let mut lines: Vec<&str> = text
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|line| !drop_line(line))
        .collect();
    lines.push("Connection: close");
    let rewritten = format!("{}\r\n\r\n", lines.join("\r\n"));
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    server.set_read_timeout(timeout).ok();
    if server.write_all(rewritten.as_bytes()).is_err() {
        return;
    }
    // The body (if any) goes on while the answer comes back.
    let (Ok(mut from_client), Ok(mut to_server)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        std::io::copy(&mut from_client, &mut to_server).ok();
    });
    std::io::copy(&mut server, &mut client).ok();
    client.shutdown(Shutdown::Both).ok();
    server.shutdown(Shutdown::Both).ok();
}
