//! The result rows, the table printed to stdout and the JSON written to `target/bench/results.json` (and
//! kept in `docs/bench/results.json`, which the README's table is generated from: [`crate::readme`]).

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::stats::{Better, Summary, ratio, summarize};

/// One comparison: our side, the peer's, and how they relate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub benchmark: String,
    pub unit: String,
    pub better: Better,
    pub ours: Option<Summary>,
    /// The peer's name, or `None` for a row that only measures us (the boot storm).
    pub peer: Option<String>,
    pub theirs: Option<Summary>,
    /// Ours over theirs (medians), oriented so that above 1 means ours is better.
    pub ratio: Option<f64>,
    pub target: Option<f64>,
    /// Whether `ratio` reached `target`; `None` without either.
    pub met: Option<bool>,
    pub notes: String,
    /// A row of detail (one offered rate of many): in the printed table and the JSON, not the README's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detail: bool,
}

impl Row {
    /// Ours against a peer. `theirs` is `Err(reason)` when the peer could not be measured.
    pub fn compare(
        benchmark: impl Into<String>,
        unit: &str,
        better: Better,
        ours: &[f64],
        peer: &str,
        theirs: Result<&[f64], String>,
        target: Option<f64>,
    ) -> Row {
        let ours = summarize(ours);
        let (theirs, mut notes) = match theirs {
            Ok(samples) => (summarize(samples), String::new()),
            Err(reason) => (None, reason),
        };
        if ours.is_none() && notes.is_empty() {
            notes = "our side produced no samples".into();
        }
        let ratio = ratio(ours.as_ref(), theirs.as_ref(), better);
        let met = ratio.zip(target).map(|(r, t)| r >= t);
        Row {
            benchmark: benchmark.into(),
            unit: unit.into(),
            better,
            ours,
            peer: Some(peer.into()),
            theirs,
            ratio,
            target,
            met,
            notes,
            detail: false,
        }
    }

    /// Ours against a peer measured in the same rounds (`ours[i]` and `theirs[i]` back to back): the ratio
    /// is the median of the per-round ratios, so a machine that drifts between rounds (a shared disk)
    /// moves both sides of each ratio alike instead of deciding it.
    pub fn compare_paired(
        benchmark: impl Into<String>,
        unit: &str,
        better: Better,
        ours: &[f64],
        peer: &str,
        theirs: &[f64],
        target: Option<f64>,
    ) -> Row {
        let mut row = Row::compare(benchmark, unit, better, ours, peer, Ok(theirs), target);
        let per_round: Vec<f64> = ours
            .iter()
            .zip(theirs)
            .filter_map(|(o, t)| ratio(summarize(&[*o]).as_ref(), summarize(&[*t]).as_ref(), better))
            .collect();
        if ours.len() == theirs.len() && per_round.len() == ours.len() {
            row.ratio = summarize(&per_round).map(|s| s.median);
            row.met = row.ratio.zip(target).map(|(r, t)| r >= t);
            row = row.with_note("ratio: median of per-round ratios");
        }
        row
    }

    /// A measurement of ours alone.
    pub fn ours_only(benchmark: impl Into<String>, unit: &str, better: Better, ours: &[f64]) -> Row {
        Row {
            benchmark: benchmark.into(),
            unit: unit.into(),
            better,
            ours: summarize(ours),
            peer: None,
            theirs: None,
            ratio: None,
            target: None,
            met: None,
            notes: String::new(),
            detail: false,
        }
    }

    /// Marks a row of detail, left out of the README's table.
    pub fn detail(mut self) -> Row {
        self.detail = true;
        self
    }

    pub fn with_note(mut self, note: impl AsRef<str>) -> Row {
        let note = note.as_ref();
        if !note.is_empty() {
            if !self.notes.is_empty() {
                self.notes.push_str("; ");
            }
            self.notes.push_str(note);
        }
        self
    }
}

/// Everything one `rackhand-bench` run measured, where, when and of which commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Results {
    pub smoke: bool,
    pub runs: usize,
    pub machine: Machine,
    /// When the run ended, UTC (RFC 3339).
    pub date: String,
    /// `git rev-parse HEAD` of the tree measured, `-dirty` with uncommitted changes.
    pub commit: String,
    /// What else was true of the machine (`--conditions`: "another build loaded it"), or empty.
    #[serde(default)]
    pub conditions: String,
    pub rows: Vec<Row>,
}

/// The rows whose peer produced no numbers (not installed, or failed), each with its benchmark and why.
pub fn peers_not_measured(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.theirs.is_none())
        .filter_map(|r| r.peer.as_ref().map(|peer| format!("{}: {peer}: {}", r.benchmark, r.notes)))
        .collect()
}

/// A number with as many decimals as it deserves.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// `median (min–max)`, or `—`.
pub fn cell(s: Option<&Summary>) -> String {
    match s {
        Some(s) if s.runs > 1 => format!("{} ({}–{})", num(s.median), num(s.min), num(s.max)),
        Some(s) => num(s.median),
        None => "—".into(),
    }
}

/// The table printed to stdout: one line per row, columns padded to fit.
pub fn table(rows: &[Row]) -> String {
    let header = ["benchmark", "ours", "theirs", "peer", "ratio", "target", "unit", "notes"].map(String::from);
    let mut lines = vec![header.to_vec()];
    for r in rows {
        let ratio = r.ratio.map_or("—".into(), |v| format!("{:.2}×", v));
        let target = match (r.target, r.met) {
            (Some(t), Some(true)) => format!("≥{}× met", num(t)),
            (Some(t), Some(false)) => format!("≥{}× MISSED", num(t)),
            (Some(t), None) => format!("≥{}×", num(t)),
            (None, _) => String::new(),
        };
        lines.push(vec![
            r.benchmark.clone(),
            cell(r.ours.as_ref()),
            if r.peer.is_some() { cell(r.theirs.as_ref()) } else { String::new() },
            r.peer.clone().unwrap_or_default(),
            if r.peer.is_some() { ratio } else { String::new() },
            target,
            r.unit.clone(),
            r.notes.clone(),
        ]);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let cells: Vec<String> =
            line.iter().zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        out.push_str(cells.join(" | ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-|-"));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_computes_ratio_and_target() {
        let row = Row::compare("dhcp", "exch/s", Better::Higher, &[30.0, 10.0, 20.0], "kea", Ok(&[10.0]), Some(2.0));
        assert_eq!(row.ours.unwrap().median, 20.0);
        assert_eq!(row.ratio, Some(2.0));
        assert_eq!(row.met, Some(true));
        let row = Row::compare("dhcp", "exch/s", Better::Higher, &[10.0], "kea", Ok(&[10.0]), Some(2.0));
        assert_eq!(row.met, Some(false));
    }

    #[test]
    fn paired_rows_take_the_median_of_per_round_ratios() {
        // The machine halves its speed for the last two rounds; each round's ratio stays 0.9 or 1.0.
        let ours = [900.0, 1000.0, 1000.0, 450.0, 500.0];
        let theirs = [1000.0, 1000.0, 1000.0, 500.0, 500.0];
        let row = Row::compare_paired("write", "MiB/s", Better::Higher, &ours, "dd", &theirs, Some(0.95));
        assert_eq!(row.ratio, Some(1.0));
        assert_eq!(row.met, Some(true));
        assert!(row.notes.contains("per-round"), "{}", row.notes);
        let unpaired = Row::compare_paired("write", "MiB/s", Better::Higher, &ours, "dd", &theirs[..2], None);
        assert_eq!(unpaired.ratio, Some(0.9), "unequal rounds fall back to the ratio of medians");
    }

    #[test]
    fn an_unavailable_peer_is_said_so() {
        let row = Row::compare("t", "s", Better::Lower, &[1.0], "x", Err("peer unavailable".into()), Some(1.0));
        assert_eq!((row.theirs, row.ratio, row.met), (None, None, None));
        assert_eq!(row.with_note("more").notes, "peer unavailable; more");
    }

    #[test]
    fn a_peer_without_numbers_is_named() {
        let rows = [
            Row::compare("a", "s", Better::Lower, &[1.0], "nginx", Ok(&[2.0]), None),
            Row::compare("b", "s", Better::Lower, &[1.0], "kea", Err("peer unavailable: kea".into()), None),
            Row::ours_only("c", "s", Better::Lower, &[1.0]),
        ];
        assert_eq!(peers_not_measured(&rows), ["b: kea: peer unavailable: kea"]);
    }

    #[test]
    fn table_has_header_rule_and_cells() {
        let rows = [
            Row::compare("http 1 GiB", "MiB/s", Better::Higher, &[900.0, 1000.0], "nginx", Ok(&[1000.0]), Some(0.9)),
            Row::ours_only("storm N=5", "s", Better::Lower, &[0.5]),
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("benchmark"), "{text}");
        assert!(lines[1].starts_with("---"), "{text}");
        assert!(lines[2].contains("950 (900–1000)") && lines[2].contains("0.95×") && lines[2].contains("met"));
        assert!(lines[3].contains("0.50") && !lines[3].contains('×'), "{text}");
    }

    #[test]
    fn numbers_keep_sensible_precision() {
        assert_eq!(num(12345.6), "12346");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(1.234), "1.23");
        assert_eq!(num(0.01234), "0.012");
    }
}
