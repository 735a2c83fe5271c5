//! The read buffers of streamed downloads: anonymous mappings of their own, a few kept for reuse,
//! so that memory returns to the system after load.
//!
//! A download of a large file is sent in chunks of [`READ_CHUNK`] bytes, each read on a
//! blocking-pool thread into a buffer of its own. Taken from the heap, those buffers stayed with
//! the process: glibc gives each busy thread an arena of its own, and once a freed 1 MiB block
//! has raised its `mmap` threshold, later buffers come from those arenas and their memory is kept
//! there (issue #17: 46 MiB of the RSS after a run was this). So each buffer is a mapping of its
//! own, which the kernel takes back whole when it is dropped, whatever thread drops it.
//!
//! A buffer from [`take`] goes back to a small pool when the chunk made from it is dropped (after
//! hyper has written it), and the next chunk reuses it: a new mapping costs a page fault per
//! 4 KiB page on its first fill. The pool is small, since what it keeps stays resident after
//! load (a pool of sixteen kept 15.7 MiB, by heaptrack, after the quick benchmark): downloads in
//! flight keep their buffers circulating through it, and only the surplus when they end is
//! unmapped.

use std::io;
use std::sync::Mutex;

use bytes::Bytes;
use memmap2::MmapMut;

/// The size of a read chunk of a streamed file, and of every pooled buffer.
pub(crate) const READ_CHUNK: usize = 1024 * 1024;

/// At most this many idle buffers are kept (4 MiB); beyond, a returned buffer is unmapped.
const POOLED: usize = 4;

static POOL: Mutex<Vec<MmapMut>> = Mutex::new(Vec::new());

/// A buffer of [`READ_CHUNK`] bytes, of which the first `len` are filled.
pub(crate) struct Buffer {
    map: MmapMut,
    len: usize,
}

impl Buffer {
    /// The room after the filled bytes, to read into; then [`Buffer::filled`].
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.map[self.len..]
    }

    /// Counts `n` more bytes of [`Buffer::spare`] as filled.
    pub(crate) fn filled(&mut self, n: usize) {
        self.len = (self.len + n).min(self.map.len());
    }
}

/// An empty buffer with room for [`READ_CHUNK`] bytes: a pooled one if any is idle, else a new
/// mapping.
pub(crate) fn take() -> io::Result<Buffer> {
    let pooled = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let map = match pooled {
        Some(map) => map,
        None => MmapMut::map_anon(READ_CHUNK)?,
    };
    Ok(Buffer { map, len: 0 })
}

/// The filled bytes of `buffer` as a chunk to send; when the chunk and every slice of it are
/// dropped, the buffer goes back to the pool (or is unmapped if the pool is full).
pub(crate) fn chunk(buffer: Buffer) -> Bytes {
    Bytes::from_owner(Pooled(Some(buffer)))
}

/// A buffer that returns to the pool when dropped.
struct Pooled(Option<Buffer>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], |b| &b.map[..b.len])
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(buffer) = self.0.take() else { return };
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOLED {
            pool.push(buffer.map);
        }
        // Otherwise the mapping is dropped here, outside the pool: unmapped.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is process-wide: this test alone uses it in this binary's unit tests.
    #[test]
    fn a_dropped_chunk_gives_its_buffer_to_the_next_read_and_the_pool_is_bounded() {
        let mut buffer = take().unwrap();
        buffer.spare()[..11].copy_from_slice(b"first chunk");
        buffer.filled(11);
        let address = buffer.map.as_ptr();
        let sent = chunk(buffer);
        assert_eq!(&sent[..], b"first chunk");
        let slice = sent.slice(0..5);
        drop(sent);
        // A slice still refers to the buffer: it is not reused yet.
        let other = take().unwrap();
        assert_ne!(other.map.as_ptr(), address);
        drop(other);
        assert_eq!(&slice[..], b"first");
        drop(slice);
        let mut reused = take().unwrap();
        assert_eq!(reused.map.as_ptr(), address, "the freed chunk's buffer is reused");
        assert_eq!(reused.len, 0);
        assert_eq!(reused.spare().len(), READ_CHUNK);

        // A reused buffer that held longer content: the chunk is only what was filled this time.
        reused.spare().fill(b'x');
        reused.filled(READ_CHUNK + 10);
        assert_eq!(reused.len, READ_CHUNK, "filled never counts past the buffer");
        drop(chunk(reused));
        let mut short = take().unwrap();
        short.spare()[..3].copy_from_slice(b"abc");
        short.filled(3);
        assert_eq!(&chunk(short)[..], b"abc");

        // Many chunks dropped at once: only POOLED buffers are kept.
        let chunks: Vec<Bytes> = (0..POOLED + 8).map(|_| chunk(take().unwrap())).collect();
        drop(chunks);
        assert_eq!(POOL.lock().unwrap().len(), POOLED);
    }
}
