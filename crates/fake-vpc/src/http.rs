//! A small HTTP/1.1 server on std `TcpListener`: one thread per connection, keep-alive,
//! `Content-Length` bodies only. Hand-written so that every fault is under control (drop the
//! connection, send garbage, stall). Bounded: request heads and bodies have size limits, every
//! read has a deadline, and the number of connections is capped; bad input gets a 4xx answer and
//! a closed connection, never a panic.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// How long a whole request (head and body) may take to arrive once it has started.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long an idle keep-alive connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long writing a response may block.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 512;

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// Header names lower-cased, values as sent (trimmed).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
    pub keep_alive: bool,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What to do with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    Http {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Drop,
}

impl Reply {
    pub fn json(body: &serde_json::Value) -> Reply {
        Reply::Http {
            status: 200,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::Http {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }
}

/// Answers one request; called from connection threads concurrently.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: &Request) -> Reply;
}

/// A running listener. Stops (and unblocks its accept loop) on [`Server::stop`] or drop.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `listen` and serves `handler` until stopped.
    pub fn start(listen: SocketAddr, handler: Arc<dyn Handler>) -> io::Result<Server> {
        Server::start_with(listen, handler, None)
    }

    /// Like [`Server::start`]; with `tls`, every connection is TLS with that configuration.
    pub fn start_with(
        listen: SocketAddr,
        handler: Arc<dyn Handler>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        let accept = {
            let stop = Arc::clone(&stop);
            let conns = Arc::clone(&conns);
            std::thread::Builder::new()
                .name("fake-vpc-accept".into())
                .spawn(move || accept_loop(listener, handler, stop, conns, tls))?
        };
        Ok(Server {
            addr,
            stop,
            conns,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every open connection and joins the accept loop.
    pub fn stop(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Unblock accept() by connecting to ourselves.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Ok(conns) = self.conns.lock() {
            for s in conns.values() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        // Joined only once it has ended: should the wake-up connection fail, the loop is left
        // to end with the process rather than hang the caller.
        if let Some(h) = self.accept.take() {
            let until = std::time::Instant::now() + Duration::from_secs(3);
            while !h.is_finished() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }

    /// Whether the server is stopping (for long waits inside handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let next_id = AtomicU64::new(0);
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // EMFILE and the like: back off briefly rather than spin.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let registered = match (conns.lock(), stream.try_clone()) {
            (Ok(mut map), Ok(clone)) if map.len() < MAX_CONNECTIONS => {
                map.insert(id, clone);
                true
            }
            _ => false,
        };
        if !registered {
            let mut s = stream;
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = write_reply(&mut s, &Reply::text(503, "too many connections\n"), false);
            continue;
        }
        let handler = Arc::clone(&handler);
        let stop = Arc::clone(&stop);
        let conns_for_thread = Arc::clone(&conns);
        let tls = tls.clone();
        let spawned = std::thread::Builder::new()
            .name("fake-vpc-conn".into())
            .spawn(move || {
                match tls {
                    None => serve_connection(stream, handler.as_ref(), &stop),
                    Some(config) => {
                        // The handshake is driven by the first read, under its deadline.
                        if let Ok(conn) = rustls::ServerConnection::new(config) {
                            let tls = rustls::StreamOwned::new(conn, stream);
                            serve_connection(tls, handler.as_ref(), &stop);
                        }
                    }
                }
                if let Ok(mut map) = conns_for_thread.lock() {
                    map.remove(&id);
                }
            });
        if spawned.is_err()
            && let Ok(mut map) = conns.lock()
            && let Some(s) = map.remove(&id)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Why reading a request stopped.
enum ReadError {
    /// The peer closed, went idle too long, or the server is stopping: just close.
    Closed,
    /// Answer this status, then close.
    Bad(u16, &'static str),
}

/// A connection: plain TCP or TLS over it. `tcp` reaches the socket for timeouts and shutdown.
trait Conn: Read + Write {
    fn tcp(&self) -> &TcpStream;
}

impl Conn for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

fn serve_connection(mut stream: impl Conn, handler: &dyn Handler, stop: &AtomicBool) {
    let _ = stream.tcp().set_nodelay(true);
    let _ = stream.tcp().set_write_timeout(Some(WRITE_TIMEOUT));
    let peer = match stream.tcp().peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let req = match read_request(&mut stream, &mut buf, peer) {
            Ok(r) => r,
            Err(ReadError::Closed) => break,
            Err(ReadError::Bad(status, msg)) => {
                let _ = write_reply(&mut stream, &Reply::text(status, msg), false);
                break;
            }
        };
        let reply = handler.handle(&req);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match reply {
            Reply::Drop => break,
            ref r @ Reply::Http { .. } => {
                if write_reply(&mut stream, r, req.keep_alive).is_err() || !req.keep_alive {
                    break;
                }
            }
        }
    }
    let _ = stream.flush();
    let _ = stream.tcp().shutdown(Shutdown::Both);
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Reads more bytes into `buf`, waiting at most until `deadline`.
fn fill(stream: &mut dyn Conn, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), ReadError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ReadError::Closed);
    }
    stream
        .tcp()
        .set_read_timeout(Some(left))
        .map_err(|_| ReadError::Closed)?;
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk) {
        Ok(0) => Err(ReadError::Closed),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(_) => Err(ReadError::Closed),
    }
}

fn read_request(
    stream: &mut dyn Conn,
    buf: &mut Vec<u8>,
    peer: SocketAddr,
) -> Result<Request, ReadError> {
    // Idle wait for the first byte, then a deadline for the whole request.
    if buf.is_empty() {
        fill(stream, buf, Instant::now() + IDLE_TIMEOUT)?;
    }
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let head_end = loop {
        if let Some(end) = find_head_end(buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad(431, "request head too large\n"));
        }
        fill(stream, buf, deadline)?;
    };
    if head_end > MAX_HEAD {
        return Err(ReadError::Bad(431, "request head too large\n"));
    }
    let mut header_slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut header_slots);
    match parsed.parse(&buf[..head_end]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ReadError::Bad(400, "malformed request\n")),
    }
    let method = parsed.method.unwrap_or("").to_string();
    let target = parsed.path.unwrap_or("").to_string();
    let version = parsed.version.unwrap_or(1);
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Err(ReadError::Bad(400, "header value is not UTF-8\n"));
        };
        headers.push((h.name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some() {
        return Err(ReadError::Bad(
            411,
            "only Content-Length bodies are supported\n",
        ));
    }
    let content_length = match get("content-length") {
        None => 0,
        Some(v) => match v.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Err(ReadError::Bad(400, "bad Content-Length\n")),
        },
    };
    if content_length > MAX_BODY {
        return Err(ReadError::Bad(413, "request body too large\n"));
    }
    let connection = get("connection").map(str::to_ascii_lowercase);
    let keep_alive = match version {
        0 => connection.as_deref() == Some("keep-alive"),
        _ => connection.as_deref() != Some("close"),
    };
    let expect_continue = get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expect_continue && buf.len() < head_end + content_length {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    while buf.len() < head_end + content_length {
        fill(stream, buf, deadline)?;
    }
    let body = buf[head_end..head_end + content_length].to_vec();
    buf.drain(..head_end + content_length);
    Ok(Request {
        method,
        target,
        headers,
        body,
        peer,
        keep_alive,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// `unix` seconds as an HTTP `Date` (IMF-fixdate, RFC 9110 §5.6.7), as the real API sends it
/// with every reply: `Tue, 01 Dec 2026 20:24:45 GMT`.
pub fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn write_reply(stream: &mut dyn Write, reply: &Reply, keep_alive: bool) -> io::Result<()> {
    let Reply::Http {
        status,
        content_type,
        body,
    } = reply
    else {
        return Ok(());
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        reason(*status),
        http_date(crate::ids::unix_now()),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

#[cfg(test)]
mod date_tests {
    use super::http_date;

    #[test]
    fn imf_fixdate() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // The worked signing example's timestamp.
        assert_eq!(http_date(1_551_113_065), "Mon, 25 Feb 2019 16:44:25 GMT");
        assert_eq!(http_date(1_709_164_800), "Thu, 29 Feb 2024 00:00:00 GMT");
    }
}
