//! The node's whole run after observation, against fakes: what is posted in which order, which network
//! is used, when disks with data are refused, and what the console and the end action are.

mod support;

use std::collections::BTreeMap;

use hardware_profiles::{Profile, load_file, shipped_profiles_dir};
use installer::apply::Installer;
use installer::apply::fake::{
    FAKE_DEPLOY_CREDENTIAL, FakeFilesystems, FakeImage, FakeNetwork, FakePartitioner, FakeRaid, FakeSystem, Posted,
    RecordingReporter,
};
use installer::console::{Console, StepState};
use installer::image::ImageError;
use installer::log::lines_logged_by;
use installer::os_config::{DEPLOY_CREDENTIAL, OsFile};
use installer::pid1::{Inputs, Outcome, provision};
use installer::plan::FinishAction;
use rackhand_api::{DeploySettings, NodeId, Stage, StepStatus};
use support::{ServerSpec, qemu_lab};

fn lab() -> Profile {
    load_file(&shipped_profiles_dir().join("qemu-lab.toml")).unwrap()
}

struct Run {
    outcome: Outcome,
    posted: Vec<Posted>,
    net: Vec<String>,
    raid: Vec<String>,
    mkfs: Vec<String>,
    parts: Vec<String>,
    system: Vec<String>,
    files: Vec<OsFile>,
    console: Console,
    /// The serial log's lines.
    log: String,
}

fn run(spec: &ServerSpec, profile: Profile, network: FakeNetwork, raid: FakeRaid, image: FakeImage) -> Run {
    run_with(spec, profile, network, raid, FakeFilesystems::default(), image)
}

/// Settings as the boot service answers them for a node whose earlier install built `owned`.
fn settings(owned: &[&str]) -> DeploySettings {
    DeploySettings {
        hostname: "rack1-u2".into(),
        ssh_authorized_keys: vec!["ssh-ed25519 AAAA ops".into()],
        owned_arrays: owned.iter().map(|o| (*o).into()).collect(),
    }
}

fn run_with(
    spec: &ServerSpec,
    profile: Profile,
    network: FakeNetwork,
    raid: FakeRaid,
    filesystems: FakeFilesystems,
    image: FakeImage,
) -> Run {
    run_full(spec, profile, Fakes { network, raid, filesystems, image, ..Fakes::default() })
}

/// Every seam of the install, as fakes; the default is a blank lab server whose install goes well.
struct Fakes {
    network: FakeNetwork,
    raid: FakeRaid,
    filesystems: FakeFilesystems,
    image: FakeImage,
    settings: DeploySettings,
    system: FakeSystem,
    partitioner: FakePartitioner,
}

impl Default for Fakes {
    fn default() -> Self {
        Fakes {
            network: FakeNetwork::default(),
            raid: FakeRaid::default(),
            filesystems: FakeFilesystems::default(),
            image: image(),
            settings: settings(&[]),
            system: FakeSystem::default(),
            partitioner: FakePartitioner::default(),
        }
    }
}

fn run_full(spec: &ServerSpec, profile: Profile, fakes: Fakes) -> Run {
    let Fakes { network, raid, filesystems, mut image, settings, system, partitioner } = fakes;
    let fixture = spec.write();
    let inventory = fixture.observe(Some(&profile));
    let reporter = RecordingReporter { settings: Some(settings), ..Default::default() };
    let mut console = Console::log_only();
    let mut installer = Installer {
        network: &network,
        raid: &raid,
        filesystems: &filesystems,
        image: &mut image,
        reporter: &reporter,
        console: &mut console,
        partitioner: &partitioner,
        system: &system,
    };
    let inputs = Inputs {
        inventory,
        profile: Ok(profile),
        fallback_nic: Some("eth0".into()),
        servers: vec!["http://10.77.0.1:8080".into()],
        node: NodeId(7),
    };
    let mut outcome = None;
    let log = lines_logged_by(|| outcome = Some(provision(inputs, &mut installer)));
    let outcome = outcome.expect("provision returns");
    let (posted, net, raid, mkfs) = (reporter.posted(), network.calls(), raid.calls(), filesystems.calls());
    let (parts, files, system) = (partitioner.calls(), system.files(), system.calls());
    Run { outcome, posted, net, raid, mkfs, parts, system, files, console, log }
}

fn image() -> FakeImage {
    FakeImage { size: 1000, chunks: 20, fail: None }
}

fn steps(posted: &[Posted]) -> Vec<(String, StepStatus)> {
    posted
        .iter()
        .filter_map(|p| match p {
            Posted::Progress(r) if r.status != StepStatus::Running => Some((r.step.clone(), r.status)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_healthy_node_is_bonded_raided_imaged_made_bootable_and_reported_installed() {
    let r = run(&qemu_lab(), lab(), FakeNetwork::default(), FakeRaid::default(), image());
    assert_eq!(r.outcome, Outcome::Ready(FinishAction::Reboot));
    assert_eq!(r.net, ["bond bond0 active-backup eth0,eth1", "dhcp bond0"]);
    assert_eq!(r.raid, ["create /dev/md0 level 1 /dev/sda3 /dev/sdb3", "create /dev/md1 level 1 /dev/sdc /dev/sdd"]);
    assert_eq!(r.parts, ["announce /dev/sda", "announce /dev/sdb", "table /dev/sda", "table /dev/sdb"]);
    assert!(
        matches!(&r.posted[0], Posted::Inventory(_, Some(p)) if p == "qemu-lab"),
        "inventory first, with its profile"
    );
    let Posted::Progress(first) = &r.posted[1] else { panic!("{:?}", r.posted[1]) };
    assert_eq!((first.stage, first.step.as_str(), first.status), (Stage::Install, "bond", StepStatus::Done));
    use StepStatus::*;
    assert_eq!(r.mkfs, ["mkfs /dev/md1 ext4 labelled data"], "the data array only: md0 gets the image");
    let expected = [
        ("bond", Done),
        ("raid md0", Started),
        ("raid md0", Done),
        ("raid md1", Started),
        ("raid md1", Done),
        ("format md1", Started),
        ("format md1", Done),
        ("image", Started),
    ];
    let got = steps(&r.posted);
    assert_eq!(got[..8].iter().map(|(s, st)| (s.as_str(), *st)).collect::<Vec<_>>(), expected);
    let image_running: Vec<_> = r
        .posted
        .iter()
        .filter_map(|p| match p {
            Posted::Progress(p) if p.step == "image" && p.status == Running => Some((p.done?, p.total?)),
            _ => None,
        })
        .collect();
    assert_eq!(image_running.len(), 10, "one event per tenth: {image_running:?}");
    assert_eq!(image_running.last(), Some(&(1000, 1000)));
    let all = steps(&r.posted);
    let got: Vec<(&str, StepStatus)> = all.iter().map(|(s, st)| (s.as_str(), *st)).collect();
    assert_eq!(got[8..], [("image", Done), ("boot", Started), ("boot", Done)]);
    let Some(Posted::Installed(results)) = r.posted.last() else { panic!("{:?}", r.posted.last()) };
    assert_eq!(results.arrays[1].uuid, "fake-uuid-md1");
    let fs = results.arrays[1].filesystem.as_ref().expect("md1's filesystem is in the results");
    assert_eq!((fs.kind.as_str(), fs.label.as_deref(), fs.uuid.as_str()), ("ext4", Some("data"), "fake-fs-uuid-md1"));
    assert_eq!(results.arrays[0].filesystem, None);
    assert_eq!(results.arrays[0].level, "raid1");
    assert_eq!(results.bond.as_ref().unwrap().primary.as_deref(), Some("eth0"));
    assert_eq!(results.image.as_ref().unwrap().device, "/dev/md0");
    // The installed system: mounted after the image, its files, then the boot loaders, the deploy
    // credential the boot service answered `installed` with, and unmounted last.
    assert_eq!(r.system.first().map(String::as_str), Some("mount /dev/md0"));
    assert!(r.system.contains(&"write /etc/hostname".to_owned()), "{:#?}", r.system);
    assert!(r.system.contains(&"run grub-install --target=i386-pc /dev/sdb".to_owned()), "{:#?}", r.system);
    let n = r.system.len();
    assert_eq!(r.system[n - 2..], [format!("write {DEPLOY_CREDENTIAL}"), "unmount".to_owned()]);
    let credential = r.files.last().unwrap();
    assert!(
        matches!(credential, OsFile::Write { contents, mode: 0o600, .. } if contents.trim() == FAKE_DEPLOY_CREDENTIAL)
    );
    for step in ["inspect", "bond", "raid md0", "raid md1", "format md1", "image", "boot"] {
        assert_eq!(r.console.state.step_state(step), Some(StepState::Done), "{step}");
    }
}

#[test]
fn blocking_problems_are_reported_over_the_fallback_nic_without_touching_disks() {
    let mut spec = qemu_lab();
    spec.psus[1].unplugged = true;
    let r = run(&spec, lab(), FakeNetwork::default(), FakeRaid::default(), image());
    assert_eq!(r.net, ["up eth0", "dhcp eth0"], "no bond when the verdict blocks");
    assert!(r.raid.is_empty());
    assert_eq!(r.posted.len(), 2, "{:?}", r.posted);
    let Posted::Failed(report) = &r.posted[1] else { panic!("{:?}", r.posted) };
    assert!(report.reason.contains("blocking"), "{}", report.reason);
    assert!(report.problems.iter().any(|p| p.part == "PSU 2" && p.fix.contains("B-feed")));
    let Outcome::Failed { reported, .. } = r.outcome else { panic!() };
    assert!(reported);
    let failure = r.console.state.failure.unwrap();
    assert!(failure.problems.iter().all(|p| p.severity == rackhand_api::Severity::Blocking));
    assert_eq!(failure.problems[0].part, "PSU 2");
    let name = r.console.state.node.name.as_deref();
    assert_eq!(name, Some("rack1-u2"), "the failure screen names the server as the boot service's answer does");
}

#[test]
fn a_failed_bond_falls_back_and_reports_the_failure() {
    let net = FakeNetwork { fail_bond: true, ..Default::default() };
    let r = run(&qemu_lab(), lab(), net, FakeRaid::default(), image());
    assert_eq!(r.net, ["bond bond0 active-backup eth0,eth1", "delete bond0", "up eth0", "dhcp eth0"]);
    let Some(Posted::Failed(report)) = r.posted.last() else { panic!("{:?}", r.posted) };
    assert!(report.reason.starts_with("bond bond0:"), "{}", report.reason);
    assert!(r.raid.is_empty());
}

#[test]
fn no_network_at_all_still_shows_the_failure() {
    let net = FakeNetwork { fail_bond: true, fail_dhcp_on: vec!["eth0".into()], ..Default::default() };
    let r = run(&qemu_lab(), lab(), net, FakeRaid::default(), image());
    assert!(r.posted.is_empty());
    assert!(matches!(r.outcome, Outcome::Failed { reported: false, .. }));
    assert_eq!(r.console.state.step_state("network"), Some(StepState::Failed));
    assert!(r.console.state.failure.is_some());
}

#[test]
fn disks_with_data_are_refused_unless_the_profile_says_wipe() {
    let data = BTreeMap::from([("/dev/sdb".to_owned(), "ext2/3/4 filesystem".to_owned())]);
    let r =
        run(&qemu_lab(), lab(), FakeNetwork::default(), FakeRaid { data: data.clone(), ..Default::default() }, image());
    assert!(r.raid.is_empty(), "nothing created: {:?}", r.raid);
    let Some(Posted::Failed(report)) = r.posted.last() else { panic!("{:?}", r.posted) };
    assert!(report.reason.contains("raid md0: the disk in bay 1 (/dev/sdb) already holds data"), "{report:?}");
    assert!(report.reason.contains("wipe = true") && report.reason.contains("wipefs -a /dev/sdb"), "{report:?}");
    assert!(steps(&r.posted).contains(&("raid md0".into(), StepStatus::Failed)));

    let mut wiping = lab();
    wiping.install.wipe = true;
    let r = run(&qemu_lab(), wiping, FakeNetwork::default(), FakeRaid { data, ..Default::default() }, image());
    assert_eq!(r.raid[0], "wipe /dev/sdb");
    assert!(matches!(r.outcome, Outcome::Ready(_)));
}

/// The image stream's own error for a corrupt chunk (as `installer::image` raises it).
fn corrupt_image() -> FakeImage {
    let fail = ImageError::CorruptChunk {
        url: "http://boot/images/debian-12/image".into(),
        index: 3,
        offset: 3 << 20,
        end: 4 << 20,
    };
    FakeImage { fail: Some(fail), ..image() }
}

#[test]
fn an_image_failure_fails_the_node_with_the_step() {
    let r = run(&qemu_lab(), lab(), FakeNetwork::default(), FakeRaid::default(), corrupt_image());
    let Some(Posted::Failed(report)) = r.posted.last() else { panic!("{:?}", r.posted) };
    assert_eq!(
        report.reason,
        "image: image http://boot/images/debian-12/image: chunk 3 (bytes 3145728..4194304) does not match the outboard (corrupt)"
    );
    assert_eq!(report.step.as_deref(), Some("image"), "the step the dashboard's advice goes by");
    assert_eq!(r.console.state.step_state("image"), Some(StepState::Failed));
}

#[test]
fn a_failed_mkfs_fails_the_node_before_the_image_is_written() {
    let fs = FakeFilesystems { fail_on: Some("/dev/md1".into()), ..Default::default() };
    let r = run_with(&qemu_lab(), lab(), FakeNetwork::default(), FakeRaid::default(), fs, image());
    let Some(Posted::Failed(report)) = r.posted.last() else { panic!("{:?}", r.posted) };
    assert!(report.reason.starts_with("format md1: making ext4 labelled data on /dev/md1"), "{}", report.reason);
    assert_eq!(r.console.state.step_state("format md1"), Some(StepState::Failed));
    assert!(!steps(&r.posted).iter().any(|(step, _)| step == "image"), "the image was not started");
}

#[test]
fn nothing_is_made_bootable_when_the_image_fails() {
    let r = run(&qemu_lab(), lab(), FakeNetwork::default(), FakeRaid::default(), corrupt_image());
    assert!(matches!(r.outcome, Outcome::Failed { reported: true, .. }));
    assert_eq!(r.parts, ["announce /dev/sda", "announce /dev/sdb"], "no partition table written");
    assert_eq!(r.system, ["unmount"], "the installed system was never mounted or touched");
    assert!(!r.posted.iter().any(|p| matches!(p, Posted::Installed(_))));
    // What it built is reported with the failure, so the retry may wipe it.
    let Some(Posted::Failed(report)) = r.posted.last() else { panic!("{:?}", r.posted) };
    let built: Vec<&str> = report.built.iter().flat_map(|b| &b.arrays).map(|a| a.uuid.as_str()).collect();
    assert_eq!(built, ["fake-uuid-md0", "fake-uuid-md1"]);
}

#[test]
fn a_failing_boot_loader_fails_the_node_without_reporting_it_installed() {
    let system = FakeSystem { fail_on: Some("grub-install".into()), ..Default::default() };
    let r = run_full(&qemu_lab(), lab(), Fakes { system, ..Fakes::default() });
    let Some(Posted::Failed(report)) = r.posted.last() else { panic!("{:?}", r.posted) };
    assert!(report.reason.starts_with("boot: grub-install"), "{}", report.reason);
    assert_eq!(r.system.last().map(String::as_str), Some("unmount"));
    assert!(!r.files.iter().any(|f| matches!(f, OsFile::Write { path, .. } if path == DEPLOY_CREDENTIAL)));
}

#[test]
fn a_reinstall_wipes_the_arrays_this_node_built_and_nothing_else() {
    // After an earlier install: a GPT on each OS disk with md0's member on partition 3, md1 on the HDDs.
    let mut data = BTreeMap::new();
    let mut member_of = BTreeMap::new();
    for disk in ["/dev/sda", "/dev/sdb"] {
        data.insert(disk.to_owned(), "GPT partition table".to_owned());
        data.insert(format!("{disk}3"), "md superblock (metadata 1.2)".to_owned());
        member_of.insert(format!("{disk}3"), "aaaa:0000:1111:2222".to_owned());
    }
    for disk in ["/dev/sdc", "/dev/sdd"] {
        data.insert(disk.to_owned(), "md superblock (metadata 1.2)".to_owned());
        member_of.insert(disk.to_owned(), "bbbb:0000:1111:2222".to_owned());
    }
    let raid = || FakeRaid { data: data.clone(), member_of: member_of.clone(), ..Default::default() };
    let old_table = |disk: &str| (disk.to_owned(), (1..=3).map(|n| format!("{disk}{n}")).collect::<Vec<_>>());
    let partitions = BTreeMap::from([old_table("/dev/sda"), old_table("/dev/sdb")]);
    let owned = ["aaaa0000-1111-2222", "bbbb:0000:1111:2222"];
    let run_with_settings = |settings| {
        let partitioner = FakePartitioner { partitions: partitions.clone(), ..Default::default() };
        run_full(&qemu_lab(), lab(), Fakes { raid: raid(), settings, partitioner, ..Fakes::default() })
    };
    let r = run_with_settings(settings(&owned));
    assert!(matches!(r.outcome, Outcome::Ready(_)), "{:?}", r.posted.last());
    for wiped in
        ["wipe /dev/sda", "wipe /dev/sda3", "wipe /dev/sdb", "wipe /dev/sdb3", "wipe /dev/sdc", "wipe /dev/sdd"]
    {
        assert!(r.raid.contains(&wiped.to_owned()), "{wiped}: {:?}", r.raid);
    }
    // The same disks for a node that did not build them: refused, nothing wiped.
    let r = run_with_settings(settings(&["cccc:0000:1111:2222"]));
    let Some(Posted::Failed(report)) = r.posted.last() else { panic!("{:?}", r.posted) };
    assert_eq!(report.reason.matches("on /dev/sda3").count(), 1, "each finding once: {}", report.reason);
    assert!(!r.raid.iter().any(|c| c.starts_with("wipe")), "{:?}", r.raid);
    let Some(Posted::Failed(report)) = r.posted.last() else { panic!("{:?}", r.posted) };
    assert!(report.reason.contains("bay 0 (/dev/sda) already holds data Rackhand did not build"), "{}", report.reason);
}

#[test]
fn each_step_logs_its_lines_inside_a_span_naming_it() {
    let r = run(&qemu_lab(), lab(), FakeNetwork::default(), FakeRaid::default(), image());
    let lines: Vec<&str> = r.log.lines().collect();
    for want in [
        "rackhand: step bond done: bond0 active-backup = eth0 + eth1, primary eth0, 10.77.0.50/24 step=\"bond\"",
        "rackhand: step raid md0 running: /dev/sda3 /dev/sdb3 step=\"raid md0\"",
        "rackhand: step raid md0 done: raid1 fake-uuid-md0 step=\"raid md0\"",
        "rackhand: step image running: debian-12 -> /dev/md0 step=\"image\"",
        "rackhand: step boot done: GPT, ESP and GRUB (BIOS + UEFI) on /dev/sda /dev/sdb step=\"boot\"",
        "rackhand: install done: the installed OS reports ready on its first boot",
    ] {
        assert!(lines.contains(&want), "no line {want:?} in\n{}", r.log);
    }
}
