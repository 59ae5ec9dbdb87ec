//! The simulated BMC's power-supply sensors and the console that changes them.
//!
//! Each PSU is a discrete sensor of IPMI type 0x08 (power supply) with the sensor-specific reading type
//! 0x6f, numbered [`psu_sensor`], and a compact SDR (record type 0x02, IPMI 2.0 table 43-2) naming it
//! `PSU<n> Status` on entity 10 (power supply), instance n: what a real BMC lists under `ipmitool sdr type
//! 'Power Supply'`. Its offsets are the spec's: 0 presence detected, 1 failure detected, 3 AC input lost.
//! Changes go through the simulator's console (`console` in lan.conf, a telnet-style TCP port) with
//! `sensor_set_bit`, generating the event a real BMC logs in its SEL.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How a PSU's sensor starts out (the lab derives it from the server's PSUs, so SMBIOS and BMC agree
/// unless a test makes them differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimPsu {
    Powered,
    AcLost,
    Failed,
}

/// A sensor-specific offset of the power-supply sensor (IPMI 2.0 table 42-3, sensor type 0x08).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsuOffset {
    Presence = 0,
    Failure = 1,
    AcLost = 3,
}

/// The sensor number of PSU `n` (1-based).
pub fn psu_sensor(n: u8) -> u8 {
    0x10 + n
}

/// The emulator commands that add PSU `n`'s sensor, its SDR, events to the SEL, and its starting bits.
pub fn psu_commands(n: u8, start: SimPsu) -> String {
    let num = psu_sensor(n);
    let bits = "000000000001111";
    let mut out = format!(
        "sensor_add 0x20 0 {num:#04x} 0x08 0x6f\n\
         sensor_set_event_support 0x20 0 {num:#04x} enable scanning per-state {bits} {bits} {bits} {bits}\n\
         main_sdr_add 0x20 {}\n",
        hex_bytes(&compact_sdr(num, n, &format!("PSU{n} Status")))
    );
    out += &set_bit(n, PsuOffset::Presence, true, false);
    match start {
        SimPsu::Powered => {}
        SimPsu::AcLost => out += &set_bit(n, PsuOffset::AcLost, true, false),
        SimPsu::Failed => out += &set_bit(n, PsuOffset::Failure, true, false),
    }
    out
}

/// The command that sets (or clears) `offset` of PSU `n`, logging an event when `event`.
pub fn set_bit(n: u8, offset: PsuOffset, on: bool, event: bool) -> String {
    format!("sensor_set_bit 0x20 0 {:#04x} {} {} {}\n", psu_sensor(n), offset as u8, u8::from(on), u8::from(event))
}

/// A compact sensor record for a power-supply status sensor owned by the BMC (0x20, LUN 0).
fn compact_sdr(sensor: u8, instance: u8, name: &str) -> Vec<u8> {
    let name = &name.as_bytes()[..name.len().min(16)];
    let mut body = vec![
        0x20, 0x00, sensor, // key: owner, LUN, number
        0x0a, instance, // entity: power supply, instance
        0x67, 0x40, // initialisation (scanning and events on), capabilities (auto re-arm)
        0x08, 0x6f, // sensor type power supply, sensor-specific reading
        0x0f, 0x00, 0x0f, 0x00, 0x0f, 0x00, // assertion, deassertion, reading masks: offsets 0-3
        0xc0, 0x00, 0x00, // units: no analogue reading
        0x01, 0x00, 0x00, 0x00, // sharing, hysteresis
        0x00, 0x00, 0x00, 0x00, // reserved, OEM
    ];
    body.push(0xc0 | u8::try_from(name.len()).expect("at most 16 bytes"));
    body.extend_from_slice(name);
    let mut record = vec![0x00, 0x00, 0x51, 0x02, u8::try_from(body.len()).expect("at most 43 bytes")];
    record.extend(body);
    record
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:#04x}")).collect::<Vec<_>>().join(" ")
}

/// Run `command` (one line) at the simulator's console at `address`; what it printed back.
pub fn console(address: SocketAddr, command: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    read_until_prompt(&mut stream)?;
    stream.write_all(command.trim_end().as_bytes())?;
    stream.write_all(b"\n")?;
    let answer = read_until_prompt(&mut stream)?;
    if answer.contains("**") || answer.to_ascii_lowercase().contains("error") {
        return Err(std::io::Error::other(format!("`{}`: {answer}", command.trim_end())));
    }
    Ok(answer)
}

/// What the console prints up to its next `> ` prompt (telnet negotiation bytes dropped).
fn read_until_prompt(stream: &mut TcpStream) -> std::io::Result<String> {
    let limit = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.ends_with(b"> ") {
        if Instant::now() > limit {
            return Err(std::io::Error::other(format!("no prompt from the console: {:?}", text(&seen))));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Err(std::io::Error::other("the console closed")),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(text(&seen[..seen.len() - 2]))
}

fn text(bytes: &[u8]) -> String {
    bytes.iter().filter(|b| b.is_ascii() && **b != 0xff).map(|&b| b as char).collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdr_names_the_supply_on_its_entity_and_counts_its_own_length() {
        let record = compact_sdr(0x12, 2, "PSU2 Status");
        assert_eq!(&record[2..5], &[0x51, 0x02, u8::try_from(record.len() - 5).unwrap()]);
        assert_eq!(&record[5..10], &[0x20, 0x00, 0x12, 0x0a, 0x02]);
        assert_eq!(&record[12..14], &[0x08, 0x6f]);
        assert_eq!(record[31], 0xc0 | 11);
        assert_eq!(&record[32..], b"PSU2 Status");
    }

    #[test]
    fn a_supply_starts_present_and_with_the_fault_asked_for() {
        let lost = psu_commands(2, SimPsu::AcLost);
        assert!(lost.contains("sensor_set_bit 0x20 0 0x12 0 1 0\n"), "{lost}");
        assert!(lost.contains("sensor_set_bit 0x20 0 0x12 3 1 0\n"), "{lost}");
        assert!(!psu_commands(1, SimPsu::Powered).contains(" 3 1 0\n"));
    }
}
