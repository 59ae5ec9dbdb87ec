//! Buffers whose bytes start on a 4 KiB boundary, as `O_DIRECT` writes need, without `unsafe`: a `Vec`
//! one alignment longer than asked for, used from its first aligned byte.

/// Memory and file-offset alignment for direct I/O: 4 KiB covers 512-byte and 4Kn disks.
pub(super) const DIRECT_IO_ALIGN: usize = 4096;

/// The image's bytes `buf[..len]` from image offset `offset`; `buf[..held]` is the held-back boot area:
/// what the fetch, verify and write stages pass along.
pub(super) struct Block {
    pub offset: u64,
    pub buf: AlignedBuf,
    pub len: usize,
    pub held: usize,
}

pub(super) struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zeroed bytes starting on a [`DIRECT_IO_ALIGN`] boundary.
    pub(super) fn zeroed(len: usize) -> Self {
        let storage = vec![0u8; len + DIRECT_IO_ALIGN];
        let start = storage.as_ptr().align_offset(DIRECT_IO_ALIGN);
        Self { storage, start, len }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// Whether `data` may go to a direct-I/O file at `offset` as it is: address, offset and length aligned.
pub(super) fn is_direct_io_aligned(offset: u64, data: &[u8]) -> bool {
    let align = DIRECT_IO_ALIGN as u64;
    offset.is_multiple_of(align)
        && (data.len() as u64).is_multiple_of(align)
        && (data.as_ptr() as usize).is_multiple_of(DIRECT_IO_ALIGN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_aligned_whatever_the_allocator_returns() {
        for len in [0, 1, 4096, 5000, 1 << 20] {
            let mut buf = AlignedBuf::zeroed(len);
            assert_eq!(buf.as_mut_slice().len(), len);
            assert!((buf.as_slice().as_ptr() as usize).is_multiple_of(DIRECT_IO_ALIGN), "len {len}");
        }
    }

    #[test]
    fn direct_io_needs_offset_length_and_address_aligned() {
        let buf = AlignedBuf::zeroed(3 * DIRECT_IO_ALIGN);
        let data = buf.as_slice();
        assert!(is_direct_io_aligned(8192, &data[..4096]));
        assert!(is_direct_io_aligned(0, &data[..0]));
        assert!(!is_direct_io_aligned(512, &data[..4096]), "offset");
        assert!(!is_direct_io_aligned(0, &data[..4000]), "length");
        assert!(!is_direct_io_aligned(0, &data[1..4097]), "address");
    }
}
