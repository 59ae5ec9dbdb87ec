//! Shared libraries of a dynamic binary, from `ldd`'s output, so mdadm runs inside the initramfs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The absolute library paths in `ldd` output (the `=> /path` form and the bare loader line);
/// `linux-vdso` and "not a dynamic executable" yield nothing.
pub fn parse_ldd(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Run `ldd` on `binary`; a static binary has no libraries.
pub fn libraries_of(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(binary).output()?;
    Ok(parse_ldd(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bookworm_mdadm() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd0a1f5000)\n\
                   \tlibudev.so.1 => /lib/x86_64-linux-gnu/libudev.so.1 (0x00007f1b8e5d1000)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1b8e3f0000)\n\
                   \tlibcap.so.2 => /lib/x86_64-linux-gnu/libcap.so.2 (0x00007f1b8e3e4000)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f1b8e65b000)\n";
        assert_eq!(
            parse_ldd(out),
            [
                "/lib/x86_64-linux-gnu/libudev.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib/x86_64-linux-gnu/libcap.so.2",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
        assert!(parse_ldd("\tnot a dynamic executable\n").is_empty());
        assert!(parse_ldd("\tstatically linked\n").is_empty());
    }
}
