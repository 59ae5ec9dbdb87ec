//! `images`: keys, publishing and checking signed OS images for the Rackhand boot service.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use images::{PublicKey, PublishRequest, SecretKey};
use rackhand_api::Manifest;

#[derive(Parser)]
#[command(version, about = "Keys, signed manifests, synthetic and Debian images for Rackhand")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make an ed25519 key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "rackhand")]
        id: String,
    },
    /// Publish an image as IMAGES_DIR/NAME/{image,outboard,manifest} with a signed manifest.
    Publish {
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
        #[arg(long)]
        image: PathBuf,
        /// Secret key file from `images keygen`.
        #[arg(long)]
        key: PathBuf,
        /// The boot service's `boot.images_dir`.
        #[arg(long)]
        out: PathBuf,
        /// Bytes per verified chunk group: a power of two from 1KiB to 16MiB.
        #[arg(long, default_value = "64KiB", value_parser = images::parse_size)]
        chunk_size: u64,
    },
    /// Check a manifest's signature and an image's contents against it.
    Verify {
        #[arg(long)]
        manifest: PathBuf,
        #[arg(long)]
        image: PathBuf,
        /// Check chunk by chunk against this outboard, as the installer does (default: whole-file BLAKE3).
        #[arg(long)]
        outboard: Option<PathBuf>,
        /// Trusted public key files (`*.pub`).
        #[arg(long = "pub", required = true, num_args = 1..)]
        public_keys: Vec<PathBuf>,
    },
    /// Write a deterministic synthetic image with a bootable MBR, for the lab and tests.
    Synth {
        #[arg(long, value_parser = images::parse_size)]
        size: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Build a Debian 12 (bookworm) root filesystem as a raw ext4 image (needs root, mmdebstrap, the
    /// host's Debian mirror); skipped when OUT and OUT.recipe match the current recipe.
    Debian {
        #[arg(long)]
        out: PathBuf,
        /// Keep downloaded packages in DIR/debs across builds.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Keygen { out, id } => keygen(out, &id),
        Command::Publish { name, version, image, key, out, chunk_size } => {
            let key = SecretKey::load(&key)?;
            let request = PublishRequest {
                name: &name,
                version: &version,
                image: &image,
                key: &key,
                images_dir: &out,
                chunk_size,
            };
            let manifest = images::publish(&request).with_context(|| format!("publishing image `{name}`"))?;
            println!(
                "published {} {}: {} bytes, blake3 {}, signed by {} in {}",
                manifest.name,
                manifest.version,
                manifest.size,
                manifest.blake3,
                manifest.key_id,
                out.join(&manifest.name).display()
            );
            Ok(())
        }
        Command::Verify { manifest, image, outboard, public_keys } => {
            let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
            let parsed: Manifest =
                serde_json::from_str(&text).with_context(|| format!("parsing manifest {}", manifest.display()))?;
            let trusted = public_keys.iter().map(|path| PublicKey::load(path)).collect::<Result<Vec<_>, _>>()?;
            let key = images::verify_published(&parsed, &trusted, &image, outboard.as_deref())?;
            println!("ok: {} {} signed by {}, contents match", parsed.name, parsed.version, key.id());
            Ok(())
        }
        Command::Synth { size, out, seed } => {
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            images::synth_image(&mut BufWriter::new(file), size, seed)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} ({size} bytes, seed {seed})", out.display());
            Ok(())
        }
        Command::Debian { out, cache } => {
            let recipe = images::Recipe::from_host();
            let started = std::time::Instant::now();
            let built = images::debian::build(&recipe, &out, cache.as_deref())
                .with_context(|| format!("building the Debian image {}", out.display()))?;
            if built.cached {
                println!("{} is current ({} bytes, recipe {})", out.display(), built.size, recipe.fingerprint());
            } else {
                println!(
                    "built {}: {} bytes (tree {} bytes), ext4 UUID {}, recipe {}, in {:.0?}",
                    out.display(),
                    built.size,
                    built.tree_bytes,
                    images::ROOT_FS_UUID,
                    recipe.fingerprint(),
                    started.elapsed()
                );
            }
            Ok(())
        }
    }
}

fn keygen(out: PathBuf, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') {
        bail!("key name `{name}` must be a plain file name");
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let secret = SecretKey::generate()?;
    let (secret_path, public_path) = images::write_key_pair(&out, name, &secret)?;
    println!("key {}: secret {}, public {}", secret.id(), secret_path.display(), public_path.display());
    Ok(())
}
