//! [`FakePlatform`]: a scripted HTTP server standing in for a platform's send API. The
//! channel suite points the adapter at it, makes it answer success, 429, 503, 401, 400, an
//! unreadable 2xx or a dropped connection, and reads back what the adapter sent.
//!
//! Hand-written over tokio rather than a mock-server crate so it can drop a connection
//! after reading the request (a network failure after the platform got the bytes) and so
//! the harness owns it outright: it stops when the harness is dropped, never earlier.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use url::Url;

/// The largest request head the fake reads.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request body the fake reads (a conformance media part is tiny).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What the fake answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    drop_connection: bool,
    hang: bool,
}

impl FakeAnswer {
    /// An answer with this status, no body.
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new(), drop_connection: false, hang: false }
    }

    /// An answer with this status and a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::status(status).header("content-type", "application/json").body(body.to_string())
    }

    /// Reads the request, then closes the connection without answering: what a client sees
    /// when the network or the platform fails mid-request.
    pub fn drop_connection() -> Self {
        Self { drop_connection: true, ..Self::status(0) }
    }

    /// Reads the request and never answers, keeping the connection open until the client
    /// gives up: a hung platform.
    pub fn hang() -> Self {
        Self { hang: true, ..Self::status(0) }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status it answers with (0 for a dropped connection).
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// A one-line description for failure messages.
    pub fn describe(&self) -> String {
        if self.drop_connection {
            return "the connection dropped after the request was read, without an answer".into();
        }
        if self.hang {
            return "no answer ever, the connection left open".into();
        }
        let mut text = format!("HTTP {}", self.status);
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("content-type") {
                text.push_str(&format!(", {name}: {value}"));
            }
        }
        if !self.body.is_empty() {
            text.push_str(&format!(", body {}", super::check::show(&self.body)));
        }
        text
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
            self.status,
            http::StatusCode::from_u16(self.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Status"),
            self.body.len()
        )
        .into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// One request the fake received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// `GET`, `POST`…
    pub method: String,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The query string without `?`, as sent.
    pub query: String,
    /// The headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// Whether `needle` appears in the path, the query or the body, as sent or
    /// percent-decoded, or base64-encoded in the body (for APIs that carry files so).
    pub fn contains(&self, needle: &[u8]) -> bool {
        let find = |hay: &[u8], n: &[u8]| !n.is_empty() && hay.windows(n.len()).any(|w| w == n);
        let decoded = |s: &str| {
            url::form_urlencoded::parse(s.as_bytes())
                .flat_map(|(k, v)| [k.into_owned(), v.into_owned()])
                .collect::<Vec<_>>()
                .join("&")
        };
        find(self.path.as_bytes(), needle)
            || find(self.query.as_bytes(), needle)
            || find(decoded(&self.query).as_bytes(), needle)
            || find(&self.body, needle)
            || find(&self.body, base64(needle).trim_end_matches('=').as_bytes())
            || std::str::from_utf8(&self.body).is_ok_and(|b| find(decoded(b).as_bytes(), needle))
    }

    /// A short description for failure messages.
    pub fn describe(&self) -> String {
        let query = if self.query.is_empty() { String::new() } else { format!("?{}", self.query) };
        format!("{} {}{query} {}", self.method, self.path, super::check::show(&self.body))
    }
}

/// Standard base64 with padding, for [`ReceivedRequest::contains`].
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Debug)]
struct State {
    answer: FakeAnswer,
    received: Vec<ReceivedRequest>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scripted fake of a platform's HTTP API, listening on a local port until dropped.
///
/// Every request gets the current answer ([`FakePlatform::answer_with`]; a bare 200 until
/// set) and is recorded ([`FakePlatform::received`]).
#[derive(Debug)]
pub struct FakePlatform {
    url: Url,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakePlatform {
    /// Starts the fake on `127.0.0.1` at a free port. Call it inside the test's runtime
    /// (the harness function is).
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let url = Url::parse(&format!("http://{address}"))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let state =
            Arc::new(Mutex::new(State { answer: FakeAnswer::status(200), received: Vec::new() }));
        let server = tokio::spawn(serve(listener, state.clone()));
        Ok(Self { url, state, server })
    }

    /// The fake's base URL (`http://127.0.0.1:port`): point the adapter's API base at it.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Answers every request from now on with `answer`, and forgets what was received.
    pub fn answer_with(&self, answer: FakeAnswer) {
        let mut state = lock(&self.state);
        state.answer = answer;
        state.received.clear();
    }

    /// The requests received since the last [`FakePlatform::answer_with`], in order.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        lock(&self.state).received.clone()
    }
}

impl Drop for FakePlatform {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts open connections.
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(answer(stream, state.clone()));
                }
                Err(_) => continue,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Reads one request, records it, answers it and closes the connection.
async fn answer(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let Some(request) = read_request(&mut stream).await else { return };
    let answer = {
        let mut state = lock(&state);
        state.received.push(request);
        state.answer.clone()
    };
    if answer.hang {
        // Until the client closes its end.
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        return;
    }
    if !answer.drop_connection {
        let _ = stream.write_all(&answer.encode()).await;
        let _ = stream.flush().await;
    }
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<ReceivedRequest> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_HEAD || read_more(stream, &mut buffer).await? == 0 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut rest = buffer[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(stream, &mut rest).await?
    } else {
        let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if length > MAX_BODY {
            return None;
        }
        while rest.len() < length {
            if read_more(stream, &mut rest).await? == 0 {
                return None;
            }
        }
        rest.truncate(length);
        rest
    };
    Some(ReceivedRequest {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers: headers.clone(),
        body,
    })
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await.ok()?;
    buffer.extend_from_slice(&chunk[..n]);
    Some(n)
}

/// Decodes a chunked body (RFC 9112 §7.1), `pending` holding what was read past the head.
async fn read_chunked(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
                break end;
            }
            if read_more(stream, pending).await? == 0 {
                return None;
            }
        };
        let size_text = String::from_utf8_lossy(&pending[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        if body.len() + size > MAX_BODY {
            return None;
        }
        pending.drain(..line_end + 2);
        while pending.len() < size + 2 {
            if read_more(stream, pending).await? == 0 {
                return None;
            }
        }
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&pending[..size]);
        pending.drain(..size + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
