//! The installer's milestones on a serial console, each at the time its line was complete: its first line
//! (the kernel has booted and unpacked the initramfs, `/init` runs), its last `module` line (every module in
//! `/etc/rackhand/modules` tried) and its first step on the console (modules loaded, NICs settled). Pure:
//! fed the console's bytes with the time they were read.

use serde::Serialize;

/// Every line the installer logs starts so (`installer::log`).
const INSTALLER: &str = "rackhand: ";
/// `rackhand: module NAME loaded` or `rackhand: module NAME: why` (`installer::pid1::init::load_modules`).
const MODULE: &str = "rackhand: module ";
/// `rackhand: step inspect running: …`, the first step the console shows (`installer::pid1::run_node`).
const STEP: &str = "rackhand: step ";

/// Seconds from QEMU's start to each milestone, and how the modules fared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Milestones {
    /// The installer's first line: kernel booted, initramfs unpacked, `/init` running.
    pub installer: f64,
    /// The last module's line (the installer's own start when it logged none).
    pub modules: f64,
    /// The installer's first step on its console: where a boot is stopped.
    pub first_step: f64,
    pub modules_loaded: usize,
    pub modules_failed: usize,
}

/// A boot's milestones, and each module's line with the seconds since the installer's previous line: what
/// loading it (and its driver's probe) took, to the console's resolution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub milestones: Milestones,
    pub modules: Vec<(String, f64)>,
}

/// The console so far: whole lines with the time each was complete, and the unfinished last line.
#[derive(Debug, Default)]
pub struct SerialClock {
    lines: Vec<(f64, String)>,
    partial: String,
}

impl SerialClock {
    /// Text read from the console at `at` seconds; the milestones once the first step has been shown.
    pub fn feed(&mut self, at: f64, text: &str) -> Option<Milestones> {
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.lines.push((at, line.trim_end_matches(['\r', '\n']).to_owned()));
        }
        self.milestones()
    }

    /// The milestones, if the installer's first step has been shown.
    pub fn milestones(&self) -> Option<Milestones> {
        let step = self.lines.iter().position(|(_, line)| line.contains(STEP))?;
        let before = &self.lines[..=step];
        let installer = before.iter().find(|(_, line)| line.contains(INSTALLER)).map(|(at, _)| *at)?;
        let modules: Vec<(f64, bool)> =
            before.iter().filter_map(|(at, line)| module_loaded(line).map(|ok| (*at, ok))).collect();
        Some(Milestones {
            installer,
            modules: modules.last().map_or(installer, |(at, _)| *at),
            first_step: self.lines[step].0,
            modules_loaded: modules.iter().filter(|(_, ok)| *ok).count(),
            modules_failed: modules.iter().filter(|(_, ok)| !*ok).count(),
        })
    }

    /// The milestones and each module's time, once the first step has been shown.
    pub fn timeline(&self) -> Option<Timeline> {
        let milestones = self.milestones()?;
        let mut previous = None;
        let mut modules = Vec::new();
        for (at, line) in self.lines.iter().take_while(|(_, line)| !line.contains(STEP)) {
            if let (Some(since), Some(name)) = (previous, module_name(line)) {
                modules.push((name.to_owned(), at - since));
            }
            if line.contains(INSTALLER) {
                previous = Some(*at);
            }
        }
        Some(Timeline { milestones, modules })
    }

    /// The last `n` lines, for saying where a boot stopped.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> =
            self.lines.iter().map(|(_, line)| line.as_str()).chain([self.partial.as_str()]).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// The module a module line names.
fn module_name(line: &str) -> Option<&str> {
    let rest = &line[line.find(MODULE)? + MODULE.len()..];
    rest.split_whitespace().next().map(|name| name.trim_end_matches(':'))
}

/// A module line: loaded (`true`) or refused (`false`); `None` for any other line.
fn module_loaded(line: &str) -> Option<bool> {
    let rest = &line[line.find(MODULE)? + MODULE.len()..];
    let mut words = rest.split_whitespace();
    let name = words.next()?;
    Some(!name.ends_with(':') && words.next() == Some("loaded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of a real boot's console (Debian 6.1 at loglevel=5, the lab's full initramfs), lines
    /// ending in CRLF as the serial port sends them.
    const CONSOLE: &str = "rackhand: node 1 (52:54:00:7a:01:01) reporting to http://10.77.0.1:8080 node=1\r\n\
        rackhand: module virtio_ring loaded node=1\r\n\
        [    3.387952] sd 0:0:0:0: Power-on or device reset occurred\r\n\
        rackhand: module ipmi_si: modprobe: can't load module ipmi_si (kernel/drivers/char/ipmi/ipmi_si.ko): No such device node=1\r\n\
        rackhand: module nls_utf8 loaded node=1\r\n\
        rackhand: step inspect running: listening for LLDP on eth0, eth1 node=1\r\n\
        \x1b[H\x1b[2J\x1b[1mRACKHAND INSTALLER  node 1  52:54:00:7a:01:01\x1b[0m\r\n\
        rackhand: step inspect failed: 5 blocking problem(s) node=1\r\n";

    fn fed_line_by_line(text: &str) -> (SerialClock, Vec<Option<Milestones>>) {
        let mut clock = SerialClock::default();
        let seen = text.split_inclusive('\n').enumerate().map(|(i, line)| clock.feed(i as f64, line)).collect();
        (clock, seen)
    }

    #[test]
    fn milestones_are_the_times_their_lines_were_complete() {
        let (_, seen) = fed_line_by_line(CONSOLE);
        assert_eq!(seen[..5], [None; 5], "no milestones before the first step");
        let expected =
            Milestones { installer: 0.0, modules: 4.0, first_step: 5.0, modules_loaded: 2, modules_failed: 1 };
        assert_eq!(seen[5], Some(expected));
        assert_eq!(seen[7], Some(expected), "later steps change nothing");
    }

    #[test]
    fn each_module_takes_the_time_since_the_installers_previous_line() {
        let (clock, _) = fed_line_by_line(CONSOLE);
        let timeline = clock.timeline().unwrap();
        assert_eq!(timeline.milestones, clock.milestones().unwrap());
        // The kernel's line between two module lines is not the installer's: ipmi_si took 2 s.
        let expected = [("virtio_ring", 1.0), ("ipmi_si", 2.0), ("nls_utf8", 1.0)];
        assert_eq!(timeline.modules, expected.map(|(name, s)| (name.to_owned(), s)));
        assert_eq!(SerialClock::default().timeline(), None);
    }

    #[test]
    fn a_line_counts_when_its_end_arrives() {
        let mut clock = SerialClock::default();
        assert_eq!(clock.feed(1.0, "rackhand: node 1 reporting\r\nrackhand: step insp"), None);
        let m = clock.feed(2.5, "ect running node=1\r\n").unwrap();
        assert_eq!((m.installer, m.first_step), (1.0, 2.5));
        assert_eq!((m.modules, m.modules_loaded, m.modules_failed), (1.0, 0, 0), "no module lines: the start");
    }

    #[test]
    fn kernel_lines_and_the_console_screen_are_no_milestones() {
        let mut clock = SerialClock::default();
        assert_eq!(
            clock.feed(1.0, "[    1.0] Run /init as init process\r\n\x1b[1mRACKHAND INSTALLER\x1b[0m\r\n"),
            None
        );
        let m = clock.feed(2.0, "rackhand: module e1000e loaded node=1\r\nrackhand: step inspect running\r\n").unwrap();
        assert_eq!((m.installer, m.modules, m.modules_loaded), (2.0, 2.0, 1));
    }

    #[test]
    fn the_tail_names_where_a_boot_stopped() {
        let mut clock = SerialClock::default();
        clock.feed(1.0, "one\r\ntwo\r\nthree\r\npart");
        assert_eq!(clock.tail(3), "two\nthree\npart");
        assert_eq!(clock.milestones(), None);
    }
}
