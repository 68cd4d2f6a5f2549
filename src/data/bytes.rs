//! The one reader of the binary files ragplay writes (BM25 indexes, vector stores, HNSW
//! graphs): little-endian integers and floats, length-prefixed strings, counts checked
//! against the bytes left before anything is allocated. Every read that runs past the end or
//! meets malformed content fails with a [`Corrupt`] reason; the format's loader turns it into
//! one error naming its file ([`Corrupt::at`]), so the three formats report damage alike.

use std::path::Path;

use crate::error::Error;

/// Why stored bytes cannot be read back: a short reason such as `"truncated"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

impl Corrupt {
    /// The error for the file at `path`: `corrupt index file: <reason>`.
    pub fn at(self, path: &Path) -> Error {
        Error::Parse {
            path: path.to_path_buf(),
            line: 0,
            message: format!("corrupt index file: {}", self.0),
        }
    }
}

/// What a read returns.
pub type Decoded<T> = std::result::Result<T, Corrupt>;

/// `Err(Corrupt(reason))` unless `ok`.
pub fn ensure(ok: bool, reason: &'static str) -> Decoded<()> {
    if ok {
        Ok(())
    } else {
        Err(Corrupt(reason))
    }
}

/// A cursor over stored bytes.
#[derive(Debug, Clone)]
pub struct ByteReader<'a>(&'a [u8]);

const TRUNCATED: Corrupt = Corrupt("truncated");

impl<'a> ByteReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.0.len()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Decoded<&'a [u8]> {
        if n > self.0.len() {
            return Err(TRUNCATED);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// The file's first bytes, which must be `magic` (its kind and version).
    pub fn magic(&mut self, magic: &[u8]) -> Decoded<()> {
        let head = self
            .take(magic.len())
            .map_err(|_| Corrupt("bad magic bytes"))?;
        ensure(head == magic, "bad magic bytes")
    }

    pub fn u8(&mut self) -> Decoded<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Decoded<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Decoded<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| TRUNCATED)?))
    }

    /// A `u64` that must fit `usize`.
    pub fn usize(&mut self) -> Decoded<usize> {
        usize::try_from(self.u64()?).map_err(|_| Corrupt("a number exceeds the address space"))
    }

    /// A `u64` count of items that take at least `item_bytes` each: larger than the bytes
    /// left can hold is an error, so a damaged count never allocates.
    pub fn count(&mut self, item_bytes: usize) -> Decoded<usize> {
        let n = self.usize()?;
        let fits = n
            .checked_mul(item_bytes.max(1))
            .is_some_and(|b| b <= self.0.len());
        ensure(fits, "a count exceeds the file size")?;
        Ok(n)
    }

    /// A string: its `u32` byte length, then UTF-8 bytes.
    pub fn string(&mut self) -> Decoded<String> {
        let n = self.u32()? as usize;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| Corrupt("invalid UTF-8 in a string"))
    }

    /// `n` little-endian `u16`s.
    pub fn u16s(&mut self, n: usize) -> Decoded<Vec<u16>> {
        let bytes = self.take(n.checked_mul(2).ok_or(TRUNCATED)?)?;
        Ok(bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect())
    }

    /// `n` little-endian `u32`s.
    pub fn u32s(&mut self, n: usize) -> Decoded<impl Iterator<Item = u32> + 'a> {
        let bytes = self.take(n.checked_mul(4).ok_or(TRUNCATED)?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
    }

    /// `n` little-endian `f32`s.
    pub fn f32s(&mut self, n: usize) -> Decoded<Vec<f32>> {
        Ok(self.u32s(n)?.map(f32::from_bits).collect())
    }

    /// Nothing may follow the last read.
    pub fn finish(self) -> Decoded<()> {
        ensure(self.0.is_empty(), "trailing bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fail_with_a_reason_instead_of_running_past_the_end() {
        let mut bytes = b"MAGIC".to_vec();
        bytes.extend(7u32.to_le_bytes());
        bytes.extend(3u64.to_le_bytes());
        bytes.extend(2u32.to_le_bytes());
        bytes.extend(b"hi");
        bytes.extend(1.5f32.to_le_bytes());
        let mut r = ByteReader::new(&bytes);
        r.magic(b"MAGIC").unwrap();
        assert_eq!(r.u32(), Ok(7));
        assert_eq!(r.count(1), Ok(3));
        assert_eq!(r.string().as_deref(), Ok("hi"));
        assert_eq!(r.f32s(1), Ok(vec![1.5]));
        assert_eq!(r.clone().finish(), Ok(()));
        assert_eq!(r.u8(), Err(Corrupt("truncated")));
        // A count the rest cannot hold fails before any allocation.
        let mut r = ByteReader::new(&bytes[5..]);
        assert_eq!(r.count(1), Err(Corrupt("a count exceeds the file size")));
        let mut r = ByteReader::new(b"MAGIX");
        assert_eq!(r.magic(b"MAGIC"), Err(Corrupt("bad magic bytes")));
        let mut r = ByteReader::new(&[1, 0, 0, 0, 0xff]);
        assert_eq!(r.string(), Err(Corrupt("invalid UTF-8 in a string")));
        assert_eq!(
            ByteReader::new(&[0]).finish(),
            Err(Corrupt("trailing bytes"))
        );
        let err = Corrupt("truncated")
            .at(Path::new("x/index.bin"))
            .to_string();
        assert_eq!(err, "x/index.bin:0: corrupt index file: truncated");
    }
}
