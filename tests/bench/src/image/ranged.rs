//! The verified write over HTTP as a user would build it from standard tools: the image fetched in
//! [`RANGES`] parallel ranged `curl -r` streams, each written in place by `dd oflag=direct` at its offset,
//! then `b3sum` of the written target checked against the manifest's hash. Direct writes and the final
//! read both go to the disk, as the installer's direct writes and verification do.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::bail;

use crate::env::{Pair, timed};

/// Parallel ranges: twice the benchmark machine's cores, so a stream waiting on the disk leaves others
/// to keep the network busy.
pub const RANGES: u64 = 4;
/// `dd`'s block: every range starts on one, as `seek` and direct writes need.
const BLOCK: u64 = 1 << 20;

/// What the row names as its peer.
pub fn label() -> String {
    format!("{RANGES}× curl -r | dd oflag=direct, b3sum")
}

/// The shell pipeline writing `size` bytes of `url` to `target` and checking their BLAKE3 is `expected`.
pub fn script(url: &str, target: &Path, size: u64, expected: &str, b3sum: &str) -> String {
    let blocks = size.div_ceil(BLOCK);
    let per_range = blocks.div_ceil(RANGES).max(1);
    let target = target.display();
    let mut script = String::from("set -o pipefail\npids=\"\"\n");
    let mut first = 0;
    while first < blocks {
        let (from, to) = (first * BLOCK, ((first + per_range) * BLOCK).min(size) - 1);
        let _ = writeln!(
            script,
            "(curl -sS --fail -r {from}-{to} {url} | dd of={target} bs=1M iflag=fullblock oflag=direct seek={first} conv=notrunc,fsync status=none) & pids=\"$pids $!\""
        );
        first += per_range;
    }
    let _ = write!(
        script,
        "for pid in $pids; do wait $pid || exit 1; done\n\
         got=$({b3sum} --no-names {target})\n\
         [ \"$got\" = \"{expected}\" ] || {{ echo \"b3sum $got, expected {expected}\" >&2; exit 1; }}\n"
    );
    script
}

/// MiB/s of [`script`] run inside the server namespace; the written target must be `size` bytes.
pub fn rate(pair: &Pair, url: &str, target: &Path, size: u64, expected: &str, b3sum: &str) -> anyhow::Result<f64> {
    let mut cmd = pair.server.command("bash");
    cmd.args(["-c", &script(url, target, size, expected, b3sum)]);
    let (took, _) = timed("ranged curl | dd, b3sum", &mut cmd, |c| c == Some(0))?;
    let got = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    if got != size {
        bail!("ranged curl | dd wrote {got} bytes of {size}");
    }
    Ok(size as f64 / f64::from(1 << 20) / took.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_cover_the_image_once_on_block_boundaries() {
        let script = script("http://x/i", Path::new("/t"), 10 * BLOCK + 5, "abc", "b3sum");
        let ranges: Vec<(u64, u64, u64)> = script
            .lines()
            .filter_map(|line| {
                let range = line.split("-r ").nth(1)?.split(' ').next()?;
                let (from, to) = range.split_once('-')?;
                let seek = line.split("seek=").nth(1)?.split(' ').next()?;
                Some((from.parse().ok()?, to.parse().ok()?, seek.parse().ok()?))
            })
            .collect();
        assert_eq!(ranges.len(), 4, "{script}");
        let mut next = 0;
        for (from, to, seek) in ranges {
            assert_eq!((from, seek * BLOCK), (next, next), "{script}");
            next = to + 1;
        }
        assert_eq!(next, 10 * BLOCK + 5, "{script}");
        assert!(script.contains("[ \"$got\" = \"abc\" ]"), "{script}");
    }
}
