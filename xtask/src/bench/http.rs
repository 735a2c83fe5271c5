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
        let result = self.exchange(method, target, headers, body, keep_body);
        if result.is_err() {
            // Whatever state the connection is in, it is not fit for another request.
            self.reader = None;
        }
        result
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
        let result = self.exchange_streaming(target, headers, deadline, counter);
        if !matches!(result, Ok((_, true))) {
            self.reader = None;
        }
        result.map(|(status, _)| status)
    }

    fn exchange_streaming(
        &mut self,
        target: &str,
        headers: &[(&str, &str)],
        deadline: Instant,
        counter: &AtomicU64,
    ) -> anyhow::Result<(u16, bool)> {
        let host = self.addr.to_string();
        let reader = self.connect()?;
        let mut head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
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
    }

    fn exchange(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        keep_body: bool,
    ) -> anyhow::Result<Response> {
        let host = self.addr.to_string();
        let reader = self.connect()?;
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
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
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if line.is_empty() {
        bail!("the server closed the connection without answering");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse().with_context(|| format!("bad Content-Length {value:?}"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
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
