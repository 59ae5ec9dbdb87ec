//! Installing from a local image directory: the same checks as over HTTP, the image read at any offset
//! by the verifying workers themselves.

use std::path::{Path, PathBuf};

use images::SecretKey;

use super::{CHUNK, Lab, MIB, NAME, SIZE, lab, marker, to_usize};
use crate::image::{FileImageSource, ImageError, ImageSource, install_from_dir};

impl Lab {
    fn images_dir(&self) -> PathBuf {
        self.dir.path().join("images")
    }

    fn local_image(&self) -> PathBuf {
        self.images_dir().join(NAME).join("image")
    }

    fn install_local(&self) -> Result<crate::image::ImageResult, ImageError> {
        install_from_dir(&self.images_dir(), NAME, &[self.key.public()], &self.target, |_, _| {})
    }
}

/// Rewrites the published image with `edit` applied.
fn edit_image(lab: &Lab, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(lab.local_image()).unwrap();
    edit(&mut bytes);
    std::fs::write(lab.local_image(), bytes).unwrap();
}

#[test]
fn install_from_a_local_directory_writes_exactly_the_image() {
    let lab = lab();
    lab.install_local().unwrap();
    // The bytes on the target, hashed here, against the root the manifest was signed with at publish
    // time (the result's own hash is only the manifest's, passed on: not worth comparing).
    let target = lab.target();
    assert_eq!(blake3::hash(&target[..to_usize(SIZE)]).to_hex().as_str(), lab.manifest.blake3);
    assert!(target[..to_usize(SIZE)] == lab.image[..]);
    assert!(target[to_usize(SIZE)..] == marker(target.len())[to_usize(SIZE)..], "bytes past the image were written");
}

#[test]
fn a_corrupt_local_image_is_refused_and_nothing_after_the_bad_block_is_written() {
    let lab = lab();
    edit_image(&lab, |bytes| bytes[to_usize(5 * MIB + 3)] ^= 0x80);
    let err = lab.install_local().unwrap_err();
    let ImageError::CorruptChunk { index, url, .. } = &err else { panic!("{err}") };
    assert_eq!(*index, 5 * MIB / CHUNK, "{err}");
    assert_eq!(Path::new(url), lab.local_image());
    lab.assert_first_mib_untouched();
    // Blocks are written in image order: whatever the other workers verified past the bad one is dropped.
    let target = lab.target();
    assert!(target[to_usize(6 * MIB)..] == marker(target.len())[to_usize(6 * MIB)..], "written past the bad block");
}

#[test]
fn a_local_image_shorter_or_longer_than_its_manifest_is_refused_before_anything_is_written() {
    let lab = lab();
    edit_image(&lab, |bytes| bytes.truncate(to_usize(3 * MIB)));
    let err = lab.install_local().unwrap_err();
    assert!(matches!(err, ImageError::Truncated { offset, size: SIZE, .. } if offset == 3 * MIB), "{err}");
    lab.assert_nothing_written();

    edit_image(&lab, |bytes| *bytes = lab.image.iter().copied().chain([0]).collect());
    let err = lab.install_local().unwrap_err();
    assert!(matches!(err, ImageError::TooLong { size: SIZE, .. }), "{err}");
    lab.assert_nothing_written();
}

#[test]
fn a_local_image_that_shrinks_while_being_read_is_reported_truncated_where_it_now_ends() {
    let lab = lab();
    let source = FileImageSource::open(&lab.images_dir().join(NAME)).unwrap();
    let reader = source.read_at().expect("a local file has random access");
    assert_eq!(reader.size(), SIZE);
    std::fs::File::options().write(true).open(lab.local_image()).unwrap().set_len(2 * MIB).unwrap();
    let mut buf = vec![0; to_usize(MIB / 2)];
    reader.read_exact_at(&mut buf, MIB).unwrap();
    assert!(buf[..] == lab.image[to_usize(MIB)..to_usize(MIB + MIB / 2)]);
    let err = reader.read_exact_at(&mut buf, 2 * MIB - 4096).unwrap_err();
    assert!(matches!(err, ImageError::Truncated { offset, size: SIZE, .. } if offset == 2 * MIB), "{err}");
}

#[test]
fn a_missing_local_image_is_named_in_the_error() {
    let lab = lab();
    std::fs::remove_file(lab.local_image()).unwrap();
    let err = lab.install_local().unwrap_err();
    let ImageError::Read { url, offset: 0, .. } = &err else { panic!("{err}") };
    assert_eq!(Path::new(url), lab.local_image());
    lab.assert_nothing_written();
}

#[test]
fn a_dry_run_to_dev_null_verifies_everything_and_keeps_nothing() {
    let lab = lab();
    let trusted = [lab.key.public()];
    install_from_dir(&lab.images_dir(), NAME, &trusted, Path::new("/dev/null"), |_, _| {}).unwrap();
    edit_image(&lab, |bytes| *bytes.last_mut().unwrap() ^= 0x01);
    let err = install_from_dir(&lab.images_dir(), NAME, &trusted, Path::new("/dev/null"), |_, _| {}).unwrap_err();
    assert!(matches!(err, ImageError::CorruptChunk { end: SIZE, .. }), "{err}");
    // A byte inside the block a dry run hashes where it lies in the page cache (just written), not in its tail.
    edit_image(&lab, |bytes| {
        *bytes.last_mut().unwrap() ^= 0x01;
        bytes[to_usize(3 * MIB + 777)] ^= 0x80;
    });
    let err = install_from_dir(&lab.images_dir(), NAME, &trusted, Path::new("/dev/null"), |_, _| {}).unwrap_err();
    let bad = (3 * MIB + 777) / CHUNK;
    assert!(matches!(err, ImageError::CorruptChunk { index, .. } if index == bad), "{err}");
}

#[test]
fn a_local_manifest_is_checked_like_a_fetched_one() {
    let lab = lab();
    let untrusted = [SecretKey::from_seed(&[12; 32]).public()];
    let err = install_from_dir(&lab.images_dir(), NAME, &untrusted, &lab.target, |_, _| {}).unwrap_err();
    assert!(matches!(err, ImageError::UntrustedKey { .. }), "{err}");
    let err = install_from_dir(&lab.images_dir(), "missing", &[lab.key.public()], &lab.target, |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("images/missing/manifest"), "{err}");
    lab.assert_nothing_written();
}

#[test]
fn a_target_that_refuses_writes_is_the_error_reported_not_the_workers_stopping() {
    let lab = lab();
    let err =
        install_from_dir(&lab.images_dir(), NAME, &[lab.key.public()], Path::new("/dev/full"), |_, _| {}).unwrap_err();
    let ImageError::TargetWrite { offset, source } = &err else { panic!("{err}") };
    assert!(*offset >= MIB, "the held-back first MiB was written first: {err}");
    assert_eq!(source.raw_os_error(), Some(libc::ENOSPC), "{err}");
}
