//! A minimal blocking HTTP/1.1 client over one keep-alive TCP connection: just enough
//! for the registry load generator (GET, HEAD, POST, PUT with a streamed body), so the
//! client costs the same for every server measured and adds no dependencies.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use anyhow::{anyhow, bail, Context, Result};

/// One connection to `host:port`.
pub struct Conn {
    addr: String,
    reader: BufReader<TcpStream>,
    writer: io::BufWriter<TcpStream>,
    closed: bool,
}

/// A response's status and headers (the body is consumed by the request call).
#[derive(Debug, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body bytes read.
    pub body_len: u64,
    /// The body, when asked for.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to send as a request body.
pub enum Body<'a> {
    /// No body.
    None,
    /// These bytes.
    Bytes(&'a [u8]),
    /// `len` bytes produced by the callback, which writes them all.
    Stream(u64, &'a mut dyn FnMut(&mut dyn Write) -> io::Result<()>),
}

impl Conn {
    /// Connects to `addr` (`host:port`).
    pub fn connect(addr: &str) -> Result<Conn> {
        let s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            addr: addr.to_string(),
            reader: BufReader::with_capacity(256 << 10, s.try_clone()?),
            writer: io::BufWriter::with_capacity(256 << 10, s),
            closed: false,
        })
    }

    fn reconnect_if_closed(&mut self) -> Result<()> {
        if self.closed {
            *self = Conn::connect(&self.addr)?;
        }
        Ok(())
    }

    /// Sends a request and reads the response; the body is kept only if `keep_body`.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        keep_body: bool,
    ) -> Result<Response> {
        self.reconnect_if_closed()?;
        let w = &mut self.writer;
        write!(w, "{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr)?;
        for (k, v) in headers {
            write!(w, "{k}: {v}\r\n")?;
        }
        match &body {
            Body::None => {
                if method == "PUT" || method == "POST" {
                    w.write_all(b"Content-Length: 0\r\n")?;
                }
            }
            Body::Bytes(b) => write!(w, "Content-Length: {}\r\n", b.len())?,
            Body::Stream(n, _) => write!(w, "Content-Length: {n}\r\n")?,
        }
        w.write_all(b"\r\n")?;
        match body {
            Body::None => {}
            Body::Bytes(b) => w.write_all(b)?,
            Body::Stream(_, f) => f(w)?,
        }
        w.flush()?;
        self.read_response(method == "HEAD", keep_body)
    }

    fn read_line(&mut self, line: &mut String) -> Result<()> {
        line.clear();
        let n = self.reader.read_line(line)?;
        if n == 0 {
            bail!("connection closed by {}", self.addr);
        }
        Ok(())
    }

    fn read_response(&mut self, head: bool, keep_body: bool) -> Result<Response> {
        let mut line = String::new();
        self.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut resp = Response {
            status,
            ..Default::default()
        };
        loop {
            self.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                resp.headers
                    .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        if resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            self.closed = true;
        }
        if head || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                self.read_line(&mut line)?;
                let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| anyhow!("bad chunk size {line:?}"))?;
                if size == 0 {
                    // Trailers until the empty line.
                    loop {
                        self.read_line(&mut line)?;
                        if line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                self.read_body(size, keep_body, &mut resp)?;
                self.read_line(&mut line)?;
            }
        } else if let Some(len) = resp.header("content-length") {
            let len: u64 = len.parse().map_err(|_| anyhow!("bad content-length"))?;
            self.read_body(len, keep_body, &mut resp)?;
        } else {
            // Body runs to the end of the connection.
            let mut rest = Vec::new();
            self.reader.read_to_end(&mut rest)?;
            resp.body_len += rest.len() as u64;
            if keep_body {
                resp.body = rest;
            }
            self.closed = true;
        }
        Ok(resp)
    }

    fn read_body(&mut self, mut len: u64, keep: bool, resp: &mut Response) -> Result<()> {
        resp.body_len += len;
        while len > 0 {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                bail!("connection closed mid-body");
            }
            let k = buf.len().min(len as usize);
            if keep {
                resp.body.extend_from_slice(&buf[..k]);
            }
            self.reader.consume(k);
            len -= k as u64;
        }
        Ok(())
    }
}

/// The path-and-query part of a `Location` header (absolute URLs are cut to their path).
pub fn location_path(loc: &str) -> String {
    if let Some(rest) = loc
        .strip_prefix("http://")
        .or_else(|| loc.strip_prefix("https://"))
    {
        match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".to_string(),
        }
    } else {
        loc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_paths() {
        assert_eq!(
            location_path("http://127.0.0.1:5000/v2/a/blobs/uploads/x?_state=1"),
            "/v2/a/blobs/uploads/x?_state=1"
        );
        assert_eq!(
            location_path("/v2/a/blobs/uploads/x"),
            "/v2/a/blobs/uploads/x"
        );
    }
}
