//! Reading a local image around the page cache. Each read first asks the page cache for its first page
//! only (`preadv2` with `RWF_NOWAIT` on a descriptor without readahead): if the cache has it, the image is
//! warm (as in the benchmark) and the read goes through the cache as before; if not, the kernel fetches
//! that one page (a miss with `RWF_NOWAIT` still starts the I/O for what was asked: measured, 1 MiB with
//! readahead, one page without) and the rest is read with `O_DIRECT` into the caller's aligned buffer. So a
//! multi-GiB image on a USB stick or a cache partition is not copied twice nor pushes the small
//! initramfs's memory out: one page per read (1/64 of it in 256 KiB reads) stays cached. A filesystem
//! without direct I/O, an unaligned piece (the image's last bytes) and a read the kernel refuses with
//! `EINVAL` go through the page cache as before.
//!
//! A dry run (verify only, `--device /dev/null`) need not copy at all: [`CacheSparingFile::cached_slice`]
//! gives the cached bytes where they lie, in a read-only mapping of the file, to be hashed in place as
//! b3sum hashes a file (a copy out of the page cache was a third of a warm dry run's CPU on AVX-512).

use std::fs::{File, OpenOptions};
use std::io::{self, IoSliceMut};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::{Advice, Mmap};
use rustix::io::{Errno, ReadWriteFlags, preadv2};

use super::buffer::DIRECT_IO_ALIGN;

pub(super) struct CacheSparingFile {
    buffered: File,
    /// The same file, readahead off (`POSIX_FADV_RANDOM`), to ask the cache for one page.
    probe: File,
    /// The same file opened with `O_DIRECT`; `None` where the filesystem refuses it.
    direct: Option<File>,
    /// Cleared when a direct read is refused after all (another alignment wanted).
    direct_works: AtomicBool,
    /// Cleared when the filesystem cannot say what it has cached (`RWF_NOWAIT` unsupported).
    nowait_works: AtomicBool,
    /// The whole file mapped read-only, made at the first [`Self::cached_slice`] (a dry run's; an install
    /// never maps the file); `None` for an empty file, or where the kernel refused the mapping.
    map: OnceLock<Option<Mmap>>,
}

/// Where the next bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From the page cache only, if it holds them.
    Cached,
    /// Around the page cache, this many bytes (a multiple of the alignment).
    Direct(usize),
    /// Through the page cache.
    Buffered,
}

/// How to read `len` bytes into memory at `address` from file offset `offset`, when the page cache does not
/// hold them: direct for the aligned front, when there is one and direct reads work; else buffered.
fn uncached_way(address: usize, offset: u64, len: usize, direct: bool) -> Way {
    let front = len / DIRECT_IO_ALIGN * DIRECT_IO_ALIGN;
    let aligned = address.is_multiple_of(DIRECT_IO_ALIGN) && offset.is_multiple_of(DIRECT_IO_ALIGN as u64);
    if direct && aligned && front > 0 { Way::Direct(front) } else { Way::Buffered }
}

impl CacheSparingFile {
    pub(super) fn open(path: &Path) -> io::Result<Self> {
        let direct = OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path).ok();
        Self::with_direct(path, direct)
    }

    /// [`Self::open`] with the direct descriptor given (`None`: the filesystem refused `O_DIRECT`).
    fn with_direct(path: &Path, direct: Option<File>) -> io::Result<Self> {
        let (buffered, probe) = (File::open(path)?, File::open(path)?);
        // Without it a missed probe reads ahead a whole window into the cache.
        nix::fcntl::posix_fadvise(&probe, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_RANDOM)?;
        let (direct_works, nowait_works) = (AtomicBool::new(true), AtomicBool::new(true));
        Ok(Self { buffered, probe, direct, direct_works, nowait_works, map: OnceLock::new() })
    }

    /// The file's bytes `offset..offset + len` in place, when the page cache holds the first of them (the
    /// probe of [`Self::read_exact_at`]) and every page of the range could be mapped in; `None` otherwise:
    /// read them then (a cold file stays around the cache, and a read reports what went wrong).
    pub(super) fn cached_slice(&self, offset: u64, len: usize) -> Option<&[u8]> {
        // SAFETY: the mapping is only read, here, and only by a dry run (`verify.rs`: its target keeps
        // nothing, `DiskTarget::discards`); nothing is ever written from it. A process writing the file
        // meanwhile can change bytes after they were hashed, as it can under b3sum (which maps files the
        // same way), and the verdict then speaks of bytes no longer there. A file cut short under the mapping
        // is caught by the populate step below, except in the moment between that step and the hash, where
        // it would end the dry run with SIGBUS.
        #[allow(unsafe_code)]
        let map = self.map.get_or_init(|| unsafe { Mmap::map(&self.buffered) }.ok()).as_ref()?;
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len).filter(|&end| end <= map.len())?;
        let first = len.min(DIRECT_IO_ALIGN);
        let mut page = [0u8; DIRECT_IO_ALIGN];
        if len == 0
            || !self.nowait_works.load(Ordering::Relaxed)
            || self.read_cached(&mut page[..first], offset).ok()? < first
        {
            return None;
        }
        // Every page mapped now, or an error here (an I/O error, a file cut short) instead of SIGBUS later.
        map.advise_range(Advice::PopulateRead, start, len).ok()?;
        Some(&map[start..end])
    }

    pub(super) fn buffered(&self) -> &File {
        &self.buffered
    }

    /// Fills `buf` with the file's bytes from `offset`; [`io::ErrorKind::UnexpectedEof`] if it ends first.
    pub(super) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        let mut way = Way::Cached;
        while done < buf.len() {
            let (rest, at) = (&mut buf[done..], offset + done as u64);
            let read = match way {
                Way::Cached if self.nowait_works.load(Ordering::Relaxed) => {
                    let page = rest.len().min(DIRECT_IO_ALIGN);
                    // The first page cached: the rest most likely too, read through the cache.
                    let read = self.read_cached(&mut rest[..page], at);
                    if read.is_ok() {
                        way = Way::Buffered;
                    }
                    read
                }
                Way::Cached => Err(Errno::AGAIN.into()),
                Way::Direct(len) => self.read_direct(&mut rest[..len], at),
                Way::Buffered => self.buffered.read_at(rest, at),
            };
            match read {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    done += n;
                    if way != Way::Buffered {
                        way = Way::Cached;
                    }
                }
                // Not in the page cache (or no way to tell): around it where possible.
                Err(e) if way == Way::Cached && e.raw_os_error() == Some(Errno::AGAIN.raw_os_error()) => {
                    let direct = self.direct.is_some() && self.direct_works.load(Ordering::Relaxed);
                    way = uncached_way(rest.as_ptr() as usize, at, rest.len(), direct);
                }
                Err(e) if matches!(way, Way::Direct(_)) && e.raw_os_error() == Some(libc::EINVAL) => {
                    self.direct_works.store(false, Ordering::Relaxed);
                    way = Way::Buffered;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// What the page cache holds of `buf`'s bytes from `offset` on, from the front; `EAGAIN` if not the first.
    fn read_cached(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match preadv2(&self.probe, &mut [IoSliceMut::new(buf)], offset, ReadWriteFlags::NOWAIT) {
            Err(Errno::OPNOTSUPP) => {
                self.nowait_works.store(false, Ordering::Relaxed);
                Err(Errno::AGAIN.into())
            }
            other => other.map_err(io::Error::from),
        }
    }

    fn read_direct(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.direct.as_ref().expect("direct reads only with a direct descriptor").read_at(buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::super::buffer::AlignedBuf;
    use super::*;

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| u8::try_from((i * 131 + i / 4096) % 251).unwrap()).collect()
    }

    /// A file of `len` bytes written to disk and dropped from the page cache, as on media not read yet.
    fn cold_file(dir: &Path, len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let path = dir.join(format!("cold-{len}"));
        let data = content(len);
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        file.sync_all().unwrap();
        nix::fcntl::posix_fadvise(&file, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED).unwrap();
        (path, data)
    }

    /// Bytes of `path` in the page cache, by util-linux's `fincore` (mincore(2), which reads nothing);
    /// `None` without it.
    fn resident(path: &Path) -> Option<u64> {
        let out = Command::new("fincore").args(["--bytes", "--noheadings", "--raw", "-o", "RES"]).arg(path).output();
        String::from_utf8_lossy(&out.ok()?.stdout).trim().parse().ok()
    }

    #[test]
    fn the_way_around_the_cache_needs_alignment_and_working_direct_reads() {
        let a = DIRECT_IO_ALIGN;
        assert_eq!(uncached_way(0, 0, 2 << 20, true), Way::Direct(2 << 20));
        assert_eq!(uncached_way(a, a as u64, a + 100, true), Way::Direct(a), "the aligned front only");
        assert_eq!(uncached_way(0, 0, 100, true), Way::Buffered, "a tail shorter than the alignment");
        assert_eq!(uncached_way(0, 512, 2 * a, true), Way::Buffered, "offset");
        assert_eq!(uncached_way(8, 0, 2 * a, true), Way::Buffered, "address");
        assert_eq!(uncached_way(0, 0, 2 * a, false), Way::Buffered, "no direct I/O here");
    }

    #[test]
    fn a_cold_file_is_read_around_the_page_cache_its_unaligned_tail_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let len = 3 * (256 << 10) + 1000; // whole segments and an unaligned last piece
        let (path, data) = cold_file(dir.path(), len);
        let file = CacheSparingFile::open(&path).unwrap();
        match resident(&path) {
            Some(0) if file.direct.is_some() => {}
            other => {
                let temp = std::env::temp_dir();
                eprintln!(
                    "SKIPPED: {} has no direct I/O, keeps its pages or fincore is missing ({other:?})",
                    temp.display()
                );
                return;
            }
        }
        let mut buf = AlignedBuf::zeroed(len);
        file.read_exact_at(buf.as_mut_slice(), 0).unwrap();
        assert!(buf.as_slice() == data.as_slice(), "the bytes read are the file's");
        // One probed page per read, and the page of the unaligned tail.
        let cached = resident(&path).unwrap();
        assert!(cached <= 3 * DIRECT_IO_ALIGN as u64, "{cached} of {len} bytes went into the page cache");
    }

    #[test]
    fn cached_bytes_come_from_the_cache_and_the_rest_around_it() {
        let dir = tempfile::tempdir().unwrap();
        let len = 1 << 20;
        let (path, data) = cold_file(dir.path(), len);
        // The first half is in the page cache (read once), the second is not.
        File::open(&path).unwrap().read_exact_at(&mut vec![0; len / 2], 0).unwrap();
        let file = CacheSparingFile::open(&path).unwrap();
        let mut buf = AlignedBuf::zeroed(len);
        for (i, piece) in buf.as_mut_slice().chunks_mut(256 << 10).enumerate() {
            file.read_exact_at(piece, (i * (256 << 10)) as u64).unwrap();
        }
        assert!(buf.as_slice() == data.as_slice());
    }

    #[test]
    fn cached_bytes_are_lent_in_place_and_cold_or_missing_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let len = 1 << 20;
        let (path, data) = cold_file(dir.path(), len);
        let file = CacheSparingFile::open(&path).unwrap();
        assert_eq!(file.cached_slice(0, 256 << 10), None, "a cold file is read, around the cache");
        File::open(&path).unwrap().read_exact_at(&mut vec![0; len], 0).unwrap();
        let warm = file.cached_slice(4096, 300_000).expect("cached now");
        assert!(warm == &data[4096..304_096], "the file's bytes, where they lie");
        assert_eq!(file.cached_slice(len as u64 - 10, 11), None, "past the end");
        assert_eq!(file.cached_slice(0, 0), None, "nothing to lend");
    }

    #[test]
    fn without_direct_io_everything_goes_through_the_cache_at_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let len = 100_000;
        let (path, data) = cold_file(dir.path(), len);
        // A filesystem that refused O_DIRECT: the open of the direct descriptor failed.
        let file = CacheSparingFile::with_direct(&path, None).unwrap();
        let mut buf = AlignedBuf::zeroed(len);
        file.read_exact_at(&mut buf.as_mut_slice()[..len - 7], 7).unwrap();
        assert!(buf.as_slice()[..len - 7] == data[7..]);
        if let Some(cached) = resident(&path) {
            assert!(cached >= (len - 4096) as u64, "read through the page cache: {cached} bytes cached");
        }
    }

    #[test]
    fn reading_past_the_end_is_an_unexpected_eof_direct_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = cold_file(dir.path(), 3 * DIRECT_IO_ALIGN);
        for file in [CacheSparingFile::open(&path).unwrap(), CacheSparingFile::with_direct(&path, None).unwrap()] {
            let mut buf = AlignedBuf::zeroed(4 * DIRECT_IO_ALIGN);
            let err = file.read_exact_at(buf.as_mut_slice(), 0).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        }
    }
}
