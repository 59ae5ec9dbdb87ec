//! The stable formats: canonical manifest encoding, key files, synthetic images, sizes.

use images::{KeyError, PublicKey, SecretKey, SignManifest};
use rackhand_api::Manifest;

fn manifest() -> Manifest {
    Manifest {
        name: "debian-12".into(),
        version: "2025.1".into(),
        size: 67108864,
        chunk_size: 16384,
        blake3: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262".into(),
        image_url: "image".into(),
        outboard_url: "outboard".into(),
        key_id: "0123456789abcdef".into(),
        signature: String::new(),
    }
}

#[test]
fn canonical_encoding_is_stable() {
    let golden = "rackhand-image-manifest-v1\n\
                  name=debian-12\n\
                  version=2025.1\n\
                  size=67108864\n\
                  chunk_size=16384\n\
                  blake3=af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262\n\
                  image_url=image\n\
                  outboard_url=outboard\n\
                  key_id=0123456789abcdef\n";
    assert_eq!(String::from_utf8(manifest().signed_bytes()).unwrap(), golden);
}

#[test]
fn signature_is_deterministic_and_ignores_json_field_order() {
    let key = SecretKey::from_seed(&[1; 32]);
    let mut signed = manifest();
    signed.sign(&key).unwrap();
    let mut again = manifest();
    again.sign(&key).unwrap();
    assert_eq!(signed.signature, again.signature);
    // The same manifest with its JSON fields in another order still verifies.
    let json = serde_json::to_value(&signed).unwrap();
    let reordered: serde_json::Map<String, serde_json::Value> =
        json.as_object().unwrap().iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
    let parsed: Manifest = serde_json::from_str(&serde_json::to_string(&reordered).unwrap()).unwrap();
    parsed.verify(&[key.public()]).unwrap();
}

#[test]
fn manifest_with_a_newline_in_a_field_cannot_be_signed() {
    let mut bad = manifest();
    bad.version = "1\nsize=1".into();
    let err = bad.sign(&SecretKey::from_seed(&[1; 32])).unwrap_err();
    assert_eq!(err.field, "version");
}

#[test]
fn manifest_json_refuses_unknown_fields() {
    let mut json = serde_json::to_value(manifest()).unwrap();
    json["extra"] = "x".into();
    assert!(serde_json::from_value::<Manifest>(json).is_err());
}

#[test]
fn key_files_round_trip_and_a_wrong_id_is_refused() {
    let secret = SecretKey::from_seed(&[2; 32]);
    let public = PublicKey::parse(&secret.public().to_text(), "site.pub").unwrap();
    assert_eq!(public, secret.public());
    assert_eq!(public.id().len(), 16);
    assert_eq!(SecretKey::parse(&secret.to_text(), "site.key").unwrap().id(), secret.id());
    let other = SecretKey::from_seed(&[3; 32]).public();
    let forged = public.to_text().replace(public.id(), other.id());
    let err = PublicKey::parse(&forged, "site.pub").unwrap_err();
    assert!(matches!(err, KeyError::IdMismatch { .. }), "{err}");
    assert!(!format!("{secret:?}").contains(&secret.to_text()[30..]), "Debug must not show the secret");
}

#[test]
fn keys_dir_loads_every_pub_file_and_an_empty_dir_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(images::load_public_keys_dir(dir.path()), Err(KeyError::NoKeys { .. })));
    images::write_key_pair(dir.path(), "a", &SecretKey::from_seed(&[4; 32])).unwrap();
    images::write_key_pair(dir.path(), "b", &SecretKey::from_seed(&[5; 32])).unwrap();
    let keys = images::load_public_keys_dir(dir.path()).unwrap();
    assert_eq!(keys, vec![SecretKey::from_seed(&[4; 32]).public(), SecretKey::from_seed(&[5; 32]).public()]);
    let again = images::write_key_pair(dir.path(), "a", &SecretKey::from_seed(&[6; 32]));
    assert!(matches!(again, Err(KeyError::Io { .. })), "an existing key is never overwritten");
}

#[test]
fn synthetic_image_is_deterministic_with_a_bootable_mbr() {
    let mut first = Vec::new();
    images::synth_image(&mut first, 2 << 20, 42).unwrap();
    let mut second = Vec::new();
    images::synth_image(&mut second, 2 << 20, 42).unwrap();
    let mut other_seed = Vec::new();
    images::synth_image(&mut other_seed, 2 << 20, 43).unwrap();
    assert_eq!(first, second);
    assert_ne!(first, other_seed);
    assert!(images::has_bootable_mbr(&first[..512]));
    let sectors = u32::from_le_bytes(first[446 + 12..446 + 16].try_into().unwrap());
    assert_eq!((u32::from_le_bytes(first[446 + 8..446 + 12].try_into().unwrap()), sectors), (2048, 2048));
    assert!(images::synth_image(&mut Vec::new(), (1 << 20) + 1, 0).is_err());
}

#[test]
fn sizes_parse_with_binary_units() {
    assert_eq!(images::parse_size("64MiB"), Ok(64 << 20));
    assert_eq!(images::parse_size("16KiB"), Ok(16 << 10));
    assert_eq!(images::parse_size("4096"), Ok(4096));
    assert_eq!(images::parse_size("1G"), Ok(1 << 30));
    assert!(images::parse_size("12 parsecs").is_err());
}

#[test]
fn outboard_of_images_up_to_one_chunk_is_empty_and_checks_the_root() {
    for size in [0usize, 1000, 16384] {
        let data = vec![0xA5u8; size];
        let outboard = images::create_outboard(&data[..], size as u64, 16384).unwrap();
        assert!(outboard.bytes.is_empty());
        assert_eq!(outboard.root, blake3::hash(&data));
        let chunks = images::expected_chunks(&[], size as u64, 16384, &outboard.root.to_hex()).unwrap();
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].matches(&data));
        assert!(!chunks[0].matches(&vec![0x5A; size]) || size == 0);
    }
}
