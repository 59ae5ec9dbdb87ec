//! `installer image`: the verified write for a person at a rescue shell, from a local image directory
//! (what a USB stick holds) to a file, to `/dev/null` as a check, and a corrupt image refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use images::{PublishRequest, SecretKey};

const NAME: &str = "rescue";
const SIZE: u64 = 3 << 20;

struct Published {
    dir: tempfile::TempDir,
    blake3: String,
}

impl Published {
    fn images(&self) -> PathBuf {
        self.dir.path().join("images")
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    fn image_file(&self) -> PathBuf {
        self.images().join(NAME).join("image")
    }
}

/// A 3 MiB synthetic image published with its signing key's `.pub` in a keys directory.
fn publish() -> Published {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed(&[21; 32]);
    let source = dir.path().join("source.img");
    images::synth_image(&mut std::fs::File::create(&source).unwrap(), SIZE, 3).unwrap();
    let images_dir = dir.path().join("images");
    let request = PublishRequest {
        name: NAME,
        version: "7",
        image: &source,
        key: &key,
        images_dir: &images_dir,
        chunk_size: images::DEFAULT_CHUNK_SIZE,
    };
    let manifest = images::publish(&request).unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/lab.pub"), key.public().to_text()).unwrap();
    Published { dir, blake3: manifest.blake3 }
}

fn image(published: &Published, device: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_installer"))
        .args(["image", NAME, "--dir"])
        .arg(published.images())
        .arg("--keys")
        .arg(published.keys())
        .arg("--device")
        .arg(device)
        .output()
        .unwrap()
}

#[test]
fn a_local_image_is_written_verified_and_reported() {
    let published = publish();
    let target = published.dir.path().join("disk.img");
    std::fs::write(&target, b"").unwrap();
    let out = image(&published, &target);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(said.trim(), format!("{NAME} 7 blake3 {} -> {}", published.blake3, target.display()));
    let written = std::fs::read(&target).unwrap();
    assert_eq!(blake3::hash(&written).to_hex().as_str(), published.blake3, "the file hashes to the signed root");
    assert!(written == std::fs::read(published.image_file()).unwrap());
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("image rescue: 0% of 3.0 MiB") && progress.contains("100% of 3.0 MiB"), "{progress}");

    let check = image(&published, Path::new("/dev/null"));
    assert!(check.status.success(), "a dry run: {}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn a_corrupt_image_is_refused_with_exit_2_and_the_first_mib_untouched() {
    let published = publish();
    let mut bytes = std::fs::read(published.image_file()).unwrap();
    bytes[(2 << 20) + 5] ^= 0x10;
    std::fs::write(published.image_file(), bytes).unwrap();
    let target = published.dir.path().join("disk.img");
    std::fs::write(&target, vec![0xee; usize::try_from(SIZE).unwrap()]).unwrap();
    let out = image(&published, &target);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("writing image {NAME} to {}", target.display())), "{said}");
    assert!(said.contains("does not match the outboard (corrupt)"), "{said}");
    assert!(std::fs::read(&target).unwrap()[..1 << 20].iter().all(|&b| b == 0xee), "the first MiB was written");
}
