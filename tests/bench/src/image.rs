//! Image delivery and verified writing, on loopback inside the server namespace, page-cache warm:
//! - HTTP: curl downloading the published image from boot-service and from nginx (sendfile).
//! - Verified write: the installer's library path (signed manifest, outboard, BLAKE3-verified stream,
//!   direct writes, fsync) into a fresh file: from a local image dir against `dd oflag=direct conv=fsync`
//!   of the same file, and over HTTP from boot-service against the best pipeline of standard tools
//!   ([`ranged`]: parallel ranged curl into `dd oflag=direct`, then `b3sum` of the target).
//! - Verification: the same pipeline from a local image directory into `/dev/null` (`install_from_dir`,
//!   a dry run: nothing but verifying, the page cache's bytes hashed where they lie), against `b3sum` of the
//!   same bytes, mapped and streamed.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use images::{PublishRequest, SecretKey};
use rackhand_bench::configs::{NGINX_PORT, nginx_conf};
use rackhand_bench::report::Row;
use rackhand_bench::stats::Better;

use crate::env::{Ctx, Pair, Proc, Proto, fresh_dir, peer, spawn, start_boot_service, timed, wait_listening};

mod ranged;

const NGINX: &str = "/usr/sbin/nginx";
const B3SUM: &str = "/usr/bin/b3sum";
const NAME: &str = "bench";
const MIB: f64 = (1 << 20) as f64;

pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let size: u64 = if ctx.smoke { 8 << 20 } else { 1 << 30 };
    let label = if ctx.smoke { "8 MiB" } else { "1 GiB" };
    let pair = Pair::create()?;
    let dir = fresh_dir(ctx, "image")?;
    let images_dir = dir.join("images");
    let key = SecretKey::from_seed(&[0x5a; 32]);
    let source = dir.join("source.img");
    images::synth_image(&mut BufWriter::new(File::create(&source)?), size, 9).context("writing the test image")?;
    let request = PublishRequest {
        name: NAME,
        version: "1",
        image: &source,
        key: &key,
        images_dir: &images_dir,
        chunk_size: images::DEFAULT_CHUNK_SIZE,
    };
    let manifest = images::publish(&request).context("publishing the test image")?;
    std::fs::remove_file(&source)?;
    let image = images_dir.join(NAME).join("image");
    warm(&image)?;

    let mut proc = start_boot_service(ctx, &pair.server, &dir, &dir.join("assets"), &images_dir)?;
    let ours_url = format!("http://127.0.0.1:80/images/{NAME}/image");
    let _nginx = match peer(NGINX, "nginx") {
        Ok(program) => Some(start_nginx(&pair, &program, &dir, &images_dir)?),
        Err(_) => None,
    };
    let nginx_url = format!("http://127.0.0.1:{NGINX_PORT}/images/{NAME}/image");
    // Each round runs every contender once, so a drifting machine (disk, neighbours) hits all of them alike.
    let (mut ours_http, mut nginx) = (Vec::new(), peer(NGINX, "nginx").map(|_| Vec::new()));
    for _ in 0..ctx.runs {
        ours_http.push(curl(&pair, &ours_url, size).context("curl from boot-service")?);
        if let Ok(runs) = nginx.as_mut() {
            runs.push(curl(&pair, &nginx_url, size).context("curl from nginx")?);
        }
    }

    // Verified writes: from the local image dir against dd of the same file, then over HTTP from
    // boot-service against parallel ranged curl into dd, verified by b3sum afterwards. Each contender writes a fresh file on a settled
    // disk, and the order within a pair flips every round so neither always follows the other.
    let target = dir.join("target.img");
    let trusted = [key.public()];
    let install_local = || -> anyhow::Result<f64> {
        File::create(&target)?;
        let start = Instant::now();
        installer::image::install_from_dir(&images_dir, NAME, &trusted, &target, |_, _| {})
            .context("verified write (install_from_dir)")?;
        let rate = mib_per_s(size, start.elapsed());
        check_same(&target, &image)?;
        Ok(rate)
    };
    let install_http = || -> anyhow::Result<f64> {
        File::create(&target)?;
        let (target_path, trusted) = (target.clone(), trusted.clone());
        let took = pair
            .server
            .spawn_inside(move || {
                let start = Instant::now();
                installer::image::install_from_server(
                    &["http://127.0.0.1:80".to_owned()],
                    NAME,
                    &trusted,
                    &target_path,
                    |_, _| {},
                )
                .map(|_| start.elapsed())
                .map_err(std::io::Error::other)
            })?
            .join()
            .map_err(|_| anyhow::anyhow!("the installer thread panicked"))?
            .context("verified write (install_from_server)")?;
        check_same(&target, &image)?;
        Ok(mib_per_s(size, took))
    };
    // The disk is the noisiest part of the machine, and a neighbour's load on a shared host the next: the
    // write pairs and the verification trio get at least 9 rounds.
    let noisy_rounds = if ctx.smoke { ctx.runs } else { ctx.runs.max(9) };
    let (local, dd) = rounds(noisy_rounds, &target, install_local, || dd_direct(&image, &target, size))?;
    // Against each pipeline of standard tools in turn (ranged, streamed; see `ranged.rs`).
    let mut over_http = Vec::new();
    for pipeline in [ranged::Pipeline::Ranged, ranged::Pipeline::Streamed] {
        let (ours, theirs) = match peer(B3SUM, "b3sum") {
            Ok(b3sum) => {
                let expected = (size, manifest.blake3.as_str());
                let peer = || ranged::rate(pipeline, &pair, &ours_url, &target, expected, &b3sum);
                let (ours, theirs) = rounds(noisy_rounds, &target, install_http, peer)?;
                (ours, Ok(theirs))
            }
            Err(reason) => (rounds(noisy_rounds, &target, install_http, || Ok(0.0))?.0, Err(reason)),
        };
        let row = paired(format!("verified write {label}, HTTP"), &ours, &pipeline.label(), &theirs, 0.9);
        over_http.push(row.with_note(pipeline.note()));
    }
    proc.ensure_running()?;
    proc.stop_cleanly(Duration::from_secs(5))?;

    let (mut ours_verify, mut b3sum, mut b3sum_stream) =
        (Vec::new(), peer(B3SUM, "b3sum").map(|_| Vec::new()), peer(B3SUM, "b3sum").map(|_| Vec::new()));
    for _ in 0..noisy_rounds {
        let start = Instant::now();
        installer::image::install_from_dir(&images_dir, NAME, &trusted, Path::new("/dev/null"), |_, _| {})
            .context("verification (install_from_dir to /dev/null)")?;
        ours_verify.push(mib_per_s(size, start.elapsed()));
        if let (Ok(mapped), Ok(streamed)) = (b3sum.as_mut(), b3sum_stream.as_mut()) {
            mapped.push(b3sum_rate(&image, &manifest.blake3, &[], size)?);
            streamed.push(b3sum_rate(&image, &manifest.blake3, &["--no-mmap"], size)?);
        }
    }

    let mut rows = vec![
        // Issue 16: at least nginx's rate, both sending by sendfile.
        paired(format!("http image {label}"), &ours_http, "nginx", &nginx, 1.0)
            .with_note("curl -o /dev/null over loopback, page cache warm; both send by sendfile"),
        paired(format!("verified write {label}"), &local, "dd oflag=direct conv=fsync bs=1M", &Ok(dd), 0.9)
            .with_note("ours: local image dir (signed manifest, outboard, BLAKE3) to a file, fsync; dd: same file"),
        // Issue 16: at least b3sum's rate, mapped and streamed.
        paired(format!("verification {label}"), &ours_verify, "b3sum", &b3sum, 1.0)
            .with_note("ours: installer from a local image dir to /dev/null (a dry run: cached pages hashed where they lie, mapped as b3sum maps them); b3sum: mmap, both cores"),
        paired(format!("verification {label}"), &ours_verify, "b3sum --no-mmap", &b3sum_stream, 1.0)
            .with_note("b3sum reading the file as a stream, as it would a download"),
    ];
    rows.splice(2..2, over_http);
    Ok(rows)
}

/// MiB/s, ours against a peer run in the same rounds (or the reason the peer could not run).
fn paired(benchmark: String, ours: &[f64], peer: &str, theirs: &Result<Vec<f64>, String>, target: f64) -> Row {
    match theirs {
        Ok(theirs) => Row::compare_paired(benchmark, "MiB/s", Better::Higher, ours, peer, theirs, Some(target)),
        Err(reason) => Row::compare(benchmark, "MiB/s", Better::Higher, ours, peer, Err(reason.clone()), Some(target)),
    }
}

fn mib_per_s(size: u64, took: Duration) -> f64 {
    size as f64 / MIB / took.as_secs_f64()
}

/// `runs` rounds of `ours` and `theirs` writing `target`, in alternating order, each after the last
/// contender's file is gone and the disk has flushed.
fn rounds(
    runs: usize,
    target: &Path,
    mut ours: impl FnMut() -> anyhow::Result<f64>,
    mut theirs: impl FnMut() -> anyhow::Result<f64>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut ours_runs, mut theirs_runs) = (Vec::new(), Vec::new());
    for round in 0..runs {
        for ours_turn in if round % 2 == 0 { [true, false] } else { [false, true] } {
            if target.exists() {
                std::fs::remove_file(target)?;
            }
            nix::unistd::sync();
            std::thread::sleep(Duration::from_millis(200));
            if ours_turn {
                ours_runs.push(ours()?);
            } else {
                theirs_runs.push(theirs()?);
            }
        }
    }
    let _ = std::fs::remove_file(target);
    Ok((ours_runs, theirs_runs))
}

/// MiB/s of `dd` copying `image` to a fresh `target` with direct writes, flushed at the end as ours is.
fn dd_direct(image: &Path, target: &Path, size: u64) -> anyhow::Result<f64> {
    let mut cmd = std::process::Command::new("dd");
    cmd.arg(format!("if={}", image.display())).arg(format!("of={}", target.display()));
    cmd.args(["bs=1M", "oflag=direct", "conv=fsync", "status=none"]);
    let (took, _) = timed("dd", &mut cmd, |c| c == Some(0))?;
    Ok(mib_per_s(size, took))
}

/// MiB/s of `b3sum [flags] image`, which must print `expected`.
fn b3sum_rate(image: &Path, expected: &str, flags: &[&str], size: u64) -> anyhow::Result<f64> {
    let mut cmd = std::process::Command::new(B3SUM);
    cmd.args(flags).arg("--no-names").arg(image);
    let (took, out) = timed("b3sum", &mut cmd, |c| c == Some(0))?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if hash != expected {
        bail!("b3sum says {hash}, the manifest {expected}");
    }
    Ok(mib_per_s(size, took))
}

/// Read the whole file once so every contender starts from the page cache.
fn warm(path: &Path) -> anyhow::Result<()> {
    std::io::copy(&mut File::open(path)?, &mut std::io::sink())
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(())
}

/// MiB/s of `curl -o /dev/null url`, inside the server namespace.
fn curl(pair: &Pair, url: &str, size: u64) -> anyhow::Result<f64> {
    let mut cmd = pair.server.command("curl");
    cmd.args(["-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}", url]);
    let (took, out) = timed("curl", &mut cmd, |c| c == Some(0))?;
    let got: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
    if got != size {
        bail!("curl {url}: {got} bytes of {size}");
    }
    Ok(size as f64 / MIB / took.as_secs_f64())
}

fn start_nginx(pair: &Pair, program: &str, dir: &Path, images: &Path) -> anyhow::Result<Proc> {
    let prefix: PathBuf = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("tmp"))?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&prefix, images))?;
    let args = [
        "-p".to_string(),
        prefix.display().to_string(),
        "-c".into(),
        conf.display().to_string(),
        "-e".into(),
        prefix.join("error.log").display().to_string(),
    ];
    let mut proc = spawn(&pair.server, "nginx", program, &args, &[], &prefix.join("stderr.log"))?;
    wait_listening(&pair.server, &mut proc, Proto::Tcp, NGINX_PORT)?;
    Ok(proc)
}

/// The installed target holds exactly the image's bytes.
fn check_same(target: &Path, image: &Path) -> anyhow::Result<()> {
    let hash = |p: &Path| -> anyhow::Result<blake3::Hash> {
        let mut h = blake3::Hasher::new();
        std::io::copy(&mut File::open(p)?, &mut h).with_context(|| format!("hashing {}", p.display()))?;
        Ok(h.finalize())
    };
    if hash(target)? != hash(image)? {
        bail!("the installed target {} differs from the image", target.display());
    }
    Ok(())
}
