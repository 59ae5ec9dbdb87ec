//! The verified write over HTTP as a user would build it from standard tools, two ways:
//! - ranged: the image fetched in [`RANGES`] parallel `curl -r` streams, each written in place by
//!   `dd oflag=direct` at its offset, then `b3sum` of the written target (read back from the disk)
//!   checked against the manifest's hash;
//! - streamed: one `curl` through `tee` into `b3sum` and `dd oflag=direct` at once (hashed in flight, as
//!   coreos-installer verifies), the hash checked once both end.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::bail;

use crate::env::{Pair, timed};

/// Parallel ranges: twice the benchmark machine's cores, so a stream waiting on the disk leaves others
/// to keep the network busy.
pub const RANGES: u64 = 4;
/// `dd`'s block: every range starts on one, as `seek` and direct writes need.
const BLOCK: u64 = 1 << 20;

/// The two pipelines.
#[derive(Clone, Copy)]
pub enum Pipeline {
    Ranged,
    Streamed,
}

impl Pipeline {
    /// What the row names as its peer.
    pub fn label(self) -> String {
        match self {
            Self::Ranged => format!("{RANGES}× curl -r | dd oflag=direct, b3sum"),
            Self::Streamed => "curl | tee >(b3sum) | dd oflag=direct".to_owned(),
        }
    }

    /// The row's note.
    pub fn note(self) -> String {
        match self {
            Self::Ranged => format!(
                "both from boot-service on loopback; theirs: {RANGES} parallel `curl -r` ranges, each into \
                 `dd oflag=direct seek= conv=notrunc,fsync`, then `b3sum` of the written target against the manifest's hash"
            ),
            Self::Streamed => {
                "both from boot-service on loopback; theirs: one `curl` through `tee` into `b3sum` (hashed in \
                               flight) and `dd oflag=direct conv=fsync`, then the hash checked against the manifest's"
                    .to_owned()
            }
        }
    }
}

/// The streamed pipeline's script.
fn streamed(url: &str, target: &Path, expected: &str, b3sum: &str) -> String {
    let target = target.display();
    format!(
        "set -o pipefail\n\
         hash=$(mktemp)\n\
         curl -sS --fail {url} | tee >({b3sum} --no-names > $hash) \
         | dd of={target} bs=1M iflag=fullblock oflag=direct conv=fsync status=none || exit 1\n\
         wait $!\n\
         got=$(cat $hash); rm -f $hash\n\
         [ \"$got\" = \"{expected}\" ] || {{ echo \"b3sum $got, expected {expected}\" >&2; exit 1; }}\n"
    )
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

/// MiB/s of `pipeline` run inside the server namespace; the written target must be `size` bytes.
pub fn rate(
    pipeline: Pipeline,
    pair: &Pair,
    url: &str,
    target: &Path,
    (size, expected): (u64, &str),
    b3sum: &str,
) -> anyhow::Result<f64> {
    let script = match pipeline {
        Pipeline::Ranged => script(url, target, size, expected, b3sum),
        Pipeline::Streamed => streamed(url, target, expected, b3sum),
    };
    let mut cmd = pair.server.command("bash");
    cmd.args(["-c", &script]);
    let (took, _) = timed(&pipeline.label(), &mut cmd, |c| c == Some(0))?;
    let got = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    if got != size {
        bail!("{} wrote {got} bytes of {size}", pipeline.label());
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
