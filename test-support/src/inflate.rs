//! A raw DEFLATE reader for test clients of the `deflate` upgrade.

use std::io::Read;

/// Raw DEFLATE reader over a live stream that hands out everything the
/// inflater can produce from the bytes received so far (flate2's
/// `read::DeflateDecoder` blocks for more input while its inflater still
/// holds decoded bytes back).
pub struct InflateReader<R> {
    inner: R,
    d: flate2::Decompress,
    out: Vec<u8>,
    pos: usize,
}

impl<R: Read> InflateReader<R> {
    /// Inflate what `inner` delivers.
    pub fn new(inner: R) -> Self {
        InflateReader {
            inner,
            d: flate2::Decompress::new(false),
            out: Vec::new(),
            pos: 0,
        }
    }
}

impl<R: Read> Read for InflateReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.out.len() {
            let mut raw = [0u8; 65536];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.out.clear();
            self.pos = 0;
            let mut input = &raw[..n];
            loop {
                self.out.reserve(64 * 1024);
                let (i0, o0) = (self.d.total_in(), self.d.total_out());
                self.d
                    .decompress_vec(input, &mut self.out, flate2::FlushDecompress::None)
                    .map_err(std::io::Error::other)?;
                let used = (self.d.total_in() - i0) as usize;
                input = &input[used..];
                if used == 0 && self.d.total_out() == o0 {
                    break;
                }
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
