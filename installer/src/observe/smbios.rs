//! SMBIOS structures: walking a DMI table, and decoding/encoding type 39 (System Power Supply) per DMTF
//! DSP0134 §7.40. The encoder is public: tests build raw structures with it and the QEMU lab turns its
//! output into `-smbios file=` blobs.

use rackhand_api::PsuStatus;

pub const TYPE_POWER_SUPPLY: u8 = 39;
/// Length of the formatted area of a type 39 structure (SMBIOS 2.3.1 and later).
pub const TYPE39_LENGTH: u8 = 0x16;
const MAX_POWER_UNKNOWN: u16 = 0x8000;
const NO_HANDLE: u16 = 0xffff;

/// A decoded type 39 structure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PowerSupplyRecord {
    pub handle: u16,
    pub power_unit_group: u8,
    pub location: Option<String>,
    pub device_name: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub asset_tag: Option<String>,
    pub model: Option<String>,
    pub revision: Option<String>,
    /// Watts; `None` when the structure says "unknown" (0x8000).
    pub max_power_watts: Option<u16>,
    /// The Power Supply Characteristics word.
    pub characteristics: u16,
}

impl PowerSupplyRecord {
    pub fn hot_replaceable(&self) -> bool {
        self.characteristics & 1 != 0
    }
    pub fn present(&self) -> bool {
        self.characteristics & (1 << 1) != 0
    }
    pub fn unplugged(&self) -> bool {
        self.characteristics & (1 << 2) != 0
    }
    /// Bits 9:7.
    pub fn status(&self) -> PsuStatus {
        match (self.characteristics >> 7) & 0b111 {
            0b001 => PsuStatus::Other,
            0b011 => PsuStatus::Ok,
            0b100 => PsuStatus::NonCritical,
            0b101 => PsuStatus::Critical,
            _ => PsuStatus::Unknown,
        }
    }
}

/// Build a characteristics word: switching supply (bits 13:10 = 0100), auto-switching input (bits 6:3 =
/// 0100), and the given status, presence, unplugged and hot-replaceable bits.
pub fn characteristics(present: bool, unplugged: bool, status: PsuStatus, hot_replaceable: bool) -> u16 {
    let status_bits: u16 = match status {
        PsuStatus::Other => 0b001,
        PsuStatus::Unknown => 0b010,
        PsuStatus::Ok => 0b011,
        PsuStatus::NonCritical => 0b100,
        PsuStatus::Critical => 0b101,
    };
    (0b0100 << 10)
        | (status_bits << 7)
        | (0b0100 << 3)
        | (u16::from(unplugged) << 2)
        | (u16::from(present) << 1)
        | u16::from(hot_replaceable)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmbiosError {
    #[error("structure is {0} bytes, shorter than its header")]
    Truncated(usize),
    #[error("structure has type {0}, expected {TYPE_POWER_SUPPLY}")]
    WrongType(u8),
    #[error("type 39 formatted area is {0} bytes; at least 0x10 are needed")]
    TooShort(u8),
}

/// Decode one type 39 structure: formatted area followed by its string set.
pub fn decode_type39(raw: &[u8]) -> Result<PowerSupplyRecord, SmbiosError> {
    if raw.len() < 4 {
        return Err(SmbiosError::Truncated(raw.len()));
    }
    if raw[0] != TYPE_POWER_SUPPLY {
        return Err(SmbiosError::WrongType(raw[0]));
    }
    let len = raw[1];
    if len < 0x10 || raw.len() < usize::from(len) {
        return Err(SmbiosError::TooShort(len));
    }
    let word = |at: usize| u16::from_le_bytes([raw[at], raw[at + 1]]);
    let strings = string_set(&raw[usize::from(len)..]);
    let string = |at: usize| {
        let index = usize::from(raw[at]);
        index.checked_sub(1).and_then(|i| strings.get(i)).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    };
    let max_power = word(0x0c);
    Ok(PowerSupplyRecord {
        handle: word(2),
        power_unit_group: raw[4],
        location: string(0x05),
        device_name: string(0x06),
        manufacturer: string(0x07),
        serial: string(0x08),
        asset_tag: string(0x09),
        model: string(0x0a),
        revision: string(0x0b),
        max_power_watts: (max_power != MAX_POWER_UNKNOWN).then_some(max_power),
        characteristics: word(0x0e),
    })
}

/// Encode a type 39 structure (length 0x16, no probe/cooling handles) with its string set.
pub fn encode_type39(record: &PowerSupplyRecord) -> Vec<u8> {
    let fields = [
        &record.location,
        &record.device_name,
        &record.manufacturer,
        &record.serial,
        &record.asset_tag,
        &record.model,
        &record.revision,
    ];
    let mut strings: Vec<&str> = Vec::new();
    let mut refs = [0u8; 7];
    for (slot, field) in refs.iter_mut().zip(fields) {
        if let Some(s) = field.as_deref().filter(|s| !s.is_empty()) {
            strings.push(s);
            *slot = u8::try_from(strings.len()).unwrap_or(0);
        }
    }
    let mut out = vec![TYPE_POWER_SUPPLY, TYPE39_LENGTH];
    out.extend_from_slice(&record.handle.to_le_bytes());
    out.push(record.power_unit_group);
    out.extend_from_slice(&refs);
    out.extend_from_slice(&record.max_power_watts.unwrap_or(MAX_POWER_UNKNOWN).to_le_bytes());
    out.extend_from_slice(&record.characteristics.to_le_bytes());
    for _probe_or_cooling in 0..3 {
        out.extend_from_slice(&NO_HANDLE.to_le_bytes());
    }
    if strings.is_empty() {
        out.push(0);
    }
    for s in strings {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    out.push(0);
    out
}

/// The NUL-terminated strings after a formatted area, up to the double NUL.
fn string_set(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for s in bytes.split(|&b| b == 0) {
        if s.is_empty() {
            break;
        }
        out.push(String::from_utf8_lossy(s).into_owned());
    }
    out
}

/// The structures of a raw DMI table (`/sys/firmware/dmi/tables/DMI`), each with its string set, up to
/// and excluding the end-of-table (type 127) structure.
pub fn structures(table: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= table.len() {
        let (kind, len) = (table[at], usize::from(table[at + 1]));
        if kind == 127 || len < 4 || at + len > table.len() {
            break;
        }
        // The string set ends at the first double NUL after the formatted area.
        let Some(end) = table[at + len..].windows(2).position(|w| w == [0, 0]) else {
            break;
        };
        let next = at + len + end + 2;
        out.push(&table[at..next]);
        at = next;
    }
    out
}

#[cfg(test)]
mod tests;
