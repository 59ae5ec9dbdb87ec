//! The initramfs as a list of entries, written as a gzip-compressed newc cpio archive (what the
//! kernel unpacks into its rootfs). Entries are sorted and every parent directory is added, so the
//! archive is deterministic and complete.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Dir,
    /// A file copied from the build machine.
    Copy(PathBuf),
    Bytes(Vec<u8>),
    Symlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub mode: u32,
    pub content: Content,
}

/// Paths inside the archive (relative, no leading `/`) → entries.
#[derive(Debug, Default, Clone)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').to_owned();
        let mut parent = Path::new(&path).parent();
        while let Some(dir) = parent.filter(|p| !p.as_os_str().is_empty()) {
            let dir_str = dir.to_string_lossy().into_owned();
            self.entries.entry(dir_str).or_insert(Entry { mode: 0o755, content: Content::Dir });
            parent = dir.parent();
        }
        self.entries.insert(path, entry);
    }

    pub fn dir(&mut self, path: &str) {
        self.insert(path, Entry { mode: 0o755, content: Content::Dir });
    }

    pub fn copy(&mut self, path: &str, from: &Path, mode: u32) {
        self.insert(path, Entry { mode, content: Content::Copy(from.to_owned()) });
    }

    pub fn bytes(&mut self, path: &str, bytes: impl Into<Vec<u8>>, mode: u32) {
        self.insert(path, Entry { mode, content: Content::Bytes(bytes.into()) });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.insert(path, Entry { mode: 0o777, content: Content::Symlink(target.to_owned()) });
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path.trim_start_matches('/'))
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path.trim_start_matches('/'))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Write the archive as gzip'd newc cpio.
    pub fn write_gz(&self, out: impl Write) -> io::Result<()> {
        let mut gz = GzEncoder::new(out, Compression::default());
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let (kind, data): (u32, Vec<u8>) = match &entry.content {
                Content::Dir => (0o040000, Vec::new()),
                Content::Copy(from) => (
                    0o100000,
                    std::fs::read(from).map_err(|e| {
                        io::Error::new(e.kind(), format!("reading {} for /{path}: {e}", from.display()))
                    })?,
                ),
                Content::Bytes(bytes) => (0o100000, bytes.clone()),
                Content::Symlink(target) => (0o120000, target.as_bytes().to_vec()),
            };
            let nlink = if kind == 0o040000 { 2 } else { 1 };
            // newc cpio headers have 32 bits for the inode number too.
            let ino = u32::try_from(ino + 1)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "more than 2^32 archive entries"))?;
            let builder = cpio::newc::Builder::new(path).ino(ino).mode(kind | (entry.mode & 0o7777)).nlink(nlink);
            let mut writer = builder.write(&mut gz, newc_file_size(path, data.len())?);
            writer.write_all(&data)?;
            writer.finish()?;
        }
        cpio::newc::trailer(&mut gz)?;
        gz.finish()?.flush()
    }
}

/// A file's size for its newc cpio header, which has 32 bits for it: a larger file is refused, not cut short.
fn newc_file_size(path: &str, len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| {
        let reason = format!("/{path} is {len} bytes, more than a newc cpio entry holds (4 GiB)");
        io::Error::new(io::ErrorKind::InvalidInput, reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn parents_are_added_and_the_archive_reads_back() {
        let mut archive = Archive::new();
        archive.bytes("/etc/rackhand/modules", "e1000e\n", 0o644);
        archive.symlink("bin/sh", "busybox");
        assert!(archive.contains("etc") && archive.contains("etc/rackhand"));
        assert_eq!(archive.get("etc/rackhand").unwrap().content, Content::Dir);

        let mut gz = Vec::new();
        archive.write_gz(&mut gz).unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut raw).unwrap();

        let mut names = Vec::new();
        let mut rest = &raw[..];
        loop {
            let mut reader = cpio::NewcReader::new(rest).unwrap();
            if reader.entry().is_trailer() {
                break;
            }
            let name = reader.entry().name().to_owned();
            let mode = reader.entry().mode();
            let mut data = Vec::new();
            reader.read_to_end(&mut data).unwrap();
            names.push((name, mode, data));
            rest = reader.finish().unwrap();
        }
        let find = |n: &str| names.iter().find(|(name, ..)| name == n).unwrap();
        assert_eq!(find("etc/rackhand/modules").2, b"e1000e\n");
        assert_eq!(find("etc/rackhand/modules").1, 0o100644);
        assert_eq!(find("bin/sh").1, 0o120777);
        assert_eq!(find("bin/sh").2, b"busybox");
        assert_eq!(find("etc").1, 0o040755);
    }

    #[test]
    fn a_file_too_large_for_a_newc_header_is_refused_not_cut_short() {
        assert_eq!(newc_file_size("lib/modules/e1000e.ko", 4096).unwrap(), 4096);
        let len = usize::try_from(u64::from(u32::MAX) + 1).unwrap();
        let err = newc_file_size("huge.img", len).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(err.to_string(), "/huge.img is 4294967296 bytes, more than a newc cpio entry holds (4 GiB)");
    }
}
