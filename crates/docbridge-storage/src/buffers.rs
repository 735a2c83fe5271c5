//! The read buffers of streamed downloads, kept for reuse so that memory returns after load.
//!
//! A download of a large file is sent in chunks of [`READ_CHUNK`] bytes, each read on a
//! blocking-pool thread into a buffer of its own. Allocated and freed per chunk, those buffers
//! stayed with the process: glibc gives each busy thread an arena of its own, and once a freed
//! 1 MiB block has raised its `mmap` threshold, later buffers come from those arenas and their
//! memory is kept there (issue #17: 46 MiB of the RSS after a run was this). A buffer from
//! [`take`] goes back to a small pool when the chunk made from it is dropped (after hyper has
//! written it), and the next chunk reuses it: the memory a download holds is then bounded by
//! the chunks in flight, and does not grow with the number of threads that ever read one.

use std::sync::Mutex;

use bytes::Bytes;

/// The size of a read chunk of a streamed file, and of every pooled buffer.
pub(crate) const READ_CHUNK: usize = 1024 * 1024;

/// At most this many idle buffers are kept (16 MiB): two per download in flight (one being
/// sent, one read ahead) for eight downloads at once. Beyond, a returned buffer is freed.
const POOLED: usize = 16;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer with room for [`READ_CHUNK`] bytes: a pooled one if any is idle.
pub(crate) fn take() -> Vec<u8> {
    let pooled = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
    pooled.unwrap_or_else(|| Vec::with_capacity(READ_CHUNK))
}

/// `buffer` as a chunk to send; when the chunk and every slice of it are dropped, the buffer
/// goes back to the pool (or is freed if the pool is full).
pub(crate) fn chunk(buffer: Vec<u8>) -> Bytes {
    Bytes::from_owner(Pooled(buffer))
}

/// A buffer that returns to the pool when dropped.
struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.0);
        if buffer.capacity() < READ_CHUNK {
            return;
        }
        buffer.clear();
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOLED {
            pool.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is process-wide: this test alone uses it in this binary's unit tests.
    #[test]
    fn a_dropped_chunk_gives_its_buffer_to_the_next_read_and_the_pool_is_bounded() {
        let mut buffer = take();
        buffer.extend_from_slice(b"first chunk");
        let address = buffer.as_ptr();
        let sent = chunk(buffer);
        let slice = sent.slice(0..5);
        drop(sent);
        // A slice still refers to the buffer: it is not reused yet.
        let other = take();
        assert_ne!(other.as_ptr(), address);
        drop(other);
        assert_eq!(&slice[..], b"first");
        drop(slice);
        let reused = take();
        assert_eq!(reused.as_ptr(), address, "the freed chunk's buffer is reused");
        assert!(reused.is_empty() && reused.capacity() >= READ_CHUNK);

        // Many chunks dropped at once: only POOLED buffers are kept.
        let chunks: Vec<Bytes> = (0..POOLED + 8).map(|_| chunk(take())).collect();
        drop(chunks);
        assert_eq!(POOL.lock().unwrap().len(), POOLED);
    }
}
