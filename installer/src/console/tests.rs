use rackhand_api::Problem;

use super::*;

fn node() -> NodeIdentity {
    NodeIdentity {
        id: Some("7".into()),
        name: None,
        mac: Some("52:54:00:00:01:01".into()),
        vendor: Some("QEMU".into()),
        product: Some("Standard PC (Q35 + ICH9, 2009)".into()),
        serial: Some("lab-0001".into()),
    }
}

fn installing() -> ScreenState {
    let mut state = ScreenState { node: node(), profile: Some("qemu-lab".into()), ..Default::default() };
    state.set_step("inspect", StepState::Done, None);
    state.set_step("bond", StepState::Done, Some("bond0 = eth0 + eth1, 10.77.0.50/24".into()));
    state.set_step("raid md0", StepState::Done, None);
    state.set_step("raid md1", StepState::Done, None);
    state.set_step("image", StepState::Running, Some("rackhand-base -> /dev/md0".into()));
    state.progress = Some(Progress { label: "image".into(), done: 3 << 29, total: 4 << 30, bytes_per_sec: 112 << 20 });
    state
}

#[test]
fn progress_screen_snapshot() {
    let shown = render_screen(&installing(), 80);
    let expected = "\
RACKHAND INSTALLER  node 7  52:54:00:00:01:01
system: QEMU Standard PC (Q35 + ICH9, 2009)
serial: lab-0001   profile: qemu-lab
--------------------------------------------------------------------------------
  [done   ] inspect
  [done   ] bond: bond0 = eth0 + eth1, 10.77.0.50/24
  [done   ] raid md0
  [done   ] raid md1
  [running] image: rackhand-base -> /dev/md0

  image [############.....................]  37%  1.5 GiB / 4.0 GiB  112.0 MiB/s
";
    assert_eq!(shown, expected);
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "{shown}");
}

#[test]
fn failure_screen_names_every_problem_and_fix() {
    let mut state = ScreenState { node: node(), profile: Some("qemu-lab".into()), ..Default::default() };
    state.set_step("inspect", StepState::Failed, None);
    state.failure = Some(Failure {
        reason: "2 blocking problems with profile qemu-lab".into(),
        problems: vec![
            Problem::blocking("PSU 2", "PSU 2 present but not receiving power", "plug its cord into the B-feed PDU"),
            Problem::blocking(
                "bay 3",
                "bay 3 empty, profile wants an HDD",
                "insert an HDD of at least 1 GB into bay 3; make sure it clicks into the backplane connector \
                 and that the caddy's latch is closed before powering on",
            ),
        ],
    });
    state.footer = Some("Fix the problems, then power-cycle the server. Rescue shell: press Enter.".into());
    let shown = render_screen(&state, 80);
    let expected_tail = "\
================================================================================
  I N S T A L L   F A I L E D
  2 PROBLEMS TO FIX ON THIS SERVER
================================================================================
REASON: 2 blocking problems with profile qemu-lab

1. PSU 2 — PSU 2 present but not receiving power
   FIX: plug its cord into the B-feed PDU

2. BAY 3 — bay 3 empty, profile wants an HDD
   FIX: insert an HDD of at least 1 GB into bay 3; make sure it clicks into the
        backplane connector and that the caddy's latch is closed before powering
        on

Fix the problems, then power-cycle the server. Rescue shell: press Enter.
";
    assert!(shown.ends_with(expected_tail), "{shown}");
    assert!(shown.contains("  [FAILED ] inspect\n"), "{shown}");
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "{shown}");
}

#[test]
fn ansi_screen_clears_and_bolds_the_headline() {
    let mut state = installing();
    state.failure = Some(Failure { reason: "image: checksum mismatch".into(), problems: vec![] });
    let ansi = render_ansi(&state, 80);
    assert!(ansi.starts_with("\x1b[H\x1b[2J\x1b[1mRACKHAND INSTALLER"), "{ansi:?}");
    assert!(ansi.contains("\x1b[1m  I N S T A L L   F A I L E D\x1b[0m\r\n"), "{ansi:?}");
    assert!(ansi.contains("NOTHING TO FIX ON THE HARDWARE"), "{ansi:?}");
}

#[test]
fn wrap_keeps_words_and_indents_continuations() {
    let lines = wrap("   FIX: aaaa bbbb cccc dddd", 14, 8);
    assert_eq!(lines, ["   FIX: aaaa", "        bbbb", "        cccc", "        dddd"]);
    let cut = wrap("x".repeat(30).as_str(), 10, 0);
    assert_eq!(cut, ["xxxxxxxxxx"]);
}

#[test]
fn steps_change_state_in_place() {
    let mut state = ScreenState::default();
    state.set_step("bond", StepState::Running, None);
    state.set_step("raid md0", StepState::Pending, None);
    state.set_step("bond", StepState::Done, Some("up".into()));
    assert_eq!(state.steps.len(), 2);
    assert_eq!(state.step_state("bond"), Some(StepState::Done));
    assert_eq!(state.steps[0].detail.as_deref(), Some("up"));
}

#[test]
fn progress_is_counted_in_whole_tenths() {
    assert_eq!(
        [tenths(0, 1000), tenths(99, 1000), tenths(100, 1000), tenths(999, 1000), tenths(1000, 1000)],
        [0, 0, 1, 9, 10]
    );
    assert_eq!(tenths(0, 0), 10, "nothing to write is done");
    assert_eq!(tenths(u64::MAX / 2, u64::MAX), 1, "saturates instead of overflowing");
}

#[test]
fn the_header_names_the_server_as_technicians_do_once_the_boot_service_said() {
    let mut state = ScreenState { node: node(), ..Default::default() };
    assert!(render_screen(&state, 80).starts_with("RACKHAND INSTALLER  node 7  52:54:00:00:01:01\n"));
    state.node.name = Some("rack1-u2".into());
    assert!(render_screen(&state, 80).starts_with("RACKHAND INSTALLER  rack1-u2 (node 7)  52:54:00:00:01:01\n"));
}
