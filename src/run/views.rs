//! The rules of the fast path, in one place: how ragplay reads Arrow string views.
//!
//! polars keeps a String column as chunks of Arrow `Utf8View` arrays: one 16-byte view per
//! string (its length in the low 4 bytes; then, for a string of at most [`INLINE`] = 12
//! bytes, the string itself, zero-padded; for a longer one, its first 4 bytes, the index of
//! the chunk's data buffer holding it and its offset there). Grouping rows by query,
//! evaluation and fusion read views instead of strings wherever they can. They rely on
//! these rules, each written once here:
//!
//! 1. **Inline strings.** A string of at most [`INLINE`] bytes lies whole in its view
//!    ([`is_inline`], [`inline_view`] builds the view as Arrow does), so two such strings are
//!    equal exactly when their views are, and its bytes can be read from the view itself
//!    ([`Cursor::str_with_view`]).
//! 2. **Equality from views.** [`same_string`] decides whether two strings are equal from
//!    their views, reading bytes only for long strings that share length and prefix and do not
//!    point to the same place of one chunk.
//! 3. **Key tags.** A key's [`Tag`] is its view when the key is an inline string, and its
//!    64-bit hash with the sentinel length `u32::MAX` (no inline view has it) otherwise; equal
//!    inline tags are equal keys, equal hashed tags are confirmed by comparing the strings.
//! 4. **Buffer indices.** A view of a long string names a data buffer of its own chunk. To
//!    copy views from several chunks (or several columns) into one new array, their buffer
//!    lists are laid end to end and each long view's buffer index is shifted by where its
//!    chunk's list starts ([`first_buffers`], [`shifted`], [`view_column`]). polars drops empty
//!    chunks when it appends, but not their buffers, so the lists are always read from the
//!    chunks themselves, never from a count of rows.
//! 5. **Rows across chunks.** [`Chunks`] and its [`Cursor`] address rows of a column across its
//!    chunks without concatenating them; [`Cursor::chunk_at`] hands out a chunk's slice so
//!    loops read views a chunk at a time.
//!
//! The property tests in `src/oracle.rs` check the fast paths built on these rules (grouping,
//! evaluation, fusion) against naive versions (a hash map and a sort) over shuffled rows and
//! random chunkings.

use polars::prelude::*;
use polars_arrow::array::{Utf8ViewArray, View};

/// The arrow array behind a String column chunk.
pub type StrArray = <StringType as PolarsDataType>::Array;

/// The longest string (in bytes) that an Arrow view holds whole: 12.
pub const INLINE: usize = View::MAX_INLINE_SIZE as usize;

/// The length of the string a 16-byte view describes (its low 32 bits).
#[inline(always)]
pub fn view_len(view: u128) -> usize {
    view as u32 as usize
}

/// Whether the view holds its string whole (at most [`INLINE`] bytes).
#[inline(always)]
pub fn is_inline(view: u128) -> bool {
    view_len(view) <= INLINE
}

/// The view Arrow builds for a string of at most [`INLINE`] bytes: the length, then the bytes,
/// zero-padded; `None` for a longer string.
pub fn inline_view(text: &str) -> Option<u128> {
    if text.len() > INLINE {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&(text.len() as u32).to_le_bytes());
    bytes[4..4 + text.len()].copy_from_slice(text.as_bytes());
    Some(u128::from_le_bytes(bytes))
}

/// Whether two strings are equal, given their Arrow views, whether they lie in one chunk, and
/// `bytes_equal()`, which compares their bytes and is called only when the views cannot
/// tell. An inline string's view is the string, so two inline strings are equal exactly when
/// their views are; a longer one's view holds its length and 4-byte prefix (different ones
/// mean different strings) and a place in its chunk's buffers (the same place in one chunk
/// means the same string).
#[inline(always)]
pub fn same_string(
    va: u128,
    vb: u128,
    one_chunk: bool,
    bytes_equal: impl FnOnce() -> bool,
) -> bool {
    let short = is_inline(va);
    if va == vb && (short || one_chunk) {
        return true;
    }
    if short || (va as u64) != (vb as u64) {
        return false;
    }
    bytes_equal()
}

/// [`same_string`] for two `(string, view)` pairs from any chunks.
#[inline(always)]
pub fn same_pair((a, va): (&str, u128), (b, vb): (&str, u128)) -> bool {
    same_string(va, vb, false, || a == b)
}

/// FxHash of a string's bytes: the one hash of doc and query ids in evaluation and fusion.
#[inline(always)]
pub fn hash_str(s: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    std::hash::Hasher::write(&mut h, s.as_bytes());
    std::hash::Hasher::finish(&h)
}

/// What identifies a string key in a hash table (rule 3 of the module docs): the view of an
/// inline string, or the hash with the sentinel length `u32::MAX`, which no inline view has,
/// so the two kinds never meet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Tag(u128);

impl Tag {
    const HASHED: u64 = u32::MAX as u64;

    /// The tag of a string with its Arrow view.
    #[inline(always)]
    pub fn of((text, view): (&str, u128)) -> Tag {
        if text.len() <= INLINE {
            Tag(view)
        } else {
            Tag::hashed(hash_str(text))
        }
    }

    /// The tag of a string from its Arrow view, `text()` being read only when the string is
    /// too long to lie in the view.
    #[inline(always)]
    pub fn of_view<'s>(view: u128, text: impl FnOnce() -> &'s str) -> Tag {
        if is_inline(view) {
            Tag(view)
        } else {
            Tag::hashed(hash_str(text()))
        }
    }

    /// The tag of a string without its Arrow view at hand: the view is built the way Arrow
    /// builds it (length, then the bytes) when the string is short enough to lie in it.
    pub fn of_str(text: &str) -> Tag {
        match inline_view(text) {
            Some(view) => Tag(view),
            None => Tag::hashed(hash_str(text)),
        }
    }

    /// A tag from a hash: equal tags are confirmed by comparing the keys.
    #[inline(always)]
    pub fn hashed(hash: u64) -> Tag {
        Tag(((hash as u128) << 64) | Self::HASHED as u128)
    }

    /// Whether equal tags alone mean equal keys.
    #[inline(always)]
    pub fn complete(self) -> bool {
        is_inline(self.0)
    }

    /// 64 well-mixed bits: the 128-bit product of the two halves (offset by constants),
    /// folded.
    #[inline(always)]
    pub fn mixed(self) -> u64 {
        let lo = (self.0 as u64) ^ 0x243F_6A88_85A3_08D3;
        let hi = ((self.0 >> 64) as u64) ^ 0x1319_8A2E_0370_7344;
        let product = u128::from(lo) * u128::from(hi);
        (product as u64) ^ ((product >> 64) as u64)
    }
}

/// Chunk boundaries of a column: `starts[c]` is the first row of chunk `c`, plus the length.
fn chunk_starts(lengths: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut starts = vec![0];
    for len in lengths {
        starts.push(starts.last().copied().unwrap_or(0) + len);
    }
    starts
}

/// Row access to a null-free column across its chunks, without copying them into one: a
/// cursor remembers the chunk it last read, so sequential access costs one bounds check.
pub struct Chunks<'a, T: ?Sized> {
    starts: Vec<usize>,
    parts: Vec<&'a T>,
}

/// A cursor over [`Chunks`]; cheap to create, one per thread or task. It caches the row
/// range `[lo, hi)` and index of the chunk it read last.
pub struct Cursor<'c, 'a, T: ?Sized> {
    chunks: &'c Chunks<'a, T>,
    current: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a, T: ?Sized> Chunks<'a, T> {
    /// A new cursor at the first chunk.
    pub fn cursor(&self) -> Cursor<'_, 'a, T> {
        let hi = self.starts.get(1).copied().unwrap_or(0);
        Cursor {
            chunks: self,
            current: std::cell::Cell::new((0, hi, 0)),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        *self.starts.last().unwrap_or(&0)
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a, T: ?Sized> Cursor<'_, 'a, T> {
    /// The chunk holding row `i` and `i`'s offset in it.
    #[inline(always)]
    fn locate(&self, i: usize) -> (&'a T, usize) {
        let (mut lo, mut hi, mut c) = self.current.get();
        if i < lo || i >= hi {
            let starts = &self.chunks.starts;
            c = starts.partition_point(|&s| s <= i) - 1;
            (lo, hi) = (starts[c], starts[c + 1]);
            self.current.set((lo, hi, c));
        }
        (self.chunks.parts[c], i - lo)
    }

    /// The chunk holding row `i`, `i`'s offset in it, and the row after the chunk's last.
    #[inline(always)]
    pub fn chunk_at(&self, i: usize) -> (&'a T, usize, usize) {
        let (part, j) = self.locate(i);
        (part, j, self.current.get().1)
    }
}

/// String chunks.
pub type StrChunks<'a> = Chunks<'a, StrArray>;
/// Float64 chunks.
pub type F64Chunks<'a> = Chunks<'a, [f64]>;

impl<'a> StrChunks<'a> {
    /// View a String column known to hold no nulls.
    pub fn strings(ca: &'a StringChunked) -> Self {
        let parts: Vec<&StrArray> = ca.downcast_iter().collect();
        Self {
            starts: chunk_starts(parts.iter().map(|a| a.len())),
            parts,
        }
    }
}

impl<'a> F64Chunks<'a> {
    /// View a Float64 column known to hold no nulls.
    pub fn floats(ca: &'a Float64Chunked) -> Self {
        let parts: Vec<&[f64]> = ca.downcast_iter().map(|a| a.values().as_slice()).collect();
        Self {
            starts: chunk_starts(parts.iter().map(|a| a.len())),
            parts,
        }
    }
}

impl<'a> Cursor<'_, 'a, StrArray> {
    /// Row `i`.
    #[inline(always)]
    pub fn str(&self, i: usize) -> &'a str {
        let (arr, j) = self.locate(i);
        debug_assert!(j < arr.len());
        // SAFETY: `locate` returns an offset below the chunk's length (`starts` was built
        // from the chunk lengths and `i` lies in `[lo, hi)`).
        unsafe { arr.value_unchecked(j) }
    }
}

/// Ask the processor to bring the cache line at `p` into L1 ahead of a read (a hint: it never
/// faults and has no other effect; nothing on targets other than x86-64).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint with no effect on memory, valid for any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl<'a> Cursor<'_, 'a, StrArray> {
    /// Row `i` and its 16-byte view (rule 1: an inline string's view is the string; a longer
    /// string's view points into its chunk's buffers and says nothing across chunks).
    #[inline(always)]
    pub fn str_view(&self, i: usize) -> (&'a str, u128) {
        let (arr, j) = self.locate(i);
        let view = arr.views()[j].as_u128();
        // SAFETY: `locate` returns an offset below the chunk's length.
        (unsafe { arr.value_unchecked(j) }, view)
    }

    /// Row `i`, the chunk holding it, and its view in that chunk (see [`Cursor::str_view`]).
    #[inline(always)]
    pub fn chunk_view(&self, i: usize) -> (&'a str, usize, polars_arrow::array::View) {
        let (arr, j) = self.locate(i);
        // SAFETY: `locate` returns an offset below the chunk's length.
        let text = unsafe { arr.value_unchecked(j) };
        (text, self.current.get().2, arr.views()[j])
    }

    /// Row `i`, given its view (read before, perhaps with its buffer index moved): a string
    /// inline string is addressed inside the column's view of it, without reading that
    /// view again, so rows visited in any order cost no access to the column until their
    /// bytes are read; a longer one is read as [`Cursor::str`] reads it.
    ///
    /// # Safety
    /// `view` has the length of row `i`'s view.
    #[inline(always)]
    pub(crate) unsafe fn str_with_view(
        &self,
        i: usize,
        view: polars_arrow::array::View,
    ) -> &'a str {
        let (arr, j) = self.locate(i);
        debug_assert_eq!(arr.views()[j].length, view.length);
        if view.length as usize <= INLINE {
            // SAFETY: `locate` returns an offset below the chunk's length, and an Arrow view
            // of an inline string holds the string in the `length` bytes after its
            // 4-byte length (the caller's `view` has that length).
            unsafe {
                let at = arr.views().as_ptr().add(j).cast::<u8>().add(4);
                let bytes = std::slice::from_raw_parts(at, view.length as usize);
                std::str::from_utf8_unchecked(bytes)
            }
        } else {
            // SAFETY: `locate` returns an offset below the chunk's length.
            unsafe { arr.value_unchecked(j) }
        }
    }

    /// Row `i`'s 16-byte view alone (see [`Cursor::str_view`]).
    #[inline(always)]
    pub fn view(&self, i: usize) -> u128 {
        let (arr, j) = self.locate(i);
        arr.views()[j].as_u128()
    }

    /// Ask the processor to fetch row `i`'s view ahead of [`Cursor::str_view`]: callers that
    /// read rows in an order of their own (rows grouped by a counting sort) hide the cache
    /// miss this way. A row past the end is ignored.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if i < self.chunks.len() {
            let (arr, j) = self.locate(i);
            prefetch(&arr.views()[j]);
        }
    }
}

impl Cursor<'_, '_, StrArray> {
    /// Whether rows `i` and `j` hold the same string ([`same_string`]).
    #[inline(always)]
    pub fn same(&self, i: usize, j: usize) -> bool {
        let (a, ai) = self.locate(i);
        let (b, bi) = self.locate(j);
        same_string(
            a.views()[ai].as_u128(),
            b.views()[bi].as_u128(),
            std::ptr::eq(a, b),
            // SAFETY: `locate` returns offsets below the chunks' lengths.
            || unsafe { a.value_unchecked(ai) == b.value_unchecked(bi) },
        )
    }
}

impl Cursor<'_, '_, [f64]> {
    /// Row `i`.
    #[inline(always)]
    pub fn f64(&self, i: usize) -> f64 {
        let (arr, j) = self.locate(i);
        arr[j]
    }
}

/// Where each chunk of a String column starts in the list of all its chunks' data buffers,
/// laid end to end (rule 4): a view of chunk `c` that points into a buffer (a string longer
/// than [`INLINE`]) points into that list once its buffer index is shifted by
/// `first_buffer[c]`.
pub fn first_buffers<'a>(chunks: impl Iterator<Item = &'a StrArray>, start: u32) -> Vec<u32> {
    let mut next = start;
    chunks
        .map(|arr| {
            let first = next;
            next += arr.data_buffers().len() as u32;
            first
        })
        .collect()
}

/// A view of chunk `chunk` made to point into the list of all the chunks' buffers.
#[inline(always)]
pub fn shifted(mut view: View, first_buffer: &[u32], chunk: usize) -> View {
    if view.length as usize > INLINE {
        view.buffer_idx += first_buffer[chunk];
    }
    view
}

/// A String column named `name` of `views`, which point into the data buffers of `chunks`
/// laid end to end, in order.
pub(crate) fn view_column(name: &str, chunks: &[&StrArray], views: Vec<View>) -> Column {
    let total_buffer_len = chunks.iter().map(|a| a.total_buffer_len()).sum();
    let buffers = chunks.iter().flat_map(|a| a.data_buffers().iter().cloned());
    // SAFETY: every view was copied from a valid string of one of the chunks, with its buffer
    // index moved to where that chunk's buffers lie in the list.
    let array = unsafe {
        Utf8ViewArray::new_unchecked_unknown_md(
            ArrowDataType::Utf8View,
            views.into(),
            buffers.collect(),
            None,
            Some(total_buffer_len),
        )
    };
    StringChunked::with_chunk(name.into(), array).into_column()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_tagged_by_their_arrow_view() {
        use polars::prelude::*;
        let texts = ["", "a", "q00001", "twelve bytes", "thirteen byte"];
        let ca = StringChunked::new("t".into(), texts);
        let array = ca.downcast_iter().next().unwrap();
        for (i, text) in texts.iter().enumerate() {
            let arrow = array.views()[i].as_u128();
            assert_eq!(Tag::of_str(text), Tag::of((text, arrow)), "{text:?}");
            if text.len() <= INLINE {
                assert_eq!(Some(arrow), inline_view(text), "{text:?}");
                assert_eq!(Tag::of((text, arrow)), Tag(arrow));
                assert!(Tag::of((text, arrow)).complete());
            } else {
                assert_eq!(Tag::of((text, arrow)), Tag::hashed(hash_str(text)));
                assert!(!Tag::of((text, arrow)).complete());
            }
        }
    }

    #[test]
    fn equality_from_views_agrees_with_comparing_the_strings() {
        let texts = [
            "",
            "a",
            "b",
            "q00001",
            "twelve bytes",
            "twelve bytez",
            "thirteen byte",
            "thirteen bytf",
            "a string well past the inline size",
            "a string well past the inline sizf",
        ];
        let one = StringChunked::new("t".into(), texts);
        let arr = one.downcast_iter().next().unwrap();
        let other = StringChunked::new("u".into(), texts);
        let brr = other.downcast_iter().next().unwrap();
        for (i, a) in texts.iter().enumerate() {
            for (j, b) in texts.iter().enumerate() {
                let (va, vb) = (arr.views()[i].as_u128(), arr.views()[j].as_u128());
                assert_eq!(same_string(va, vb, true, || a == b), a == b, "{a:?} {b:?}");
                let vb = brr.views()[j].as_u128();
                assert_eq!(same_string(va, vb, false, || a == b), a == b, "{a:?} {b:?}");
                assert_eq!(same_pair((a, va), (b, vb)), a == b, "{a:?} {b:?}");
            }
        }
    }
}
