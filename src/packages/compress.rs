//! Streaming decompression chosen by the stream's magic bytes.
//!
//! A compressed stream carries an integrity check at its end (gzip's CRC-32 and length,
//! xz's CRC/SHA of each block and its index, zstd's frame checksum), and the decoders verify
//! it only when they reach that end. Readers of archives stop at the archive's own end
//! marker, before it: [`finish`] reads the rest, so a flipped byte is an error, never
//! wrong content taken for right (`dpkg-deb -x` refuses such a package too).

use std::io::{BufRead, BufReader, Read};

use anyhow::{Result, bail};

/// The compressions packages and layers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
}

impl Compression {
    /// Recognises a compressed stream by its first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// Wraps `reader` in the decompressor its magic bytes call for (plain data passes through).
/// A decoder's error reads "corrupt xz stream: …" (or gzip, zstd) wherever it surfaces.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let head = buffered.fill_buf()?;
    let kind = Compression::sniff(head);
    let inner: Box<dyn Read + 'a> = match kind {
        Compression::None => return Ok(Box::new(buffered)),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        Compression::Bzip2 => bail!("bzip2 compression is not supported"),
    };
    Ok(Box::new(Checked { inner, kind }))
}

/// A decoder whose errors say that the stream is corrupt, and which of them.
struct Checked<'a> {
    inner: Box<dyn Read + 'a>,
    kind: Compression,
}

impl Read for Checked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::Interrupted {
                return e;
            }
            // A stream cut short keeps its kind: readers tell truncation apart.
            let (kind, what) = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                (e.kind(), "truncated")
            } else {
                (std::io::ErrorKind::InvalidData, "corrupt")
            };
            std::io::Error::new(
                kind,
                Refusal(format!("{what} {} stream: {e}", self.kind.name())),
            )
        })
    }
}

/// An error that says itself what is wrong with a stream (a corrupt compressed stream, a
/// record larger than any real one): readers report it as it is, with the archive's name.
#[derive(Debug)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// A [`Refusal`] as an I/O error, for readers.
pub fn refusal(text: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, Refusal(text))
}

/// Whether `err` is a [`Refusal`].
pub fn is_refusal(err: &std::io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<Refusal>())
}

/// The most bytes an archive may carry after its end marker: tar pads to its record size
/// (10 KiB for GNU tar), cpio to 512 bytes; anything much longer is not padding.
pub const MAX_TRAILING: u64 = 1 << 20;

/// Reads `stream` (past the end of the archive it holds) to its end, so the decoder
/// verifies the stream's integrity check. At most [`MAX_TRAILING`] bytes may be left.
pub fn finish(stream: &mut dyn Read) -> Result<()> {
    let mut buf = [0u8; 8192];
    let mut left = 0u64;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        left += n as u64;
        if left > MAX_TRAILING {
            bail!("more than {MAX_TRAILING} bytes follow the end of the archive");
        }
    }
}

/// A reader that fails once more than `limit` bytes came through it: the expansion of a
/// compressed member that holds only small files. `what` names the limit in the error.
pub struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
    what: &'static str,
}

impl<R: Read> Limited<R> {
    pub fn new(inner: R, limit: u64, what: &'static str) -> Self {
        Limited {
            inner,
            left: limit,
            limit,
            what,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(refusal(format!(
                "expands to more than {} bytes, the limit for {} (decompression bomb?)",
                self.limit, self.what
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn corrupt_in_the_middle(mut data: Vec<u8>) -> Vec<u8> {
        let at = data.len() / 2;
        data[at] ^= 0x01;
        data
    }

    /// Every decoder, read to its end by `finish`, refuses one flipped byte; the error says
    /// which stream is corrupt.
    #[test]
    fn a_flipped_byte_is_found_at_the_end_of_every_stream() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&plain).unwrap();
        let xz = xz.finish().unwrap();
        let mut zst = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        zst.include_checksum(true).unwrap();
        zst.write_all(&plain).unwrap();
        let zst = zst.finish().unwrap();
        for (name, good) in [("gzip", gz), ("xz", xz), ("zstd", zst)] {
            let mut stream = decompress(&good[..]).unwrap();
            let mut out = Vec::new();
            stream.read_to_end(&mut out).unwrap();
            assert_eq!(out, plain, "{name}");
            drop(stream);
            let bad = corrupt_in_the_middle(good);
            let mut stream = decompress(&bad[..]).unwrap();
            let err = finish(&mut stream).unwrap_err().to_string();
            assert!(
                err.contains(&format!("corrupt {name} stream")),
                "{name}: {err}"
            );
        }
    }
}
