//! `[tftp]` → [`TftpConfig`]: defaults and the bounds on what one transfer, and all of them together,
//! may hold (see `tftp_limits.rs`). Refusals carry the offset of the value so `validate.rs` can name the
//! line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_spanned::Spanned;

use super::TftpConfig;
use super::deploy::parse_duration;
use super::wire::TftpSection;

/// Ethernet's 1500-byte MTU less the IP, UDP and TFTP headers: the largest block sent unfragmented.
const DEFAULT_MAX_BLOCK_SIZE: u16 = 1468;
/// RFC 2348's bounds on `blksize`.
const BLOCK_SIZES: std::ops::RangeInclusive<u16> = 8..=65464;
const DEFAULT_WINDOW_SIZE: u16 = 64;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// RFC 2349's largest `timeout`.
const MAX_TIMEOUT: Duration = Duration::from_secs(255);
const DEFAULT_RETRIES: u32 = 5;
const DEFAULT_TRANSFERS: usize = 256;
const DEFAULT_TRANSFERS_PER_SOURCE: usize = 8;

/// A value of `[tftp]` that was refused: where it is in the text, its key and why.
#[derive(Debug)]
pub(super) struct Refused {
    pub at: usize,
    pub field: &'static str,
    pub message: String,
}

fn refuse<T>(value: &Spanned<T>, field: &'static str, message: impl Into<String>) -> Refused {
    Refused { at: value.span().start, field, message: message.into() }
}

pub(super) fn validate(section: TftpSection, default_root: PathBuf) -> Result<TftpConfig, Refused> {
    let max_block_size = match &section.max_block_size {
        Some(size) if !BLOCK_SIZES.contains(size.get_ref()) => {
            return Err(refuse(size, "tftp.max_block_size", format!("must be between {BLOCK_SIZES:?} (RFC 2348)")));
        }
        Some(size) => *size.get_ref(),
        None => DEFAULT_MAX_BLOCK_SIZE,
    };
    let timeout = match &section.timeout {
        Some(text) => {
            let timeout = parse_duration(text.get_ref()).map_err(|why| refuse(text, "tftp.timeout", why))?;
            if timeout > MAX_TIMEOUT {
                return Err(refuse(text, "tftp.timeout", "must be at most 255s (RFC 2349)"));
            }
            timeout
        }
        None => DEFAULT_TIMEOUT,
    };
    let at_least_one = |value: &Option<Spanned<usize>>, field, default| match value {
        Some(n) if *n.get_ref() == 0 => Err(refuse(n, field, "must be at least 1")),
        Some(n) => Ok(*n.get_ref()),
        None => Ok(default),
    };
    let max_transfers = at_least_one(&section.max_transfers, "tftp.max_transfers", DEFAULT_TRANSFERS)?;
    let max_transfers_per_source =
        at_least_one(&section.max_transfers_per_source, "tftp.max_transfers_per_source", DEFAULT_TRANSFERS_PER_SOURCE)?;
    if let Some(per_source) = &section.max_transfers_per_source
        && max_transfers_per_source > max_transfers
    {
        return Err(refuse(per_source, "tftp.max_transfers_per_source", "must not exceed max_transfers"));
    }
    Ok(TftpConfig {
        listen: section.listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 69))),
        root: section.root.unwrap_or(default_root),
        max_window_size: section.max_window_size.unwrap_or(DEFAULT_WINDOW_SIZE).max(1),
        max_block_size,
        timeout,
        max_retries: section.max_retries.unwrap_or(DEFAULT_RETRIES),
        max_transfers,
        max_transfers_per_source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};

    const EXAMPLE: &str = include_str!("../../boot-service.example.toml");

    fn parse_with(from: &str, to: &str) -> Result<Config, ConfigError> {
        assert!(EXAMPLE.contains(from), "example has no `{from}`");
        Config::parse(&EXAMPLE.replacen(from, to, 1), "test.toml")
    }

    fn refusal(from: &str, to: &str) -> String {
        parse_with(from, to).expect_err(to).to_string()
    }

    #[test]
    fn the_example_shows_the_defaults() {
        let tftp = Config::parse(EXAMPLE, "example").unwrap().tftp;
        assert_eq!(tftp.max_window_size, 64);
        assert_eq!(tftp.max_block_size, 1468);
        assert_eq!(tftp.timeout, Duration::from_secs(2));
        assert_eq!(tftp.max_retries, 5);
        assert_eq!(tftp.max_transfers, 256);
        assert_eq!(tftp.max_transfers_per_source, 8);
        // Each default is written in the example next to its key.
        for line in [
            "# max_block_size = 1468",
            "# timeout = \"2s\"",
            "# max_retries = 5",
            "# max_transfers = 256",
            "# max_transfers_per_source = 8",
        ] {
            assert!(EXAMPLE.contains(line), "the example lacks `{line}`");
        }
    }

    #[test]
    fn limits_are_read() {
        let tftp = parse_with(
            "# max_transfers = 256",
            "max_transfers = 40\nmax_transfers_per_source = 40\nmax_retries = 0\ntimeout = \"1s\"\nmax_block_size = 512",
        )
        .unwrap()
        .tftp;
        assert_eq!(
            (tftp.max_transfers, tftp.max_transfers_per_source, tftp.max_retries, tftp.timeout, tftp.max_block_size),
            (40, 40, 0, Duration::from_secs(1), 512)
        );
    }

    #[test]
    fn out_of_range_limits_are_refused_with_field_and_line() {
        let line = EXAMPLE.lines().position(|l| l.contains("# max_transfers = 256")).unwrap() + 1;
        let at = |field: &str| format!("test.toml:{line}: `tftp.{field}`");
        for (value, field) in [
            ("max_transfers = 0", "max_transfers"),
            ("max_transfers_per_source = 0", "max_transfers_per_source"),
            ("max_transfers_per_source = 257", "max_transfers_per_source"),
            ("max_block_size = 7", "max_block_size"),
            ("max_block_size = 65465", "max_block_size"),
            ("timeout = \"256s\"", "timeout"),
            ("timeout = \"0s\"", "timeout"),
            ("timeout = \"2\"", "timeout"),
        ] {
            let message = refusal("# max_transfers = 256", value);
            assert!(message.starts_with(&at(field)), "{value}: {message}");
        }
        let line = EXAMPLE.lines().position(|l| l.contains("# max_retries = 5")).unwrap() + 1;
        let message = refusal("# max_retries = 5", "max_retries = -1");
        assert!(message.starts_with(&format!("test.toml:{line}: ")), "{message}");
    }
}
