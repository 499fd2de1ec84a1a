//! Bridges between async HTTP bodies and the synchronous [`crate::storage::Storage`]:
//! request bodies are streamed into a blocking writer through a bounded channel, and
//! blob readers are streamed out the same way. Nothing is buffered whole.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

/// A `Read` fed by a channel of chunks (used on the blocking side).
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    buf: Bytes,
}

impl ChannelReader {
    /// A reader over the chunks sent into `rx`.
    pub fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        ChannelReader {
            rx,
            buf: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

/// Why feeding a request body stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedError {
    /// More than the allowed bytes.
    TooLarge,
    /// The client sent nothing for the idle timeout.
    TimedOut,
    /// The connection broke or the body was malformed (e.g. shorter than Content-Length).
    Broken,
}

/// Sends a request body into `tx` chunk by chunk. Stops with an error sent down the
/// channel (so the blocking writer rolls back) when the body breaks, stalls or exceeds `max`.
pub async fn feed(
    body: Body,
    tx: mpsc::Sender<io::Result<Bytes>>,
    max: u64,
    idle: Duration,
) -> Result<u64, FeedError> {
    let mut body = body;
    let mut total: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => Err(FeedError::TimedOut),
            Ok(None) => break,
            Ok(Some(Err(_))) => Err(FeedError::Broken),
            Ok(Some(Ok(f))) => Ok(f),
        };
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                let _ = tx
                    .send(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{e:?}"),
                    )))
                    .await;
                return Err(e);
            }
        };
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > max {
                let _ = tx.send(Err(io::Error::other("body too large"))).await;
                return Err(FeedError::TooLarge);
            }
            if tx.send(Ok(data)).await.is_err() {
                // The writer gave up (its own error is reported by the caller).
                return Ok(total);
            }
        }
    }
    Ok(total)
}

/// Reads a whole (small) request body, bounded by `max` bytes.
pub async fn collect(body: Body, max: u64, idle: Duration) -> Result<Bytes, FeedError> {
    let mut body = body;
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(FeedError::TimedOut),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(FeedError::Broken),
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    if out.len() as u64 + d.len() as u64 > max {
                        // Read (and drop) up to as much again, so that a modestly oversized
                        // body is consumed and the client can read the 413 answer.
                        let mut drained = out.len() as u64 + d.len() as u64;
                        while drained <= max.saturating_mul(2) {
                            match tokio::time::timeout(idle, body.frame()).await {
                                Ok(Some(Ok(f))) => {
                                    drained += f.into_data().map(|d| d.len() as u64).unwrap_or(0)
                                }
                                _ => break,
                            }
                        }
                        return Err(FeedError::TooLarge);
                    }
                    out.extend_from_slice(&d);
                }
            }
        }
    }
    Ok(Bytes::from(out))
}

/// An HTTP body fed by a channel.
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// Streams a blocking reader as a response body (64 KiB chunks, read on the blocking pool).
pub fn stream_reader(mut reader: Box<dyn Read + Send>) -> Body {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    Body::new(ChannelBody { rx })
}
