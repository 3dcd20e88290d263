//! The HTTP stack of remote execution: vgi-rpc's HTTP client sends its
//! requests through one reqwest connection pool per worker pool, and a
//! failure keeps its cause (refused, reset, timed out), which reqwest's own
//! message leaves out.

use std::error::Error as _;
use std::time::Duration;

use vgi_rpc_client::http_executor::{HttpExecError, HttpExecutor, HttpRequest, HttpResponse};

/// Starts a failure that happened before the request reached the worker
/// (so another worker may take the call).
pub(crate) const NOT_CONNECTED: &str = "cannot connect to the worker";
/// Starts a failure because the worker did not answer in time.
pub(crate) const TIMED_OUT: &str = "the worker did not answer within vgi_worker_timeout_seconds";

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// vgi-rpc's HTTP client over a blocking reqwest client.
pub(crate) struct ReqwestExecutor {
    client: reqwest::blocking::Client,
}

impl ReqwestExecutor {
    /// A connection pool that contacts only the URLs it is given: no proxy
    /// from the environment, no redirects.
    pub(crate) fn new() -> vgi::Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(None)
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| vgi::Error::function(format!("cannot set up HTTP: {}", chain(&e))))?;
        Ok(ReqwestExecutor { client })
    }
}

impl HttpExecutor for ReqwestExecutor {
    fn execute(&self, request: HttpRequest<'_>) -> Result<HttpResponse, HttpExecError> {
        let method =
            reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| HttpExecError {
                message: format!("HTTP method {}: {e}", request.method),
                retry_safe: true,
            })?;
        let mut builder = self
            .client
            .request(method, request.url)
            .body(request.body.to_vec());
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        if !request.timeout.is_zero() {
            builder = builder.timeout(request.timeout);
        }
        let response = builder.send().map_err(failure)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        let body = response.bytes().map_err(failure)?.to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// A reqwest error as a failure that says what happened, with its causes.
fn failure(e: reqwest::Error) -> HttpExecError {
    let what = if e.is_connect() {
        NOT_CONNECTED
    } else if e.is_timeout() {
        TIMED_OUT
    } else {
        "the connection to the worker failed"
    };
    HttpExecError {
        message: format!("{what}: {}", chain(&e)),
        retry_safe: e.is_connect(),
    }
}

/// An error and its sources, one after the other.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(url: &str, timeout: Duration) -> Result<HttpResponse, HttpExecError> {
        ReqwestExecutor::new().unwrap().execute(HttpRequest {
            method: "POST",
            url,
            headers: &[],
            body: b"x",
            timeout,
            follow_redirects: true,
        })
    }

    #[test]
    fn a_refused_connection_says_so_and_may_be_retried() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = post(&format!("http://127.0.0.1:{port}/x"), Duration::ZERO).unwrap_err();
        assert!(e.message.starts_with(NOT_CONNECTED), "{}", e.message);
        assert!(e.message.contains("refused"), "{}", e.message);
        assert!(e.retry_safe);
    }

    #[test]
    fn a_silent_server_times_out_and_may_not_be_retried() {
        // Accepts the connection, reads, never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
        let e = post(&url, Duration::from_millis(300)).unwrap_err();
        assert!(e.message.starts_with(TIMED_OUT), "{}", e.message);
        assert!(!e.retry_safe);
        drop(held.join());
    }

    #[test]
    fn a_response_keeps_its_status_headers_and_body() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).unwrap();
            stream
                .write_all(b"HTTP/1.1 418 I'm a teapot\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi")
                .unwrap();
        });
        let response = post(&url, Duration::from_secs(10)).unwrap();
        server.join().unwrap();
        assert_eq!(response.status, 418);
        assert!(response
            .headers
            .contains(&("x-a".to_string(), "1".to_string())));
        assert_eq!(response.body, b"hi");
    }
}
