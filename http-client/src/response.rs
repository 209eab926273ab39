//! An HTTP/1.x response and its reader: the head once it is in, then the
//! body by `Content-Length`, `Transfer-Encoding: chunked` (decoded as it
//! arrives) or, with neither, up to the end of the connection.

use nsq_protocol::http::ChunkedDecoder;

use crate::error::HttpError;

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Parse a whole response to `method`, as read up to the end of its
    /// connection.
    pub fn parse(raw: &[u8], method: &str) -> Result<Response, HttpError> {
        let mut reader = ResponseReader::new(method, usize::MAX);
        match reader.push(raw)? {
            Some(r) => Ok(r),
            None => reader.finish(),
        }
    }
}

/// The value of the first header named `name` (case-insensitive).
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// How the body of a response ends.
#[derive(Debug)]
enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// `Content-Length`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkedDecoder),
    /// Neither: the end of the connection ends it.
    ToEof,
}

/// What the head said.
#[derive(Debug)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    framing: Framing,
}

/// Reads one response from the bytes of a connection as they arrive.
#[derive(Debug)]
pub(crate) struct ResponseReader {
    no_body: bool,
    /// Most bytes accepted (head and body).
    limit: usize,
    /// Bytes not yet consumed: the head until it is complete, then a
    /// chunked body's undecoded tail, or the whole body otherwise.
    buf: Vec<u8>,
    /// Bytes received in all.
    received: usize,
    head: Option<Head>,
}

impl ResponseReader {
    /// A reader for the response to `method`, of at most `limit` bytes.
    pub(crate) fn new(method: &str, limit: usize) -> ResponseReader {
        ResponseReader {
            no_body: method.eq_ignore_ascii_case("HEAD"),
            limit,
            buf: Vec::new(),
            received: 0,
            head: None,
        }
    }

    /// Whether more than the limit arrived.
    pub(crate) fn over_limit(&self) -> bool {
        self.received > self.limit
    }

    /// Take `bytes`; the response once it is complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Option<Response>, HttpError> {
        self.received = self.received.saturating_add(bytes.len());
        self.buf.extend_from_slice(bytes);
        if self.head.is_none() {
            let Some((head, len)) = parse_head(&self.buf, self.no_body)? else {
                return Ok(None);
            };
            self.buf.drain(..len);
            self.head = Some(head);
        }
        let Some(head) = self.head.as_mut() else {
            return Ok(None);
        };
        let body = match &mut head.framing {
            Framing::Empty => Vec::new(),
            Framing::Length(n) => {
                if self.buf.len() < *n {
                    return Ok(None);
                }
                self.buf.truncate(*n);
                std::mem::take(&mut self.buf)
            }
            Framing::Chunked(decoder) => {
                let (used, done) = decoder
                    .feed(&self.buf)
                    .map_err(|e| HttpError::BadResponse(format!("bad chunked body: {e:?}")))?;
                self.buf.drain(..used);
                match done {
                    Some(body) => body,
                    None => return Ok(None),
                }
            }
            Framing::ToEof => return Ok(None),
        };
        Ok(self.head.take().map(|h| Response {
            status: h.status,
            headers: h.headers,
            body,
        }))
    }

    /// The connection ended: the response if it is whole.
    pub(crate) fn finish(self) -> Result<Response, HttpError> {
        match self.head {
            Some(Head {
                status,
                headers,
                framing: Framing::ToEof,
            }) => Ok(Response {
                status,
                headers,
                body: self.buf,
            }),
            Some(_) => Err(HttpError::BadResponse(
                "connection closed mid-response".into(),
            )),
            None => Err(HttpError::BadResponse(
                "connection closed before the response".into(),
            )),
        }
    }
}

/// The head at the front of `buf` and its length, once it is all there.
fn parse_head(buf: &[u8], no_body: bool) -> Result<Option<(Head, usize)>, HttpError> {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut hs);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::BadResponse(format!("bad HTTP response: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let find = |n: &str| find_header(&headers, n);
    let framing = if no_body || status == 204 || status == 304 || status / 100 == 1 {
        Framing::Empty
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        Framing::Chunked(ChunkedDecoder::new(1 << 30))
    } else if let Some(v) = find("content-length") {
        let n = v
            .parse()
            .map_err(|_| HttpError::BadResponse(format!("bad Content-Length {v:?}")))?;
        Framing::Length(n)
    } else {
        Framing::ToEof
    };
    Ok(Some((
        Head {
            status,
            headers,
            framing,
        },
        len,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `raw` one byte at a time; the response and the bytes it took.
    fn bytewise(raw: &[u8]) -> Option<(Response, usize)> {
        let mut r = ResponseReader::new("GET", usize::MAX);
        for (i, b) in raw.iter().enumerate() {
            if let Some(resp) = r.push(std::slice::from_ref(b)).unwrap() {
                return Some((resp, i + 1));
            }
        }
        None
    }

    #[test]
    fn lengths_and_chunks_in_any_split() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (r, used) = bytewise(raw).unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), used),
            (200, &b"ok"[..], raw.len())
        );
        assert!(bytewise(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok").is_none());
        let raw =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1\r\n!\r\n0\r\n\r\n";
        let (r, used) = bytewise(raw).unwrap();
        assert_eq!((r.body.as_slice(), used), (&b"ok!"[..], raw.len()));
        assert_eq!(r.header("transfer-ENCODING"), Some("chunked"));
    }

    #[test]
    fn bodies_without_length_run_to_the_end() {
        let r = Response::parse(b"HTTP/1.0 403 Forbidden\r\n\r\nbody", "GET").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (403, &b"body"[..]));
        let r = Response::parse(b"HTTP/1.1 404 Not Found\r\n\r\n", "GET").unwrap();
        assert_eq!((r.status, r.body.len()), (404, 0));
        let r = Response::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD");
        assert_eq!(r.unwrap().body.len(), 0);
    }

    #[test]
    fn broken_responses() {
        assert!(Response::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok", "GET").is_err());
        assert!(Response::parse(b"HTTP/1.1 200 OK\r\n", "GET").is_err());
        assert!(Response::parse(b"SSH-2.0\r\n\r\n", "GET").is_err());
        assert!(Response::parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "GET").is_err());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(Response::parse(chunked, "GET").is_err());
    }
}
