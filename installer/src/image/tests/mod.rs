//! Verified streaming against a real HTTP server on loopback that can misbehave (see `server.rs`).

mod local;
mod order;
mod server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use images::{PublicKey, PublishRequest, SecretKey};
use rackhand_api::{ImageResult, Manifest};
use server::{Faults, SeenRequest, TestServer};

use super::{ImageError, RetryPolicy, install_from_server_with, load_trusted_keys, resolve_url};

const NAME: &str = "debian-12";
const CHUNK: u64 = 16 << 10;
const MIB: u64 = 1 << 20;
/// Several blocks (the last one short) and a short last chunk.
const SIZE: u64 = 9 * MIB + 1536;
const MARKER: &[u8] = b"UNTOUCHED-MARKER";

struct Lab {
    dir: tempfile::TempDir,
    key: SecretKey,
    image: Vec<u8>,
    manifest: Manifest,
    files: HashMap<String, Vec<u8>>,
    target: PathBuf,
}

/// A synthetic image published as `debian-12` (16 KiB chunks), and a target pre-filled with a marker.
fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed(&[11; 32]);
    let (manifest, files) = publish(&dir, &key, NAME);
    let image = files[&format!("/images/{NAME}/image")].clone();
    let target = dir.path().join("target.disk");
    std::fs::write(&target, marker(to_usize(SIZE + 64 * 1024))).unwrap();
    Lab { dir, key, image, manifest, files, target }
}

fn publish(dir: &tempfile::TempDir, key: &SecretKey, name: &str) -> (Manifest, HashMap<String, Vec<u8>>) {
    let source = dir.path().join(format!("{name}.img"));
    images::synth_image(&mut std::fs::File::create(&source).unwrap(), SIZE - 1536, 5).unwrap();
    let mut bytes = std::fs::read(&source).unwrap();
    bytes.extend_from_slice(&[0x42; 1536]);
    std::fs::write(&source, &bytes).unwrap();
    let images_dir = dir.path().join("images");
    let request =
        PublishRequest { name, version: "2025.1", image: &source, key, images_dir: &images_dir, chunk_size: CHUNK };
    let manifest = images::publish(&request).unwrap();
    let files = ["manifest", "image", "outboard"]
        .into_iter()
        .map(|file| (format!("/images/{name}/{file}"), std::fs::read(images_dir.join(name).join(file)).unwrap()))
        .collect();
    (manifest, files)
}

/// A size or offset in the test image as an index.
fn to_usize(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap()
}

fn marker(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy { attempts: 3, first_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(5) }
}

impl Lab {
    fn serve(&self, faults: Faults) -> TestServer {
        TestServer::start(self.files.clone(), faults)
    }

    fn install(&self, server: &TestServer) -> Result<ImageResult, ImageError> {
        self.install_trusting(server, &[self.key.public()])
    }

    fn install_trusting(&self, server: &TestServer, trusted: &[PublicKey]) -> Result<ImageResult, ImageError> {
        install_from_server_with(&[server.url()], NAME, trusted, &self.target, fast_retry(), |_, _| {})
    }

    fn target(&self) -> Vec<u8> {
        std::fs::read(&self.target).unwrap()
    }

    fn assert_first_mib_untouched(&self) {
        assert!(self.target()[..to_usize(MIB)] == marker(to_usize(MIB))[..], "the target's first MiB was written");
    }

    fn assert_nothing_written(&self) {
        assert!(self.target() == marker(to_usize(SIZE + 64 * 1024)), "the target was written");
    }

    /// Replaces the served manifest.
    fn serve_manifest(&mut self, manifest: &Manifest) {
        self.files.insert(format!("/images/{NAME}/manifest"), serde_json::to_vec(manifest).unwrap());
    }
}

fn image_requests(server: &TestServer) -> Vec<Option<String>> {
    server.seen().into_iter().filter(|r| r.path.ends_with("/image")).map(|r| r.range).collect()
}

#[test]
fn happy_path_writes_exactly_the_image_and_reports_it() {
    let lab = lab();
    let server = lab.serve(Faults::default());
    let mut reports = Vec::new();
    let result =
        install_from_server_with(&[server.url()], NAME, &[lab.key.public()], &lab.target, fast_retry(), |d, t| {
            reports.push((d, t))
        })
        .unwrap();
    let expected = ImageResult {
        name: NAME.into(),
        version: "2025.1".into(),
        blake3: lab.manifest.blake3.clone(),
        device: lab.target.display().to_string(),
    };
    assert_eq!(result, expected);
    let target = lab.target();
    assert_eq!(blake3::hash(&target[..to_usize(SIZE)]).to_hex().as_str(), lab.manifest.blake3);
    assert!(target[..to_usize(SIZE)] == lab.image[..]);
    assert!(target[to_usize(SIZE)..] == marker(target.len())[to_usize(SIZE)..], "bytes past the image were written");
    assert_eq!((reports.first(), reports.last()), (Some(&(0, SIZE)), Some(&(SIZE, SIZE))));
    let paths: Vec<String> = server.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["manifest", "outboard", "image"].map(|f| format!("/images/{NAME}/{f}")));
    assert_eq!(image_requests(&server), [None]);
}

#[test]
fn a_target_that_refuses_writes_stops_the_stream_and_is_the_error_reported() {
    let lab = lab();
    let server = lab.serve(Faults::default());
    let trusted = [lab.key.public()];
    let err =
        install_from_server_with(&[server.url()], NAME, &trusted, Path::new("/dev/full"), fast_retry(), |_, _| {})
            .unwrap_err();
    let ImageError::TargetWrite { offset, source } = &err else { panic!("{err}") };
    assert!(*offset >= MIB, "the held-back first MiB was written first: {err}");
    assert_eq!(source.raw_os_error(), Some(libc::ENOSPC), "{err}");
}

/// Serves the image with one byte flipped at `offset`; the install must name that byte's chunk.
fn assert_corrupt_byte_refused(offset: u64) {
    let lab = lab();
    let server = lab.serve(Faults { flip_byte_at: Some(offset), ..Faults::default() });
    let err = lab.install(&server).unwrap_err();
    let ImageError::CorruptChunk { index, offset: chunk_offset, end, url } = &err else { panic!("{err}") };
    assert_eq!((*index, *chunk_offset), (offset / CHUNK, offset / CHUNK * CHUNK), "{err}");
    assert_eq!(*end, (chunk_offset + CHUNK).min(SIZE));
    assert!(url.ends_with("/images/debian-12/image"), "{err}");
    lab.assert_first_mib_untouched();
}

#[test]
fn corrupt_byte_in_the_first_chunk_is_refused_before_anything_is_written() {
    assert_corrupt_byte_refused(100);
    let lab = lab();
    let server = lab.serve(Faults { flip_byte_at: Some(0), ..Faults::default() });
    assert!(matches!(lab.install(&server), Err(ImageError::CorruptChunk { index: 0, .. })));
    lab.assert_nothing_written();
}

#[test]
fn corrupt_byte_in_a_middle_chunk_is_refused_with_the_first_mib_untouched() {
    assert_corrupt_byte_refused(SIZE / 2 + 7);
}

#[test]
fn corrupt_byte_in_the_short_last_chunk_is_refused_with_the_first_mib_untouched() {
    assert_corrupt_byte_refused(SIZE - 10);
}

#[test]
fn truncated_image_is_refused_before_anything_is_written() {
    let lab = lab();
    let server = lab.serve(Faults { truncate_to: Some(SIZE - 5000), ..Faults::default() });
    let err = lab.install(&server).unwrap_err();
    assert!(matches!(err, ImageError::Truncated { offset, size: SIZE, .. } if offset == SIZE - 5000), "{err}");
    lab.assert_nothing_written();
}

#[test]
fn truncated_stream_without_length_is_refused_with_the_first_mib_untouched() {
    let lab = lab();
    let server = lab.serve(Faults { truncate_to: Some(SIZE - 5000), omit_length: true, ..Faults::default() });
    let err = lab.install(&server).unwrap_err();
    assert!(matches!(err, ImageError::Truncated { offset, .. } if offset == SIZE - 5000), "{err}");
    lab.assert_first_mib_untouched();
}

#[test]
fn tampered_manifest_is_refused_and_nothing_is_written() {
    let mut lab = lab();
    let mut tampered = lab.manifest.clone();
    tampered.version = "2025.2".into();
    lab.serve_manifest(&tampered);
    let server = lab.serve(Faults::default());
    let err = lab.install(&server).unwrap_err();
    assert!(matches!(&err, ImageError::BadSignature { key_id, .. } if *key_id == lab.manifest.key_id), "{err}");
    assert_eq!(server.seen(), [SeenRequest { path: format!("/images/{NAME}/manifest"), range: None }]);
    lab.assert_nothing_written();
}

#[test]
fn manifest_signed_by_an_untrusted_key_is_refused_and_nothing_is_written() {
    let lab = lab();
    let server = lab.serve(Faults::default());
    let err = lab.install_trusting(&server, &[SecretKey::from_seed(&[12; 32]).public()]).unwrap_err();
    assert!(matches!(&err, ImageError::UntrustedKey { key_id, .. } if *key_id == lab.manifest.key_id), "{err}");
    lab.assert_nothing_written();
}

#[test]
fn manifest_for_another_image_is_refused_and_nothing_is_written() {
    let mut lab = lab();
    let (other, _) = publish(&lab.dir, &lab.key, "other-image");
    lab.serve_manifest(&other);
    let server = lab.serve(Faults::default());
    let err = lab.install(&server).unwrap_err();
    let ImageError::WrongImage { expected, found, .. } = &err else { panic!("{err}") };
    assert_eq!((expected.as_str(), found.as_str()), (NAME, "other-image"));
    lab.assert_nothing_written();
}

#[test]
fn corrupt_outboard_is_refused_and_nothing_is_written() {
    let mut lab = lab();
    let outboard = lab.files.get_mut(&format!("/images/{NAME}/outboard")).unwrap();
    outboard[70] ^= 0x01;
    let server = lab.serve(Faults::default());
    let err = lab.install(&server).unwrap_err();
    assert!(matches!(err, ImageError::OutboardInvalid { .. }), "{err}");
    lab.assert_nothing_written();
}

#[test]
fn dropped_connection_resumes_with_a_range_request_at_a_chunk_boundary() {
    let lab = lab();
    let dropped_at = MIB + 5000;
    let server = lab.serve(Faults { drop_after: Some(dropped_at), drops: 1, ..Faults::default() });
    lab.install(&server).unwrap();
    let resume_at = dropped_at / CHUNK * CHUNK;
    assert_eq!(image_requests(&server), [None, Some(format!("bytes={resume_at}-"))]);
    assert!(lab.target()[..to_usize(SIZE)] == lab.image[..]);
}

#[test]
fn connection_that_drops_but_keeps_making_progress_completes() {
    let lab = lab();
    let server = lab.serve(Faults { drop_after: Some(300_000), drops: u32::MAX, ..Faults::default() });
    lab.install(&server).unwrap();
    let ranges = image_requests(&server);
    assert!(ranges.len() > 10, "expected many resumes, got {ranges:?}");
    assert!(lab.target()[..to_usize(SIZE)] == lab.image[..]);
}

#[test]
fn connection_that_keeps_dropping_at_one_place_gives_up_with_the_first_mib_untouched() {
    let lab = lab();
    let server = lab.serve(Faults { drop_at: Some(40_000), drops: u32::MAX, ..Faults::default() });
    let err = lab.install(&server).unwrap_err();
    let ImageError::ConnectionLost { offset, attempts, .. } = err else { panic!("{err}") };
    assert_eq!((offset, attempts), (2 * CHUNK, 3));
    assert_eq!(image_requests(&server).len(), 3);
    lab.assert_first_mib_untouched();
}

#[test]
fn an_instance_that_fails_mid_image_is_left_for_its_peer_at_the_chunk_where_it_stopped() {
    let lab = lab();
    // Instance A fails at the same place every time (alone, the install gives up: the test above).
    let stopping = MIB + 40_000;
    let a = lab.serve(Faults { drop_at: Some(stopping), drops: u32::MAX, ..Faults::default() });
    let b = lab.serve(Faults::default());
    let servers = [a.url(), b.url()];
    install_from_server_with(&servers, NAME, &[lab.key.public()], &lab.target, fast_retry(), |_, _| {}).unwrap();
    assert!(lab.target()[..to_usize(SIZE)] == lab.image[..], "the image, byte for byte");
    assert_eq!(image_requests(&a), [None], "A was asked once");
    let resume_at = stopping / CHUNK * CHUNK;
    assert_eq!(image_requests(&b), [Some(format!("bytes={resume_at}-"))], "B went on from A's last chunk");
    let b_paths: Vec<String> = b.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(b_paths, [format!("/images/{NAME}/image")], "manifest and outboard came from A");
}

#[test]
fn a_stopped_first_instance_is_passed_over_for_the_manifest_and_everything_else() {
    let lab = lab();
    let stopped = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let b = lab.serve(Faults::default());
    let servers = [format!("http://{stopped}"), b.url()];
    install_from_server_with(&servers, NAME, &[lab.key.public()], &lab.target, fast_retry(), |_, _| {}).unwrap();
    assert!(lab.target()[..to_usize(SIZE)] == lab.image[..]);
    let paths: Vec<String> = b.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["manifest", "outboard", "image"].map(|f| format!("/images/{NAME}/{f}")));
}

#[test]
fn trusted_keys_come_from_pub_files_and_none_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load_trusted_keys(dir.path()), Err(ImageError::TrustedKeys(_))));
    images::write_key_pair(dir.path(), "site", &SecretKey::from_seed(&[13; 32])).unwrap();
    assert_eq!(load_trusted_keys(dir.path()).unwrap(), [SecretKey::from_seed(&[13; 32]).public()]);
}

#[test]
fn image_urls_resolve_against_the_manifest_url() {
    let manifest = "http://10.77.0.1:8080/images/debian-12/manifest";
    assert_eq!(resolve_url(manifest, "image"), "http://10.77.0.1:8080/images/debian-12/image");
    assert_eq!(resolve_url(manifest, "/mirror/debian.img"), "http://10.77.0.1:8080/mirror/debian.img");
    assert_eq!(resolve_url(manifest, "http://mirror/x.img"), "http://mirror/x.img");
}
