//! `cargo xtask lab boot-time`: build the static installer, the netboot initramfs as the lab builds it and
//! as it was before real-server drivers and firmware (issue 14), boot both in turns under QEMU
//! ([`rackhand_lab::boot_time`]) and print the comparison as `cargo xtask bench` prints its own; the JSON,
//! every round included, goes to `target/bench/netboot-boot.json`.

use std::time::Duration;

use rackhand_bench::report::{Row, num, table};
use rackhand_bench::stats::{Better, summarize};
use rackhand_lab::accel::Accel;
use rackhand_lab::assets::BuildInputs;
use rackhand_lab::boot_time::serial::{Milestones, Timeline};
use rackhand_lab::boot_time::{self, Round};

use crate::{packages, workspace_root};

/// The other side of every row: the initramfs as it was.
const PEER: &str = "before #14";
/// Issue 14: the lab's boot time stays within 10 % of what it was.
const MAX_SLOWDOWN: f64 = 1.10;

pub fn run(install: bool, runs: usize, accel: Accel, limit: Duration) -> anyhow::Result<()> {
    packages::ensure_without_starting(packages::TEST, install)?;
    packages::ensure(packages::LAB, install)?;
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let installer = crate::lab::build_static_installer(&root, &cargo)?;
    let lab_dir = rackhand_lab::lab_dir();
    let key = rackhand_lab::images::write_lab_key(&lab_dir)?;
    eprintln!("xtask: assembling the netboot initramfs, today's and as it was before issue 14");
    let images = boot_time::build_images(
        &lab_dir.join("boot-time"),
        &BuildInputs {
            installer: &installer,
            profiles_dir: &root.join("hardware-profiles/profiles"),
            keys: std::slice::from_ref(&key),
            cache: &lab_dir.join("cache/kernel"),
        },
    )?;
    let [full, before] = images.sizes.map(mib);
    eprintln!(
        "xtask: initramfs full {full:.1} MiB, before {before:.1} MiB; {runs} round(s) under {}",
        accel.qemu_arg()
    );
    let rounds = boot_time::measure(&images, runs.max(1), accel, limit, |round, variant, timeline| {
        let m = &timeline.milestones;
        eprintln!(
            "xtask: round {} {:6}: installer {:.2} s, modules {:.2} s ({} loaded, {} failed), first step {:.2} s",
            round + 1,
            variant.name(),
            m.installer,
            m.modules,
            m.modules_loaded,
            m.modules_failed,
            m.first_step
        );
    })?;
    let rows = rows(&rounds, images.sizes);
    println!("{}", table(&rows));
    println!("{}", verdict(&rounds));
    println!("{}", costliest_modules(&rounds, 10));
    crate::lab_results::write("netboot-boot", rows, &rounds, accel)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A milestone's name in the table and how to read it from a boot.
type Milestone = (&'static str, fn(&Milestones) -> f64, Option<f64>);

/// The initramfs sizes, then each milestone, full against before round by round (the ratio is the median
/// of the rounds' ratios, oriented as the bench's: before/full, so the target is 1/1.10).
pub fn rows(rounds: &[Round], sizes: [u64; 2]) -> Vec<Row> {
    let mut rows = vec![Row::compare(
        "netboot initramfs size",
        "MiB",
        Better::Lower,
        &[mib(sizes[0])],
        PEER,
        Ok(&[mib(sizes[1])]),
        None,
    )];
    let target = Some(1.0 / MAX_SLOWDOWN);
    let milestones: [Milestone; 3] = [
        ("netboot boot: installer started", |m| m.installer, None),
        ("netboot boot: modules loaded", |m| m.modules, target),
        ("netboot boot: installer's first step", |m| m.first_step, target),
    ];
    for (name, at, target) in milestones {
        let full: Vec<f64> = rounds.iter().map(|r| at(&r.full.milestones)).collect();
        let before: Vec<f64> = rounds.iter().map(|r| at(&r.before.milestones)).collect();
        let row = Row::compare_paired(name, "s", Better::Lower, &full, PEER, &before, target);
        let slowdown =
            row.ratio.filter(|r| *r > 0.0).map(|r| format!("full/before {:.3}", 1.0 / r)).unwrap_or_default();
        rows.push(row.with_note(slowdown));
    }
    if let Some(first) = rounds.first() {
        let count = |m: &Milestones| format!("{} loaded, {} failed", m.modules_loaded, m.modules_failed);
        let (full, before) = (&first.full.milestones, &first.before.milestones);
        let note = format!("modules: full {}; before {}", count(full), count(before));
        if let Some(last) = rows.last_mut() {
            *last = last.clone().with_note(note);
        }
    }
    rows
}

/// The answer to issue 14's question in one line: medians of the first step, full/before, the target.
pub fn verdict(rounds: &[Round]) -> String {
    let median = |f: fn(&Round) -> f64| summarize(&rounds.iter().map(f).collect::<Vec<_>>()).map(|s| s.median);
    let per_round = |r: &Round| r.full.milestones.first_step / r.before.milestones.first_step;
    let (full, before) = (median(|r| r.full.milestones.first_step), median(|r| r.before.milestones.first_step));
    match (full, before, median(per_round)) {
        (Some(full), Some(before), Some(slowdown)) => format!(
            "netboot boot to the installer's first step: full {} s, before {} s (medians of {}); full/before {:.3} \
             (median of the rounds; {:.3} of the medians), target ≤ {MAX_SLOWDOWN:.2}: {}",
            num(full),
            num(before),
            rounds.len(),
            slowdown,
            full / before,
            if slowdown <= MAX_SLOWDOWN { "met" } else { "MISSED" }
        ),
        _ => "netboot boot: no rounds".into(),
    }
}

/// Where the full image's extra time goes: its `n` slowest modules (the median over its boots of the time
/// since the installer's previous line), those the image before did not have marked `*`; and the whole
/// module phase of each (medians).
pub fn costliest_modules(rounds: &[Round], n: usize) -> String {
    let phase = |t: &Timeline| t.milestones.modules - t.milestones.installer;
    let median = |samples: Vec<f64>| summarize(&samples).map_or(0.0, |s| s.median);
    let (full, before) = (
        median(rounds.iter().map(|r| phase(&r.full)).collect()),
        median(rounds.iter().map(|r| phase(&r.before)).collect()),
    );
    let mut names: Vec<&str> =
        rounds.iter().flat_map(|r| r.full.modules.iter().map(|(name, _)| name.as_str())).collect();
    names.sort_unstable();
    names.dedup();
    let mut costs: Vec<(f64, &str)> = names
        .into_iter()
        .map(|name| {
            let seconds = rounds.iter().flat_map(|r| r.full.modules.iter().filter(|(m, _)| m == name).map(|(_, s)| *s));
            (median(seconds.collect()), name)
        })
        .collect();
    costs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let was = |name: &str| rounds.iter().any(|r| r.before.modules.iter().any(|(m, _)| m == name));
    let slowest: Vec<String> = costs
        .iter()
        .take(n)
        .map(|(seconds, name)| format!("{name}{} {seconds:.2}", if was(name) { "" } else { "*" }))
        .collect();
    format!(
        "module loading: full {full:.2} s, before {before:.2} s (medians); slowest in full (s, * new): {}",
        slowest.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(installer: f64, modules: f64, first_step: f64, loaded: usize) -> Milestones {
        Milestones { installer, modules, first_step, modules_loaded: loaded, modules_failed: 1 }
    }

    fn round(full: f64, before: f64) -> Round {
        let timeline = |milestones, modules: &[(&str, f64)]| Timeline {
            milestones,
            modules: modules.iter().map(|(name, s)| (name.to_string(), *s)).collect(),
        };
        Round {
            full: timeline(
                boot(full / 2.0, full - 1.0, full, 70),
                &[("e1000e", 0.2), ("ahci", full / 50.0), ("ice", 0.1)],
            ),
            before: timeline(boot(before / 2.0, before - 1.0, before, 50), &[("e1000e", 0.2)]),
        }
    }

    #[test]
    fn rows_compare_full_with_before_round_by_round() {
        // The machine slows down in the last round; each round's ratio stays 1.05 or 1.2.
        let rounds = [round(21.0, 20.0), round(24.0, 20.0), round(42.0, 40.0)];
        let rows = rows(&rounds, [18 << 20, 14 << 20]);
        assert_eq!(rows.len(), 4);
        assert_eq!(
            (rows[0].unit.as_str(), rows[0].ours.unwrap().median, rows[0].theirs.unwrap().median),
            ("MiB", 18.0, 14.0)
        );
        let step = &rows[3];
        assert_eq!(step.benchmark, "netboot boot: installer's first step");
        let ratio = step.ratio.unwrap();
        assert!((ratio - 20.0 / 21.0).abs() < 1e-9, "median of the rounds' before/full: {ratio}");
        assert_eq!(step.met, Some(true), "1.05 ≤ 1.10");
        assert!(step.notes.contains("full/before 1.050"), "{}", step.notes);
        assert!(step.notes.contains("modules: full 70 loaded, 1 failed; before 50 loaded"), "{}", step.notes);
        assert_eq!(rows[1].target, None, "the installer's start is shown, not judged");
        assert_eq!(rows[2].ours.unwrap().median, 23.0);
    }

    #[test]
    fn the_costliest_modules_are_named_and_the_new_ones_marked() {
        let text = costliest_modules(&[round(20.0, 20.0), round(30.0, 20.0), round(25.0, 20.0)], 2);
        // Module phase: modules − installer = x/2 − 1 for x = 20, 30, 25 (full), 20 (before).
        assert!(text.starts_with("module loading: full 11.50 s, before 9.00 s"), "{text}");
        assert!(text.ends_with("slowest in full (s, * new): ahci* 0.50, e1000e 0.20"), "{text}");
    }

    #[test]
    fn the_verdict_says_whether_the_target_is_met() {
        let text = verdict(&[round(21.0, 20.0), round(21.0, 20.0), round(22.0, 20.0)]);
        assert!(text.contains("full 21.0 s, before 20.0 s (medians of 3); full/before 1.050"), "{text}");
        assert!(text.contains("(median of the rounds; 1.050 of the medians)"), "{text}");
        // The medians come from different rounds than the median round's ratio.
        let mixed = verdict(&[round(11.0, 10.0), round(21.0, 28.0), round(30.0, 20.0)]);
        assert!(mixed.contains("full/before 1.100 (median of the rounds; 1.050 of the medians)"), "{mixed}");
        assert!(text.ends_with("met"), "{text}");
        assert!(verdict(&[round(23.0, 20.0)]).ends_with("MISSED"));
        assert_eq!(verdict(&[]), "netboot boot: no rounds");
    }
}
