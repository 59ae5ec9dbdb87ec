//! `cargo xtask lab whole-path`: build what the lab serves, then measure the whole path
//! ([`rackhand_lab::whole_path`]) round by round: one server from power-on to its installed OS, against the
//! same server booting that OS from its disk plus the time to write the image at the disk's speed. The
//! table is printed as `cargo xtask bench` prints its own; the JSON, every round included, goes to
//! `target/bench/whole-path.json`.

use std::time::Duration;

use anyhow::Context;
use rackhand_bench::report::{Row, num, table};
use rackhand_bench::stats::{Better, summarize};
use rackhand_lab::whole_path::{self, Inputs, Round, Stages};

/// The other side of the main row.
const PEER: &str = "its disk imaged with dd, then booted";
/// Issue 16: provisioning takes at most 1.3× what imaging the disk by hand and booting it takes.
const MAX_OVERHEAD: f64 = 1.3;

pub fn run(install: bool, runs: usize, limit: Duration) -> anyhow::Result<()> {
    let prepared = crate::lab::prepare(install)?;
    let lab_dir = rackhand_lab::lab_dir();
    let os_image = rackhand_lab::images::os_image_raw(&lab_dir);
    let image_bytes = std::fs::metadata(&os_image).with_context(|| format!("{}", os_image.display()))?.len();
    let inputs = Inputs {
        boot_service: &prepared.boot_service,
        assets: &prepared.assets,
        images: &prepared.images,
        os_image: &os_image,
        accel: prepared.accel,
        limit,
    };
    eprintln!("xtask: the whole path, {runs} round(s) under {}", prepared.accel.qemu_arg());
    let rounds = whole_path::measure(&inputs, &lab_dir.join("whole-path"), runs.max(1), |index, r| {
        eprintln!(
            "xtask: round {}: provisioned {:.1} s (script {}, install {}–{}, ready {:.1} s); its disk booted {:.1} s, \
             dd {:.1} s; overhead {:.2}",
            index + 1,
            r.provisioned,
            secs(r.stages.script_served),
            secs(r.stages.install_started),
            secs(r.stages.install_done),
            r.ready,
            r.direct,
            r.copy,
            r.overhead()
        );
    })?;
    let rows = rows(&rounds, image_bytes);
    println!("{}", table(&rows));
    println!("{}", verdict(&rounds));
    crate::lab_results::write("whole-path", rows, &rounds, prepared.accel)
}

fn secs(at: Option<f64>) -> String {
    at.map_or("—".into(), |s| format!("{s:.1} s"))
}

/// The comparison (ratio by hand/provisioned, round by round, so the target is 1/1.3), then where the
/// time went: the provisioned boot's stages and when the node was ready, the disk's own boot, the copy.
pub fn rows(rounds: &[Round], image_bytes: u64) -> Vec<Row> {
    let of = |f: fn(&Round) -> f64| rounds.iter().map(f).collect::<Vec<f64>>();
    let main = Row::compare_paired(
        "whole path: power-on to the installed OS's login prompt",
        "s",
        Better::Lower,
        &of(|r| r.provisioned),
        PEER,
        &of(Round::by_hand),
        Some(1.0 / MAX_OVERHEAD),
    );
    let overhead = main
        .ratio
        .filter(|r| *r > 0.0)
        .map(|r| format!("overhead {:.2}×, target ≤ {MAX_OVERHEAD}×", 1.0 / r))
        .unwrap_or_default();
    let mib = image_bytes as f64 / f64::from(1u32 << 20);
    let stage = |name: &str, at: fn(&Stages) -> Option<f64>| {
        let samples: Vec<f64> = rounds.iter().filter_map(|r| at(&r.stages)).collect();
        Row::ours_only(format!("whole path: power-on to {name}"), "s", Better::Lower, &samples)
    };
    vec![
        main.with_note(overhead),
        stage("the installer's script served (DHCP, iPXE)", |s| s.script_served),
        stage("the install's start (installer booted, hardware judged)", |s| s.install_started),
        stage("the install's end (RAID, image written and verified)", |s| s.install_done),
        Row::ours_only("whole path: power-on to ready (the OS's first report)", "s", Better::Lower, &of(|r| r.ready)),
        Row::ours_only("whole path: the installed disk's own boot", "s", Better::Lower, &of(|r| r.direct)),
        Row::ours_only(
            format!("whole path: dd of the {mib:.0} MiB OS image, oflag=direct"),
            "s",
            Better::Lower,
            &of(|r| r.copy),
        ),
    ]
}

/// Issue 16's question in one line: the medians, the overhead (median of the rounds'), the target.
pub fn verdict(rounds: &[Round]) -> String {
    let median = |f: fn(&Round) -> f64| summarize(&rounds.iter().map(f).collect::<Vec<_>>()).map(|s| s.median);
    match (median(|r| r.provisioned), median(|r| r.direct), median(|r| r.copy), median(Round::overhead)) {
        (Some(provisioned), Some(direct), Some(copy), Some(overhead)) => format!(
            "whole path: provisioned {} s; by hand {} s (its disk's boot) + {} s (dd) (medians of {}); overhead \
             {overhead:.2} (median of the rounds), target ≤ {MAX_OVERHEAD:.2}: {}",
            num(provisioned),
            num(direct),
            num(copy),
            rounds.len(),
            if overhead <= MAX_OVERHEAD { "met" } else { "MISSED" }
        ),
        _ => "whole path: no rounds".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(provisioned: f64, direct: f64, copy: f64) -> Round {
        let stages = Stages { script_served: Some(10.0), install_started: Some(40.0), install_done: None };
        Round { provisioned, ready: provisioned + 5.0, direct, copy, stages }
    }

    #[test]
    fn the_comparison_is_provisioned_against_disk_boot_plus_copy_round_by_round() {
        // Overheads 1.2, 1.5, 1.25: the median round's is 1.25, so the ratio is 1/1.25.
        let rounds = [round(120.0, 90.0, 10.0), round(300.0, 180.0, 20.0), round(100.0, 78.0, 2.0)];
        let rows = rows(&rounds, 572 << 20);
        let main = &rows[0];
        assert_eq!(main.peer.as_deref(), Some(PEER));
        assert!((main.ratio.unwrap() - 1.0 / 1.25).abs() < 1e-9, "{:?}", main.ratio);
        assert_eq!(main.met, Some(true), "1.25 ≤ 1.3");
        assert!(main.notes.contains("overhead 1.25×, target ≤ 1.3×"), "{}", main.notes);
        assert_eq!((main.ours.unwrap().median, main.theirs.unwrap().median), (120.0, 100.0));
        assert!(rows.iter().all(|r| !r.detail), "where the time goes shows in the README's table too");
        let [script, start, end, ready, disk, dd] = &rows[1..] else { panic!("{rows:#?}") };
        assert_eq!(script.benchmark, "whole path: power-on to the installer's script served (DHCP, iPXE)");
        assert_eq!((script.ours.unwrap().median, start.ours.unwrap().median), (10.0, 40.0));
        assert!(end.ours.is_none(), "no round reached it: {end:?}");
        assert_eq!(ready.ours.unwrap().median, 125.0, "ready");
        assert_eq!(disk.ours.unwrap().median, 90.0, "the disk's own boot");
        assert_eq!(dd.benchmark, "whole path: dd of the 572 MiB OS image, oflag=direct");
        assert_eq!(dd.ours.unwrap().median, 10.0);
        let missed = rows_met(&[round(140.0, 90.0, 10.0)]);
        assert_eq!(missed, Some(false), "1.4 > 1.3");
    }

    fn rows_met(rounds: &[Round]) -> Option<bool> {
        rows(rounds, 1 << 20)[0].met
    }

    #[test]
    fn the_verdict_says_the_overhead_and_whether_it_is_within_the_target() {
        let text = verdict(&[round(120.0, 90.0, 10.0), round(130.0, 90.0, 10.0), round(126.0, 90.0, 10.0)]);
        assert!(
            text.starts_with("whole path: provisioned 126 s; by hand 90.0 s (its disk's boot) + 10.0 s (dd)"),
            "{text}"
        );
        assert!(text.contains("(medians of 3); overhead 1.26 (median of the rounds), target ≤ 1.30: met"), "{text}");
        assert!(verdict(&[round(240.0, 90.0, 10.0)]).ends_with("MISSED"));
        assert_eq!(verdict(&[]), "whole path: no rounds");
    }
}
