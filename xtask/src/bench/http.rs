//! A minimal blocking HTTP/1.1 client over one keep-alive TCP connection, for the parts of the
//! benchmark that wrk cannot do: per-request timings, streamed uploads, large downloads read in
//! big buffers.
//!
//! Deliberately tiny (no TLS, no redirects, no pooling): the client's own cost must be small and
//! the same for docbridge and its peers, and it only ever talks to 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Bytes read per `read` call: large, so that the client is not what limits a download.
const READ_BUFFER: usize = 1024 * 1024;

/// One response; the body is kept only when asked for.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// Bytes of body received, kept or not.
    pub body_len: u64,
}

/// What to send as a request body.
pub enum Body<'a> {
    Empty,
    /// Streamed from a reader, with its length announced up front.
    Reader(&'a mut dyn Read, u64),
}

/// One persistent connection.
pub struct Conn {
    addr: SocketAddr,
    reader: Option<BufReader<TcpStream>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Conn { addr, reader: None }
    }

    fn connect(&mut self) -> anyhow::Result<&mut BufReader<TcpStream>> {
        if self.reader.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
                .with_context(|| format!("connecting to {}", self.addr))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(120)))?;
            stream.set_write_timeout(Some(Duration::from_secs(120)))?;
            self.reader = Some(BufReader::with_capacity(READ_BUFFER, stream));
        }
        self.reader.as_mut().context("connection vanished")
    }

    /// Sends one request and reads the whole answer; the body is kept if `keep_body`.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        keep_body: bool,
    ) -> anyhow::Result<Response> {
        self.exchange(method, target, headers, Result::is_ok, |reader, mut head| {
            match &body {
                Body::Empty if matches!(method, "POST" | "PUT") => head.push_str("Content-Length: 0\r\n"),
                Body::Empty => {}
                Body::Reader(_, len) => head.push_str(&format!("Content-Length: {len}\r\n")),
            }
            head.push_str("\r\n");
            let stream = reader.get_mut();
            stream.write_all(head.as_bytes())?;
            if let Body::Reader(source, len) = body {
                let copied = copy_large(source, stream)?;
                anyhow::ensure!(copied == len, "the request body had {copied} bytes, not the {len} announced");
            }
            stream.flush()?;
            read_response(reader, method == "HEAD", keep_body)
        })
    }

    /// `GET target`, counting body bytes into `counter` as they arrive, until the answer ends
    /// or `deadline` passes (then the connection is dropped mid-answer). Answers the status.
    pub fn stream_until(
        &mut self,
        target: &str,
        headers: &[(&str, &str)],
        deadline: Instant,
        counter: &AtomicU64,
    ) -> anyhow::Result<u16> {
        let whole = |result: &anyhow::Result<(u16, bool)>| matches!(result, Ok((_, true)));
        let result = self.exchange("GET", target, headers, whole, |reader, mut head| {
            head.push_str("\r\n");
            reader.get_mut().write_all(head.as_bytes())?;
            let (status, length, chunked) = read_head(reader)?;
            anyhow::ensure!(!chunked, "a chunked download is not supported here");
            let mut left = length.context("a download without Content-Length")?;
            while left > 0 {
                if Instant::now() >= deadline {
                    return Ok((status, false));
                }
                let available = reader.fill_buf()?;
                if available.is_empty() {
                    bail!("the connection closed in the middle of a body");
                }
                let used = available.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                reader.consume(used);
                left -= used as u64;
                counter.fetch_add(used as u64, Ordering::Relaxed);
            }
            Ok((status, true))
        });
        result.map(|(status, _)| status)
    }

    /// One exchange on the connection: `exchange` gets it and the head of the request so far,
    /// the request line and `headers` without the blank line that ends them. Whatever state a
    /// failed exchange, or one that `reusable` refuses, leaves the connection in, it is not fit
    /// for another request: it is dropped, and the next request connects again.
    fn exchange<T>(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        reusable: impl FnOnce(&anyhow::Result<T>) -> bool,
        exchange: impl FnOnce(&mut BufReader<TcpStream>, String) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let result = self.connect().and_then(|reader| exchange(reader, head));
        if !reusable(&result) {
            self.reader = None;
        }
        result
    }
}

/// `io::copy` with a 1 MiB buffer (its own is 8 KiB, which would make the client the bottleneck
/// of a 1 GiB upload).
fn copy_large(source: &mut dyn Read, sink: &mut dyn Write) -> anyhow::Result<u64> {
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut total = 0u64;
    loop {
        let n = source.read(&mut buffer)?;
        if n == 0 {
            return Ok(total);
        }
        sink.write_all(&buffer[..n])?;
        total += n as u64;
    }
}

/// Status line and headers: the status, `Content-Length` and whether the body is chunked.
fn read_head(reader: &mut BufReader<TcpStream>) -> anyhow::Result<(u16, Option<u64>, bool)> {
    let (status, headers) = crate::soak::read_head(reader).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => anyhow::anyhow!("the server closed the connection without answering"),
        _ => e.into(),
    })?;
    let length = headers.get("content-length");
    let length = length.map(|v| v.parse().with_context(|| format!("bad Content-Length {v:?}"))).transpose()?;
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    Ok((status, length, chunked))
}

fn read_response(reader: &mut BufReader<TcpStream>, head_only: bool, keep_body: bool) -> anyhow::Result<Response> {
    let (status, length, chunked) = read_head(reader)?;
    let mut line = String::new();
    let mut body = Vec::new();
    let mut body_len = 0u64;
    if head_only || status == 204 || status == 304 {
        return Ok(Response { status, body, body_len });
    }
    let mut take = |reader: &mut BufReader<TcpStream>, mut n: u64| -> anyhow::Result<()> {
        while n > 0 {
            let available = reader.fill_buf()?;
            if available.is_empty() {
                bail!("the connection closed in the middle of a body");
            }
            let used = available.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            if keep_body {
                body.extend_from_slice(&available[..used]);
            }
            reader.consume(used);
            n -= used as u64;
            body_len += used as u64;
        }
        Ok(())
    };
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size_text, 16).with_context(|| format!("bad chunk size {size_text:?}"))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    reader.read_line(&mut line)?;
                    if line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            take(reader, size)?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(length) = length {
        take(reader, length)?;
    } else {
        bail!("answers without a length are not supported by this client");
    }
    Ok(Response { status, body, body_len })
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server on 127.0.0.1 that reads one request head per answer, on one connection, and
    /// sends the answers as written; the heads it read.
    fn answering(answers: &'static [&'static str]) -> (SocketAddr, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut heads = Vec::new();
            for answer in answers {
                let mut head = String::new();
                while !head.ends_with("\r\n\r\n") {
                    assert!(reader.read_line(&mut head).unwrap() > 0, "the client closed");
                }
                heads.push(head);
                reader.get_mut().write_all(answer.as_bytes()).unwrap();
            }
            heads
        });
        (addr, server)
    }

    #[test]
    fn requests_share_one_connection() {
        let (addr, server) = answering(&[
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
        ]);
        let mut conn = Conn::new(addr);
        let first = conn.request("GET", "/a", &[("apiKey", "k")], Body::Empty, true).unwrap();
        assert_eq!((first.status, first.body.as_slice(), first.body_len), (200, &b"hello"[..], 5));
        let second = conn.request("PUT", "/b", &[], Body::Empty, false).unwrap();
        assert_eq!((second.status, second.body.len(), second.body_len), (201, 0, 3));
        let counter = AtomicU64::new(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        assert_eq!(conn.stream_until("/c", &[], deadline, &counter).unwrap(), 200);
        assert_eq!(counter.load(Ordering::Relaxed), 4);
        let heads = server.join().unwrap();
        assert_eq!(heads[0], format!("GET /a HTTP/1.1\r\nHost: {addr}\r\napiKey: k\r\n\r\n"));
        assert_eq!(heads[1], format!("PUT /b HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"));
        assert_eq!(heads[2], format!("GET /c HTTP/1.1\r\nHost: {addr}\r\n\r\n"));
    }

    #[test]
    fn a_closed_connection_is_an_error_and_the_next_request_connects_again() {
        let (addr, server) = answering(&[""]);
        let mut conn = Conn::new(addr);
        let error = conn.request("GET", "/", &[], Body::Empty, true).unwrap_err();
        assert!(error.to_string().contains("closed the connection without answering"), "{error:#}");
        server.join().unwrap();
        assert!(conn.reader.is_none());
    }
}
