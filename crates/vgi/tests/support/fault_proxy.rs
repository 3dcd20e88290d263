//! A loopback HTTP proxy in front of a real server that injects one fault
//! (each request on its own connection): a server that ignores a request
//! header (`If-None-Match`, for the store's conditional-create probe), or
//! an answer lost after the server acted on the request. It records the
//! request lines it relayed, so tests can count requests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy does to the traffic it relays.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Relays every request as it is.
    None,
    /// Drops this request header.
    StripHeader(&'static str),
    /// The first `times` requests that carry `header` and whose path holds
    /// `path` reach the server, but their client gets a 500 instead of the
    /// server's answer.
    HideAnswer {
        header: &'static str,
        path: &'static str,
        times: usize,
    },
}

/// The running proxy; stops on drop.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    stop: Arc<AtomicBool>,
    /// Requests the fault changed so far.
    injected: Arc<AtomicUsize>,
    /// The request lines relayed so far (`PUT /bucket/key HTTP/1.1`).
    requests: Arc<Mutex<Vec<String>>>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Forwards `127.0.0.1:<new port>` to `127.0.0.1:upstream`, with `fault`.
    pub fn start(upstream: u16, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let injected = Arc::new(AtomicUsize::new(0));
        let requests = Arc::default();
        let thread = {
            let stop = Arc::clone(&stop);
            let injected = Arc::clone(&injected);
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    if let Ok(client) = client {
                        let (injected, requests) = (Arc::clone(&injected), Arc::clone(&requests));
                        std::thread::spawn(move || {
                            serve(client, upstream, fault, &injected, &requests)
                        });
                    }
                }
            })
        };
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            stop,
            injected,
            requests,
            port,
            thread: Some(thread),
        }
    }

    /// How many requests the fault changed so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::Acquire)
    }

    /// The request lines relayed so far, in the order they came.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop.
        TcpStream::connect(("127.0.0.1", self.port)).ok();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

/// Relays one request and its answer, with `fault`.
fn serve(
    mut client: TcpStream,
    upstream: u16,
    fault: Fault,
    injected: &AtomicUsize,
    requests: &Mutex<Vec<String>>,
) {
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
    requests
        .lock()
        .unwrap()
        .push(text.split("\r\n").next().unwrap_or("").to_string());
    let name_of = |line: &str| line.split(':').next().unwrap_or("").trim().to_string();
    let has = |header: &str| {
        text.split("\r\n")
            .skip(1)
            .any(|line| name_of(line).eq_ignore_ascii_case(header))
    };
    let (stripped, hide_answer) = match fault {
        Fault::None => (None, false),
        Fault::StripHeader(header) => (Some(header), false),
        Fault::HideAnswer {
            header,
            path,
            times,
        } => {
            let target = text.split(' ').nth(1).unwrap_or("");
            let hide = has(header)
                && target.contains(path)
                && injected
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < times).then_some(n + 1)
                    })
                    .is_ok();
            (None, hide)
        }
    };
    if stripped.is_some_and(has) {
        injected.fetch_add(1, Ordering::AcqRel);
    }
    let drop_line = |line: &str| {
        let name = name_of(line);
        stripped.is_some_and(|h| name.eq_ignore_ascii_case(h))
            || name.eq_ignore_ascii_case("connection")
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
    if hide_answer {
        std::io::copy(&mut server, &mut std::io::sink()).ok();
        client
            .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .ok();
    } else {
        std::io::copy(&mut server, &mut client).ok();
    }
    client.shutdown(Shutdown::Both).ok();
    server.shutdown(Shutdown::Both).ok();
}
