//! The simulator's power-supply sensors as ipmitool reads them over IPMI-over-LAN, and a fault set at its
//! console showing in the sensors and in the SEL, then cleared.

use std::process::Command;

use rackhand_test_bmc::{IPMITOOL, PsuOffset, SimBmc, available};

fn ipmitool(bmc: &SimBmc, args: &[&str]) -> String {
    let address = bmc.config.address;
    let out = Command::new(IPMITOOL)
        .args(["-I", "lanplus", "-H", &address.ip().to_string(), "-p", &address.port().to_string()])
        .args(["-U", &bmc.config.user, "-E", "-C", "3"])
        .args(args)
        .env("IPMI_PASSWORD", &bmc.config.password)
        .output()
        .expect("running ipmitool");
    assert!(out.status.success(), "ipmitool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_lost_ac_input_set_at_the_console_shows_in_the_sensors_and_the_event_log_then_clears() {
    if let Err(why) = available() {
        eprintln!(
            "SKIPPED a_lost_ac_input_set_at_the_console_shows_in_the_sensors_and_the_event_log_then_clears: {why}"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bmc = SimBmc::loopback(dir.path(), "sensor-pass").unwrap();
    let sdr = ipmitool(&bmc, &["sdr", "type", "Power Supply"]);
    let lines: Vec<&str> = sdr.lines().collect();
    assert_eq!(lines.len(), 2, "{sdr}");
    assert!(lines[0].starts_with("PSU1 Status") && lines[0].contains("| 10.1 | Presence detected"), "{sdr}");
    assert!(lines[1].starts_with("PSU2 Status") && lines[1].ends_with("| 10.2 | Presence detected"), "{sdr}");

    bmc.set_psu(2, PsuOffset::AcLost, true).unwrap();
    let sdr = ipmitool(&bmc, &["sdr", "type", "Power Supply"]);
    assert!(sdr.contains("| 10.2 | Presence detected, Power Supply AC lost"), "{sdr}");
    assert!(!sdr.lines().next().unwrap().contains("AC lost"), "PSU 1 unchanged: {sdr}");
    let sel = ipmitool(&bmc, &["sel", "elist"]);
    assert!(sel.contains("PSU2 Status | Power Supply AC lost | Asserted"), "{sel}");

    bmc.set_psu(2, PsuOffset::AcLost, false).unwrap();
    let sdr = ipmitool(&bmc, &["sdr", "type", "Power Supply"]);
    assert!(!sdr.contains("AC lost"), "{sdr}");
    let sel = ipmitool(&bmc, &["sel", "elist"]);
    assert!(sel.contains("PSU2 Status | Power Supply AC lost | Deasserted"), "{sel}");
}

#[test]
fn a_console_command_the_simulator_refuses_is_an_error_with_its_words() {
    if let Err(why) = available() {
        eprintln!("SKIPPED a_console_command_the_simulator_refuses_is_an_error_with_its_words: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bmc = SimBmc::loopback(dir.path(), "sensor-pass").unwrap();
    let err = rackhand_test_bmc::console(bmc.config.console, "sensor_set_bit 0x20 0 0x44 3 1 1").unwrap_err();
    assert!(err.to_string().contains("Unable to set sensor bit"), "{err}");
}
