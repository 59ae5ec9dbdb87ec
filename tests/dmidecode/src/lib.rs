//! dmidecode (Debian `dmidecode`) as a second, independent reader of SMBIOS tables for tests: a table is
//! written as `dmidecode --dump-bin` writes one ([`dump_bin`]), read back with `dmidecode --from-dump`, its
//! System Power Supply (type 39) records parsed ([`parse`]) and compared field by field with the supplies the
//! installer read from the same table ([`disagreements`]).
//!
//! A missing dmidecode skips the test with a message unless [`REQUIRE_ENV`] is set (as `cargo xtask test`
//! sets it as root), which makes it a failure.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rackhand_api::{PowerSupply, PsuStatus};

/// Set: a missing dmidecode fails the test instead of skipping it.
pub const REQUIRE_ENV: &str = "RACKHAND_REQUIRE_DMIDECODE";
pub const DMIDECODE: &str = "/usr/sbin/dmidecode";

/// Whether dmidecode is here; `Err(why)` to skip with.
pub fn available() -> Result<(), String> {
    if Path::new(DMIDECODE).exists() {
        return Ok(());
    }
    let why = format!("{DMIDECODE} is not installed (Debian package dmidecode)");
    if std::env::var_os(REQUIRE_ENV).is_some() {
        panic!("{why}, and {REQUIRE_ENV} is set");
    }
    Err(why)
}

/// Where `--dump-bin` puts the table, and where its entry point says the table is.
pub const TABLE_OFFSET: usize = 0x20;
const ENTRY_POINT_LENGTH: u8 = 0x18;

/// The file `dmidecode --dump-bin` writes for `table`: an SMBIOS 3.0 entry point (`_SM3_`, 24 bytes: length,
/// version 3.0.0, entry point revision 1, the table's maximum size, and its address, which `--dump-bin`
/// rewrites to 0x20 with the checksum fixed up), zeros to offset 0x20, then the table (dmidecode 3.4:
/// `smbios3_decode`, `overwrite_smbios3_address`, `dmi_table_dump`).
pub fn dump_bin(table: &[u8]) -> Vec<u8> {
    let mut out = b"_SM3_".to_vec();
    out.extend_from_slice(&[0, ENTRY_POINT_LENGTH, 3, 0, 0, 1, 0]); // checksum, length, 3.0.0, revision, reserved
    out.extend_from_slice(&u32::try_from(table.len()).expect("a table under 4 GiB").to_le_bytes());
    out.extend_from_slice(&(TABLE_OFFSET as u64).to_le_bytes());
    out[5] = 0u8.wrapping_sub(out.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)));
    out.resize(TABLE_OFFSET, 0);
    out.extend_from_slice(table);
    out
}

/// A table of `structures` (each with its string set) ended by an end-of-table structure (type 127).
pub fn table(structures: &[Vec<u8>]) -> Vec<u8> {
    let mut out = structures.concat();
    out.extend_from_slice(&[127, 4, 0xfe, 0xff, 0, 0]);
    out
}

/// One structure as dmidecode prints it: its handle and `Name: value` attributes, values as printed
/// (dmidecode keeps a string's trailing spaces; "Not Specified" stands for no string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmiRecord {
    pub handle: u16,
    pub attributes: BTreeMap<String, String>,
}

impl DmiRecord {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
}

/// Run `dmidecode --from-dump <dump> -t 39` and parse what it prints.
pub fn power_supplies(dump: &Path) -> Result<Vec<DmiRecord>, String> {
    let out = Command::new(DMIDECODE)
        .arg("--from-dump")
        .arg(dump)
        .args(["-t", "39"])
        .output()
        .map_err(|e| format!("running {DMIDECODE}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains("SMBIOS") {
        return Err(format!(
            "dmidecode --from-dump {} failed ({}): {}{stdout}",
            dump.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(parse(&stdout))
}

/// The records of dmidecode's output: a `Handle 0x2700, DMI type 39, 22 bytes` line, the record's title, then
/// one tab-indented `Name: value` line per attribute.
pub fn parse(output: &str) -> Vec<DmiRecord> {
    let mut records: Vec<DmiRecord> = Vec::new();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("Handle 0x") {
            let handle = rest.get(..4).and_then(|h| u16::from_str_radix(h, 16).ok());
            records.extend(handle.map(|handle| DmiRecord { handle, attributes: BTreeMap::new() }));
        } else if let (Some(attribute), Some(record)) = (line.strip_prefix('\t'), records.last_mut())
            && let Some((name, value)) = attribute.split_once(": ")
        {
            record.attributes.insert(name.to_owned(), value.to_owned());
        }
    }
    records
}

/// Where dmidecode's record and the installer's supply disagree, one line per field, naming the supply by
/// its handle; empty when they agree. Strings are compared as the installer keeps them (trimmed; dmidecode's
/// "Not Specified" is none).
pub fn disagreements(dmi: &DmiRecord, psu: &PowerSupply) -> Vec<String> {
    let string = |name: &str| dmi.get(name).map(str::trim).filter(|v| *v != "Not Specified" && !v.is_empty());
    let watts = |v: &str| v.strip_suffix(" W").and_then(|w| w.parse::<u32>().ok());
    let (present, status) = match dmi.get("Status") {
        Some("Not Present") => (false, None),
        Some(s) => (true, s.strip_prefix("Present, ").map(status_of)),
        None => (false, None),
    };
    let mut fields: Vec<(&str, String, String)> = vec![
        ("Location", format!("{:?}", string("Location")), format!("{:?}", psu.location.as_deref())),
        ("Name", format!("{:?}", string("Name")), format!("{:?}", psu.name.as_deref())),
        ("Manufacturer", format!("{:?}", string("Manufacturer")), format!("{:?}", psu.manufacturer.as_deref())),
        ("Serial Number", format!("{:?}", string("Serial Number")), format!("{:?}", psu.serial.as_deref())),
        ("Model Part Number", format!("{:?}", string("Model Part Number")), format!("{:?}", psu.model.as_deref())),
        (
            "Max Power Capacity",
            format!("{:?}", dmi.get("Max Power Capacity").and_then(watts)),
            format!("{:?}", psu.max_power_watts),
        ),
        ("Status (present)", present.to_string(), psu.present.to_string()),
        (
            "Hot Replaceable",
            format!("{:?}", dmi.get("Hot Replaceable")),
            format!("{:?}", Some(yes(psu.hot_replaceable))),
        ),
    ];
    if present {
        fields.push(("Status", format!("{status:?}"), format!("{:?}", Some(psu.status))));
        fields.push(("Plugged", format!("{:?}", dmi.get("Plugged")), format!("{:?}", Some(yes(psu.powered)))));
    }
    fields
        .into_iter()
        .filter(|(_, theirs, ours)| theirs != ours)
        .map(|(field, theirs, ours)| {
            format!("handle {:#06x} {field}: dmidecode says {theirs}, the installer {ours}", dmi.handle)
        })
        .collect()
}

fn yes(value: bool) -> &'static str {
    if value { "Yes" } else { "No" }
}

/// dmidecode's status words (DSP0134 7.40.1); the values it calls `<OUT OF SPEC>` are unknown to the installer.
fn status_of(word: &str) -> PsuStatus {
    match word {
        "Other" => PsuStatus::Other,
        "OK" => PsuStatus::Ok,
        "Non-critical" => PsuStatus::NonCritical,
        "Critical" => PsuStatus::Critical,
        _ => PsuStatus::Unknown,
    }
}

#[cfg(test)]
mod tests;
