//! keygen → synth → publish → verify, through the CLI and the library, and each way verification refuses.

use std::path::{Path, PathBuf};
use std::process::Command;

use images::{PublicKey, PublishRequest, SecretKey, SignManifest, SignatureError, VerifyError};
use rackhand_api::Manifest;

const CHUNK: u64 = 16 << 10;

fn images_cli(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_images")).args(args).output().expect("run images");
    assert!(output.status.success(), "images {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

struct Published {
    _dir: tempfile::TempDir,
    manifest: Manifest,
    image: PathBuf,
    outboard: PathBuf,
    trusted: Vec<PublicKey>,
}

/// Publishes a 2 MiB + 1.5 KiB synthetic image (the last chunk is short) with a fresh key.
fn published() -> Published {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.img");
    let size = (2 << 20) + 1536;
    images::synth_image(&mut std::fs::File::create(&source).unwrap(), size, 7).unwrap();
    let key = SecretKey::from_seed(&[7; 32]);
    let images_dir = dir.path().join("images");
    let request = PublishRequest {
        name: "debian-12",
        version: "2025.1",
        image: &source,
        key: &key,
        images_dir: &images_dir,
        chunk_size: CHUNK,
    };
    let manifest = images::publish(&request).unwrap();
    Published {
        manifest,
        image: images_dir.join("debian-12/image"),
        outboard: images_dir.join("debian-12/outboard"),
        trusted: vec![key.public()],
        _dir: dir,
    }
}

#[test]
fn cli_keygen_synth_publish_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let image = dir.path().join("os.img");
    let images_dir = dir.path().join("images");
    images_cli(&["keygen", "--out", path(&keys), "--id", "site"]);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(keys.join("site.key")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "secret key must be private");
    images_cli(&["synth", "--size", "3MiB", "--out", path(&image), "--seed", "3"]);
    images_cli(&[
        "publish",
        "--name",
        "lab",
        "--version",
        "1",
        "--image",
        path(&image),
        "--key",
        path(&keys.join("site.key")),
        "--out",
        path(&images_dir),
        "--chunk-size",
        "64KiB",
    ]);
    let published = images_dir.join("lab");
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(published.join("manifest")).unwrap()).unwrap();
    assert_eq!((manifest.size, manifest.chunk_size), (3 << 20, 64 << 10));
    assert_eq!(manifest.key_id, PublicKey::load(&keys.join("site.pub")).unwrap().id());
    assert_eq!(std::fs::read(published.join("image")).unwrap(), std::fs::read(&image).unwrap());
    let verified = images_cli(&[
        "verify",
        "--manifest",
        path(&published.join("manifest")),
        "--image",
        path(&published.join("image")),
        "--outboard",
        path(&published.join("outboard")),
        "--pub",
        path(&keys.join("site.pub")),
    ]);
    assert!(String::from_utf8_lossy(&verified.stdout).starts_with("ok: lab 1 signed by"));
}

#[test]
fn published_image_verifies_with_and_without_outboard() {
    let p = published();
    assert_eq!(p.manifest.blake3, blake3::hash(&std::fs::read(&p.image).unwrap()).to_hex().to_string());
    let key = images::verify_published(&p.manifest, &p.trusted, &p.image, Some(&p.outboard)).unwrap();
    assert_eq!(key.id(), p.manifest.key_id);
    images::verify_published(&p.manifest, &p.trusted, &p.image, None).unwrap();
}

#[test]
fn tampered_manifest_field_fails_the_signature() {
    let p = published();
    let mut tampered = p.manifest.clone();
    tampered.version = "2025.2".into();
    let err = images::verify_published(&tampered, &p.trusted, &p.image, None).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(SignatureError::BadSignature { .. })), "{err}");
}

#[test]
fn manifest_signed_by_an_untrusted_key_is_refused() {
    let p = published();
    let other = vec![SecretKey::from_seed(&[8; 32]).public()];
    let err = images::verify_published(&p.manifest, &other, &p.image, None).unwrap_err();
    let VerifyError::Signature(SignatureError::UntrustedKey { key_id, .. }) = &err else { panic!("{err}") };
    assert_eq!(key_id, &p.manifest.key_id);
}

#[test]
fn signature_by_another_key_under_the_trusted_id_is_refused() {
    let p = published();
    let mut forged = p.manifest.clone();
    forged.sign(&SecretKey::from_seed(&[9; 32])).unwrap();
    forged.key_id = p.manifest.key_id.clone();
    let err = forged.verify(&p.trusted).unwrap_err();
    assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
}

#[test]
fn bit_flip_in_the_image_names_the_chunk() {
    let p = published();
    let mut bytes = std::fs::read(&p.image).unwrap();
    let offset = usize::try_from(5 * CHUNK).unwrap() + 100;
    bytes[offset] ^= 0x01;
    std::fs::write(&p.image, &bytes).unwrap();
    let err = images::verify_published(&p.manifest, &p.trusted, &p.image, Some(&p.outboard)).unwrap_err();
    let VerifyError::CorruptChunk { index, offset, end, .. } = err else { panic!("{err}") };
    assert_eq!((index, offset, end), (5, 5 * CHUNK, 6 * CHUNK));
    let err = images::verify_published(&p.manifest, &p.trusted, &p.image, None).unwrap_err();
    assert!(matches!(err, VerifyError::Hash { .. }), "{err}");
}

#[test]
fn tampered_outboard_is_refused() {
    let p = published();
    let mut pairs = std::fs::read(&p.outboard).unwrap();
    let last = pairs.len() - 1;
    pairs[last] ^= 0x80;
    std::fs::write(&p.outboard, &pairs).unwrap();
    let err = images::verify_published(&p.manifest, &p.trusted, &p.image, Some(&p.outboard)).unwrap_err();
    assert!(matches!(err, VerifyError::Outboard { source: images::OutboardError::Mismatch { .. }, .. }), "{err}");
}

#[test]
fn image_of_the_wrong_size_is_refused() {
    let p = published();
    let bytes = std::fs::read(&p.image).unwrap();
    std::fs::write(&p.image, &bytes[..bytes.len() - 512]).unwrap();
    let err = images::verify_published(&p.manifest, &p.trusted, &p.image, Some(&p.outboard)).unwrap_err();
    assert!(matches!(err, VerifyError::Size { actual, expected, .. } if actual + 512 == expected), "{err}");
}
