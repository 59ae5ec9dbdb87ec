//! Screen state → text, `width` columns wide (80 on a serial console). Pure.

use rackhand_api::human_bytes;

use super::{Failure, NodeIdentity, Progress, ScreenState};

/// One screen line; headlines are bold on an ANSI terminal.
struct Line {
    text: String,
    bold: bool,
}

/// The screen as plain text, every line at most `width` columns.
pub fn render_screen(state: &ScreenState, width: usize) -> String {
    lines(state, width).into_iter().map(|l| l.text + "\n").collect()
}

/// The screen for a terminal: clear it, home the cursor, headlines in bold.
pub fn render_ansi(state: &ScreenState, width: usize) -> String {
    let mut out = String::from("\x1b[H\x1b[2J");
    for line in lines(state, width) {
        if line.bold {
            out.push_str(&format!("\x1b[1m{}\x1b[0m\r\n", line.text));
        } else {
            out.push_str(&line.text);
            out.push_str("\r\n");
        }
    }
    out
}

fn lines(state: &ScreenState, width: usize) -> Vec<Line> {
    let width = width.max(40);
    let mut out = Vec::new();
    let plain = |out: &mut Vec<Line>, text: String| out.push(Line { text, bold: false });
    out.push(Line { text: fit(&header(&state.node), width), bold: true });
    for text in identity(&state.node, state.profile.as_deref()) {
        plain(&mut out, fit(&text, width));
    }
    plain(&mut out, "-".repeat(width));
    for step in &state.steps {
        let head = format!("  [{:<7}] {}", step.state.label(), step.name);
        let text = match &step.detail {
            Some(d) => format!("{head}: {d}"),
            None => head,
        };
        for l in wrap(&text, width, 13) {
            plain(&mut out, l);
        }
    }
    if let Some(progress) = &state.progress {
        plain(&mut out, String::new());
        for l in progress_lines(progress, width) {
            plain(&mut out, l);
        }
    }
    if let Some(failure) = &state.failure {
        failure_lines(&mut out, failure, width);
    }
    if let Some(footer) = &state.footer {
        plain(&mut out, String::new());
        for l in wrap(footer, width, 0) {
            out.push(Line { text: l, bold: true });
        }
    }
    out
}

fn header(node: &NodeIdentity) -> String {
    let id = match (&node.name, &node.id) {
        (Some(name), Some(id)) => format!("  {name} (node {id})"),
        (Some(name), None) => format!("  {name}"),
        (None, Some(id)) => format!("  node {id}"),
        (None, None) => String::new(),
    };
    let mac = node.mac.as_deref().map_or(String::new(), |m| format!("  {m}"));
    format!("RACKHAND INSTALLER{id}{mac}")
}

fn identity(node: &NodeIdentity, profile: Option<&str>) -> Vec<String> {
    let unknown = |s: &Option<String>| s.clone().unwrap_or_else(|| "unknown".into());
    let mut out = vec![format!("system: {} {}", unknown(&node.vendor), unknown(&node.product))];
    let mut second = format!("serial: {}", unknown(&node.serial));
    if let Some(p) = profile {
        second.push_str(&format!("   profile: {p}"));
    }
    out.push(second);
    out
}

fn progress_lines(p: &Progress, width: usize) -> Vec<String> {
    let pct = if p.total == 0 { 0 } else { (p.done.min(p.total) as u128 * 100 / p.total as u128) as usize };
    let numbers =
        format!(" {pct:>3}%  {} / {}  {}/s", human_bytes(p.done), human_bytes(p.total), human_bytes(p.bytes_per_sec));
    let label = format!("  {} ", p.label);
    let room = width.saturating_sub(label.len() + numbers.len() + 2).clamp(10, 50);
    let filled = room * pct / 100;
    let bar = format!("[{}{}]", "#".repeat(filled), ".".repeat(room - filled));
    let line = format!("{label}{bar}{numbers}");
    if line.chars().count() <= width { vec![line] } else { vec![format!("{label}{bar}"), format!("  {numbers}")] }
}

fn failure_lines(out: &mut Vec<Line>, failure: &Failure, width: usize) {
    let rule = "=".repeat(width);
    let push = |out: &mut Vec<Line>, text: String, bold: bool| out.push(Line { text, bold });
    push(out, String::new(), false);
    push(out, rule.clone(), true);
    push(out, fit(&format!("  {}", spaced("INSTALL FAILED")), width), true);
    let count = match failure.problems.len() {
        0 => "NOTHING TO FIX ON THE HARDWARE: SEE THE REASON BELOW".to_owned(),
        1 => "1 PROBLEM TO FIX ON THIS SERVER".to_owned(),
        n => format!("{n} PROBLEMS TO FIX ON THIS SERVER"),
    };
    push(out, fit(&format!("  {count}"), width), true);
    push(out, rule, true);
    for l in wrap(&format!("REASON: {}", failure.reason), width, 8) {
        push(out, l, false);
    }
    for (i, problem) in failure.problems.iter().enumerate() {
        push(out, String::new(), false);
        let head = format!("{}. {} — {}", i + 1, problem.part.to_uppercase(), problem.message);
        for l in wrap(&head, width, 3) {
            push(out, l, true);
        }
        for l in wrap(&format!("   FIX: {}", problem.fix), width, 8) {
            push(out, l, false);
        }
    }
}

/// `F A I L E D`: a headline that stands out in plain text.
fn spaced(text: &str) -> String {
    text.chars().map(|c| c.to_string()).collect::<Vec<_>>().join(" ")
}

/// Truncate to `width` columns.
fn fit(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// Word-wrap `text` to `width` columns; continuation lines are indented by `indent`. Words longer than a
/// line are cut.
pub fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    if text.chars().count() <= width {
        return vec![text.to_owned()];
    }
    let lead: String = text.chars().take_while(|c| *c == ' ').collect();
    let mut lines = Vec::new();
    let mut line = lead.clone();
    let mut fresh = true;
    for word in text.split_whitespace() {
        let word_len = word.chars().count();
        let line_len = line.chars().count();
        if !fresh && line_len + 1 + word_len > width {
            lines.push(std::mem::take(&mut line));
            line = " ".repeat(indent);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        let room = width.saturating_sub(line.chars().count()).max(1);
        line.extend(word.chars().take(room));
        fresh = false;
    }
    lines.push(line);
    lines
}
