//! DHCP capacity on a core of each server's own: the server process's CPU time (user + system, every
//! thread) per 1000 DORA exchanges it completed, at the highest offered rate every side kept up with, so
//! that each did the same exchanges. On a 2-core machine perfdhcp needs a core itself, and near 10 000
//! exchanges/s it, not the server, limits the achieved rate (the capacity row then says little); what a
//! server spends per exchange is what its capacity on a core of its own is the inverse of. perfdhcp's
//! own CPU is said beside, so a reader sees when the load generator was the limit.

use std::collections::BTreeSet;

use rackhand_bench::report::{Row, num};
use rackhand_bench::stats::{Better, summarize};

/// One perfdhcp run's CPU accounting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cpu {
    /// The offered rate (exchanges/s) and what perfdhcp achieved.
    pub rate: u32,
    pub achieved: f64,
    /// CPU seconds the server process used during the run, and perfdhcp.
    pub server_s: f64,
    pub client_s: f64,
    /// How long perfdhcp ran, seconds.
    pub duration_s: f64,
    /// Completed exchanges: ACKs perfdhcp received.
    pub acks: u64,
}

impl Cpu {
    /// The server's CPU milliseconds per 1000 completed exchanges (none without an ACK).
    pub fn ms_per_1000(&self) -> Option<f64> {
        (self.acks > 0).then(|| self.server_s * 1e6 / self.acks as f64)
    }
}

/// Whether the runs at `rate` achieved (nearly) all of it, by their median.
fn kept_up(runs: &[Cpu], rate: u32) -> bool {
    let achieved: Vec<f64> = runs.iter().filter(|c| c.rate == rate).map(|c| c.achieved).collect();
    summarize(&achieved).is_some_and(|s| s.median >= 0.97 * f64::from(rate))
}

/// Ours against a peer: CPU per 1000 exchanges at the highest offered rate both kept up with (the
/// lowest rate if neither did at any). The ratio is theirs/ours, as for every "lower is better" row.
pub(crate) fn cpu_row(benchmark: &str, ours: &[Cpu], peer: &str, theirs: Result<&[Cpu], String>, target: f64) -> Row {
    let theirs_runs = theirs.as_ref().map_or(&[][..], |t| *t);
    let rates: BTreeSet<u32> = ours.iter().map(|c| c.rate).collect();
    let both = rates.iter().rev().copied().find(|r| kept_up(ours, *r) && kept_up(theirs_runs, *r));
    let Some(rate) = both.or_else(|| rates.first().copied()) else {
        return Row::ours_only(benchmark, "ms", Better::Lower, &[]).with_note("no runs");
    };
    let at = |runs: &[Cpu]| runs.iter().filter(|c| c.rate == rate).filter_map(Cpu::ms_per_1000).collect::<Vec<_>>();
    let theirs_ms = theirs.map(at);
    let theirs_ms = theirs_ms.as_ref().map(Vec::as_slice).map_err(Clone::clone);
    let row = Row::compare(benchmark, "ms", Better::Lower, &at(ours), peer, theirs_ms, Some(target));
    let kept = if both.is_some() { "where both kept up" } else { "the lowest rate: one side kept up with none" };
    row.with_note(format!(
        "server CPU (user + system) per 1000 ACKs at {rate}/s offered, {kept}; capacity on a core of its own is \
         its inverse"
    ))
}

/// One detail row per offered rate: the server's CPU per 1000 completed exchanges there, whoever else ran.
/// Comparing two builds of ours rests on these (the comparison rows pick one rate by the peer's limits).
pub(crate) fn per_rate_rows(benchmark: &str, runs: &[Cpu]) -> Vec<Row> {
    let rates: BTreeSet<u32> = runs.iter().map(|c| c.rate).collect();
    rates
        .into_iter()
        .map(|rate| {
            let ms: Vec<f64> = runs.iter().filter(|c| c.rate == rate).filter_map(Cpu::ms_per_1000).collect();
            Row::ours_only(format!("{benchmark} @{rate}/s"), "ms", Better::Lower, &ms)
                .with_note("server CPU (user + system) per 1000 ACKs perfdhcp received")
                .detail()
        })
        .collect()
}

/// perfdhcp's share of a core at the highest offered rate (median of its runs there): near 100 %, the
/// achieved rates were the load generator's limit.
pub(crate) fn client_note(runs: &[Cpu]) -> String {
    let Some(top) = runs.iter().map(|c| c.rate).max() else { return String::new() };
    let shares: Vec<f64> = runs
        .iter()
        .filter(|c| c.rate == top && c.duration_s > 0.0)
        .map(|c| 100.0 * c.client_s / c.duration_s)
        .collect();
    summarize(&shares).map_or(String::new(), |s| format!("perfdhcp used {}% of a core at {top}/s", num(s.median)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: u32, achieved: f64, server_s: f64, acks: u64) -> Cpu {
        Cpu { rate, achieved, server_s, client_s: 3.9, duration_s: 4.0, acks }
    }

    #[test]
    fn cpu_per_exchange_is_compared_at_the_highest_rate_both_kept_up_with() {
        // Both keep up at 1000 and 5000; only ours at 10 000. At 5000/s: ours 0.4 s for 20 000 ACKs
        // (20 ms per 1000), theirs 1.2 s (60 ms per 1000): 3×.
        let ours = [run(1000, 1000.0, 0.1, 4000), run(5000, 4990.0, 0.4, 20_000), run(10_000, 9900.0, 0.7, 39_600)];
        let theirs = [run(1000, 999.0, 0.3, 4000), run(5000, 4900.0, 1.2, 20_000), run(10_000, 8000.0, 2.0, 32_000)];
        let row = cpu_row("dhcp server CPU per 1000 DORA", &ours, "kea", Ok(&theirs), 3.0);
        assert_eq!((row.ours.unwrap().median, row.theirs.unwrap().median), (20.0, 60.0));
        assert!((row.ratio.unwrap() - 3.0).abs() < 1e-9, "{:?}", row.ratio);
        assert_eq!(row.met, Some(true));
        assert!(row.notes.contains("at 5000/s offered, where both kept up"), "{}", row.notes);
    }

    #[test]
    fn without_a_rate_both_kept_up_with_the_lowest_is_used_and_said() {
        let ours = [run(1000, 900.0, 0.1, 3600), run(5000, 2000.0, 0.4, 8000)];
        let row = cpu_row("cpu", &ours, "kea", Ok(&[run(1000, 990.0, 0.2, 3600)]), 3.0);
        assert!(row.notes.contains("at 1000/s offered, the lowest rate"), "{}", row.notes);
        assert_eq!(row.met, Some(false), "ratio 2 < 3");
        let missing = cpu_row("cpu", &ours, "kea", Err("kea-dhcp4 not installed".into()), 3.0);
        assert!(missing.theirs.is_none() && missing.ours.is_some(), "{missing:?}");
        assert_eq!(run(1000, 0.0, 0.1, 0).ms_per_1000(), None, "no ACK, no cost per exchange");
    }

    #[test]
    fn each_offered_rate_has_its_own_row_of_cpu_per_exchange() {
        let runs = [run(5000, 4990.0, 0.4, 20_000), run(1000, 1000.0, 0.2, 4000), run(5000, 4990.0, 0.6, 20_000)];
        let rows = per_rate_rows("cpu", &runs);
        let seen: Vec<(&str, f64)> = rows.iter().map(|r| (r.benchmark.as_str(), r.ours.unwrap().median)).collect();
        assert_eq!(seen, [("cpu @1000/s", 50.0), ("cpu @5000/s", 25.0)]);
        assert!(rows.iter().all(|r| r.detail && r.peer.is_none()));
    }

    #[test]
    fn the_client_note_says_perfdhcps_share_of_a_core_at_the_top_rate() {
        let runs = [run(1000, 1000.0, 0.1, 4000), run(20_000, 9000.0, 1.0, 36_000)];
        assert_eq!(client_note(&runs), "perfdhcp used 97.5% of a core at 20000/s");
        assert_eq!(client_note(&[]), "");
    }
}
