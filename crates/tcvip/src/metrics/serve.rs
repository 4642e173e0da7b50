//! `GET /metrics` on `metrics.listen`, for the FIFO reader: one thread, one connection at a
//! time, HTTP/1.0 (the connection closes after the reply), each read and write bounded by
//! [`IO_TIMEOUT`]. It serves the exposition last rendered ([`super::last_rendered`]).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a client may take to send its request or read the reply.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Where the served exposition comes from.
pub type Source = fn() -> Option<Arc<String>>;

/// The longest request head read.
const MAX_HEAD: usize = 8192;

/// Binds `addr` and serves it from a background thread for the life of the process.
pub fn spawn(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    spawn_serving(addr, super::last_rendered)
}

/// As [`spawn`], serving what `body` returns.
pub fn spawn_serving(addr: SocketAddr, body: Source) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, body);
            }
        })?;
    Ok(local)
}

fn answer(mut stream: TcpStream, source: Source) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let until = Instant::now() + IO_TIMEOUT;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_HEAD || Instant::now() >= until {
            return reply(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                b"bad request\n",
            );
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = source().map(|t| t.as_bytes().to_vec()).unwrap_or_default();
            let body = if method == "HEAD" { Vec::new() } else { body };
            reply(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
        }
        ("GET" | "HEAD", _) => reply(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"try /metrics\n",
        ),
        _ => reply(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET /metrics\n",
        ),
    }
}

fn reply(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
