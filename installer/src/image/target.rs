//! The disk (or file) an image is written to. Whole aligned blocks go through a second descriptor opened
//! with `O_DIRECT`: they bypass the page cache, so the disk is written while the image streams instead of
//! in one long flush at the end, and a multi-GiB image does not push everything else out of a small
//! initramfs's memory. What cannot be direct (an unaligned tail, a filesystem without `O_DIRECT` such as
//! tmpfs) goes through the ordinary descriptor. Both are positioned writes, so they never share an offset.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::buffer::{DIRECT_IO_ALIGN, is_direct_io_aligned};
use super::error::ImageError;

pub(super) struct DiskTarget {
    name: String,
    buffered: File,
    direct: Option<File>,
    /// Cleared when the filesystem turns out to refuse direct writes after all.
    direct_works: AtomicBool,
    /// `/dev/null`: a dry run, which verifies everything and writes nothing (see [`Self::discards`]).
    discards: bool,
}

impl DiskTarget {
    /// Opens `device` for writing; refuses a block device smaller than `size` bytes before writing anything.
    pub(super) fn open(device: &Path, size: u64) -> Result<Self, ImageError> {
        let name = device.display().to_string();
        let open_error = |source| ImageError::TargetOpen { device: name.clone(), source };
        let mut buffered = OpenOptions::new().write(true).open(device).map_err(open_error)?;
        let metadata = buffered.metadata().map_err(open_error)?;
        if metadata.file_type().is_block_device() {
            let capacity = buffered.seek(SeekFrom::End(0)).map_err(open_error)?;
            if capacity < size {
                return Err(ImageError::TargetTooSmall { device: name, capacity, size });
            }
        } else if metadata.is_file() && metadata.len() < size {
            // A file (a VM's disk image, a benchmark) gets its space first: a full filesystem is refused
            // before anything is written, and direct writes inside a file are not serialised as extending
            // ones are. Filesystems without fallocate just grow the file.
            match nix::fcntl::fallocate(&buffered, nix::fcntl::FallocateFlags::empty(), 0, size as i64) {
                Ok(()) => {}
                Err(nix::errno::Errno::EOPNOTSUPP) => buffered.set_len(size).map_err(open_error)?,
                Err(errno) => return Err(open_error(errno.into())),
            }
        }
        // EINVAL here means the filesystem has no direct I/O: everything goes through the page cache then.
        let direct = OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(device).ok();
        let discards = metadata.file_type().is_char_device() && metadata.rdev() == nix::sys::stat::makedev(1, 3);
        Ok(Self { name, buffered, direct, direct_works: AtomicBool::new(true), discards })
    }

    /// Whether this is `/dev/null` (character device 1:3, whatever its path): it keeps nothing, so nothing
    /// is written to it, and the verifying workers may hash bytes where they lie instead of copying them
    /// into the blocks that would be written.
    pub(super) fn discards(&self) -> bool {
        self.discards
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Writes `data` at `offset`: its aligned front directly when possible, the rest through the page cache.
    /// Writers on several threads may share one target: every write is positioned.
    pub(super) fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if self.discards {
            return Ok(());
        }
        let direct_len = data.len() / DIRECT_IO_ALIGN * DIRECT_IO_ALIGN;
        let front = &data[..direct_len];
        if let Some(direct) = &self.direct
            && direct_len > 0
            && is_direct_io_aligned(offset, front)
            && self.direct_works.load(Ordering::Relaxed)
        {
            match direct.write_all_at(front, offset) {
                Ok(()) => return self.buffered.write_all_at(&data[direct_len..], offset + direct_len as u64),
                // A filesystem that opens O_DIRECT but wants another alignment: the page cache from now on.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct_works.store(false, Ordering::Relaxed),
                Err(e) => return Err(e),
            }
        }
        self.buffered.write_all_at(data, offset)
    }

    /// Flushes everything written (both descriptors name the same file) to the disk. A character device
    /// such as `/dev/null` (a dry run: verify everything, keep nothing) has nothing to flush.
    pub(super) fn sync(&self) -> Result<(), ImageError> {
        match self.buffered.sync_all() {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && self.is_char_device() => Ok(()),
            other => other.map_err(|source| ImageError::TargetSync { device: self.name.clone(), source }),
        }
    }

    fn is_char_device(&self) -> bool {
        self.buffered.metadata().is_ok_and(|m| m.file_type().is_char_device())
    }

    #[cfg(test)]
    pub(super) fn is_direct(&self) -> bool {
        self.direct.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::super::buffer::AlignedBuf;
    use super::*;

    fn pattern(len: usize, seed: u8) -> AlignedBuf {
        let mut buf = AlignedBuf::zeroed(len);
        for (i, b) in buf.as_mut_slice().iter_mut().enumerate() {
            *b = u8::try_from(i % 256).unwrap().wrapping_mul(31).wrapping_add(seed);
        }
        buf
    }

    #[test]
    fn aligned_unaligned_and_tail_writes_all_land_where_asked() {
        // Direct I/O where the temp directory's filesystem offers it; on tmpfs the page-cache path is tested.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::write(&path, vec![0xEE; 64 << 10]).unwrap();
        let target = DiskTarget::open(&path, 1).unwrap();
        let whole = pattern(16 << 10, 1);
        target.write_at(8192, whole.as_slice()).unwrap();
        let with_tail = pattern(8192 + 100, 2);
        target.write_at(32768, with_tail.as_slice()).unwrap();
        let odd = pattern(700, 3);
        target.write_at(513, odd.as_slice()).unwrap();
        target.sync().unwrap();

        let disk = std::fs::read(&path).unwrap();
        assert!(disk[8192..8192 + (16 << 10)] == *whole.as_slice());
        assert!(disk[32768..32768 + 8292] == *with_tail.as_slice());
        assert!(disk[513..1213] == *odd.as_slice());
        assert!(disk[..513].iter().chain(&disk[1213..8192]).all(|&b| b == 0xEE), "bytes nobody wrote changed");
        assert!(disk[32768 + 8292..].iter().all(|&b| b == 0xEE), "bytes past the tail changed");
        assert_eq!(disk.len(), 64 << 10);
        eprintln!("direct I/O in use: {}", target.is_direct());
    }

    #[test]
    fn a_file_target_is_grown_to_the_image_but_never_shrunk() {
        let dir = tempfile::tempdir().unwrap();
        let (small, large) = (dir.path().join("small"), dir.path().join("large"));
        std::fs::write(&small, b"").unwrap();
        std::fs::write(&large, vec![1u8; 8192]).unwrap();
        DiskTarget::open(&small, 5000).unwrap();
        DiskTarget::open(&large, 5000).unwrap();
        assert_eq!(std::fs::metadata(&small).unwrap().len(), 5000);
        assert_eq!(std::fs::read(&large).unwrap(), vec![1u8; 8192]);
    }

    #[test]
    fn only_dev_null_discards_what_it_is_given() {
        let null = DiskTarget::open(Path::new("/dev/null"), 1 << 40).unwrap();
        assert!(null.discards());
        null.write_at(0, &[1; 4096]).unwrap();
        null.sync().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::write(&path, [0u8; 8192]).unwrap();
        assert!(!DiskTarget::open(&path, 1).unwrap().discards(), "a file keeps what it is given");
    }

    #[test]
    fn a_missing_target_is_named() {
        let err = DiskTarget::open(Path::new("/nonexistent/rackhand-disk"), 1).err().unwrap();
        assert!(err.to_string().starts_with("target /nonexistent/rackhand-disk: "), "{err}");
    }
}
