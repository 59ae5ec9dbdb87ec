//! The ipmitool driver against OpenIPMI's real BMC simulator on loopback, and its reading of ipmitool's
//! failures (lines captured from ipmitool 1.8.19 against ipmi_sim 2.0.33).

use std::path::Path;

use rackhand_api::{BootDevice, PowerAction, PowerState};
use rackhand_test_bmc::SimBmc;

use super::*;

const PASSWORD: &str = "Lab-bmc-5ecret";

/// A simulator in `dir` (skipping the test when it is not installed and not required).
pub(crate) fn sim(dir: &Path) -> Option<SimBmc> {
    if let Err(why) = rackhand_test_bmc::available() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    Some(SimBmc::loopback(dir, PASSWORD).expect("starting ipmi_sim"))
}

pub(crate) fn login(bmc: &SimBmc, password: &str) -> BmcLogin {
    BmcLogin {
        host: bmc.config.address.ip().to_string(),
        port: bmc.config.address.port(),
        username: bmc.config.user.clone(),
        password: crate::token::Secret::new(password.to_owned()),
        // The simulator does not answer "which cipher suites": named, the login is immediate.
        cipher_suite: Some(3),
    }
}

/// Quick to give up: nothing here is far away.
fn driver() -> Ipmitool {
    Ipmitool { timeout_secs: 1, retries: 1, ..Ipmitool::default() }
}

#[test]
fn power_and_next_boot_reach_the_chassis() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let login = login(&bmc, PASSWORD);
    let ipmi = driver();
    assert_eq!(ipmi.power_state(&login).unwrap(), PowerState::Off);
    ipmi.power(&login, PowerAction::On).unwrap();
    assert!(bmc.powered(), "calls: {}", bmc.calls());
    assert_eq!(ipmi.power_state(&login).unwrap(), PowerState::On);
    ipmi.next_boot(&login, BootDevice::Network).unwrap();
    assert_eq!(bmc.boot_device().as_deref(), Some("pxe"));
    ipmi.power(&login, PowerAction::Off).unwrap();
    assert!(!bmc.powered());
    assert_eq!(ipmi.power_state(&login).unwrap(), PowerState::Off);
}

#[test]
fn power_supplies_are_read_as_the_bmc_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let login = login(&bmc, PASSWORD);
    let read = driver().power_supplies(&login).unwrap();
    let seen: Vec<(&str, bool, bool)> = read.iter().map(|r| (r.sensor.as_str(), r.present, r.input_lost)).collect();
    assert_eq!(seen, [("PSU1 Status", true, false), ("PSU2 Status", true, false)]);
    assert_eq!(driver().event_log(&login).unwrap(), [], "a fresh BMC has logged nothing");
    bmc.set_psu(2, rackhand_test_bmc::PsuOffset::AcLost, true).unwrap();
    let read = driver().power_supplies(&login).unwrap();
    assert!(read[1].input_lost && !read[0].input_lost, "{read:?}");
    let log: Vec<String> = driver().event_log(&login).unwrap().iter().map(ToString::to_string).collect();
    assert_eq!(log, ["#1: Power Supply sensor 12h: Power Supply AC lost, asserted"]);
}

#[test]
fn a_wrong_password_is_a_refused_login_naming_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let error = driver().power_state(&login(&bmc, "not-the-password")).unwrap_err();
    assert!(matches!(error, PowerError::LoginRefused { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("refused the login of user `admin`") && text.contains(&bmc.config.address.to_string()));
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(bmc.calls().is_empty(), "nothing reached the chassis: {}", bmc.calls());
}

#[test]
fn a_bmc_that_does_not_answer_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let mut nobody = login(&bmc, PASSWORD);
    // A port on loopback nothing listens on.
    nobody.port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let error = driver().power(&nobody, PowerAction::On).unwrap_err();
    assert!(matches!(error, PowerError::NoAnswer { .. }), "{error:?}");
    assert!(error.to_string().contains("did not answer"), "{error}");
}

#[test]
fn a_missing_program_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let ipmi = Ipmitool { program: "/nonexistent/ipmitool".into(), ..driver() };
    let error = ipmi.power_state(&login(&bmc, PASSWORD)).unwrap_err();
    assert!(error.to_string().contains("cannot run `/nonexistent/ipmitool`"), "{error}");
}

#[test]
fn the_password_never_appears_in_the_arguments() {
    let login = BmcLogin {
        host: "10.0.9.21".into(),
        port: 623,
        username: "admin".into(),
        password: crate::token::Secret::new(PASSWORD.into()),
        cipher_suite: Some(17),
    };
    let args = arguments(&login, &Ipmitool::default(), &["chassis", "power", "status"]);
    assert!(args.iter().all(|a| !a.contains(PASSWORD)), "{args:?}");
    assert!(args.windows(2).any(|w| w == ["-H", "10.0.9.21"]) && args.contains(&"-E".to_string()));
    assert!(args.windows(2).any(|w| w == ["-C", "17"]), "{args:?}");
    assert!(!format!("{login:?}").contains(PASSWORD));
}

#[test]
fn a_server_that_is_off_is_powered_on_not_cycled() {
    use crate::nodes::restart;
    assert_eq!((restart(PowerState::On), restart(PowerState::Off)), (PowerAction::Cycle, PowerAction::On));
}

#[test]
fn ipmitool_failures_are_classified_from_its_own_lines() {
    let wrong_password = "Loading IANA PEN Registry...\nUnable to Get Channel Cipher Suites\n> RAKP 2 HMAC is invalid\n\
                          Error: Unable to establish IPMI v2 / RMCP+ session\n";
    let nobody = "Loading IANA PEN Registry...\nGet Auth Capabilities error\n\
                  Error issuing Get Channel Authentication Capabilities request\n\
                  Error: Unable to establish IPMI v2 / RMCP+ session\n";
    let refused_command = "Loading IANA PEN Registry...\nSet Chassis Power Control to Cycle failed: Command not \
                           supported in present state\n";
    assert_eq!(classify_failure(wrong_password), Failure::LoginRefused);
    assert_eq!(classify_failure(nobody), Failure::NoAnswer);
    assert_eq!(
        classify_failure(refused_command),
        Failure::Command("Set Chassis Power Control to Cycle failed: Command not supported in present state".into())
    );
    assert_eq!(classify_failure(""), Failure::Command("ipmitool failed and said nothing".into()));
}
