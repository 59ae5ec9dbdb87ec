//! Where and when numbers were measured: the machine (cores, CPU model, kernel, memory), the date and
//! the commit, kept in every results file so that a number is never read without them.

use serde::{Deserialize, Serialize};

/// The machine a run measured on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// Cores the process may use (`available_parallelism`).
    pub cores: usize,
    /// `model name` from `/proc/cpuinfo` (the first core's), or `unknown`.
    pub cpu: String,
    /// The kernel as `uname -sr` prints it (`Linux 6.1.0-28-amd64`).
    pub kernel: String,
    pub memory_gib: u64,
}

impl Machine {
    /// This machine, read from `/proc`.
    pub fn observe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Machine::from_proc(
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            &read("/proc/cpuinfo"),
            &read("/proc/meminfo"),
            &read("/proc/sys/kernel/ostype"),
            &read("/proc/sys/kernel/osrelease"),
        )
    }

    /// From the texts of `/proc/cpuinfo`, `/proc/meminfo` and `/proc/sys/kernel/{ostype,osrelease}`.
    pub fn from_proc(cores: usize, cpuinfo: &str, meminfo: &str, ostype: &str, osrelease: &str) -> Machine {
        let kernel = format!("{} {}", ostype.trim(), osrelease.trim()).trim().to_owned();
        Machine {
            cores,
            cpu: cpu_model(cpuinfo).unwrap_or_else(|| "unknown".into()),
            kernel: if kernel.is_empty() { "unknown".into() } else { kernel },
            memory_gib: crate::parse::meminfo_total_kib(meminfo).map_or(0, |kib| (kib + (1 << 19)) >> 20),
        }
    }

    /// `2 cores, Intel(R) Xeon(R) …, 8 GiB, Linux 6.1.0`.
    pub fn summary(&self) -> String {
        format!("{} cores, {}, {} GiB, {}", self.cores, self.cpu, self.memory_gib, self.kernel)
    }
}

/// The first `model name` in `/proc/cpuinfo` (x86), else the first `Model`/`CPU part` line's value,
/// whitespace squeezed.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    let value = |key: &str| {
        cpuinfo.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key && !v.trim().is_empty()).then(|| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
    };
    value("model name").or_else(|| value("Model"))
}

/// Now, UTC, to the second: `2026-12-02T03:04:05Z`.
pub fn now_utc() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

/// The commit of the git work tree at `dir`, `-dirty` appended when it has uncommitted changes to
/// tracked files; `unknown` outside a work tree or without git.
pub fn git_commit(dir: &std::path::Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(head) if !head.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{head}-dirty") } else { head }
        }
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)   Platinum 8259CL CPU @ 2.50GHz\n\
                           flags\t\t: fpu avx512f\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz\n";

    #[test]
    fn reads_the_cpu_model_and_kernel() {
        let m = Machine::from_proc(2, CPUINFO, "MemTotal:        8131592 kB\n", "Linux\n", "6.1.0-28-amd64\n");
        assert_eq!(m.cpu, "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz");
        assert_eq!(m.kernel, "Linux 6.1.0-28-amd64");
        assert_eq!(m.memory_gib, 8);
        assert_eq!(m.summary(), "2 cores, Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz, 8 GiB, Linux 6.1.0-28-amd64");
    }

    #[test]
    fn arm_cpuinfo_and_nothing_at_all() {
        assert_eq!(
            cpu_model("processor : 0\nBogoMIPS : 48.00\nModel : Raspberry Pi 4 Model B\n").unwrap(),
            "Raspberry Pi 4 Model B"
        );
        let m = Machine::from_proc(1, "", "", "", "");
        assert_eq!((m.cpu.as_str(), m.kernel.as_str(), m.memory_gib), ("unknown", "unknown", 0));
    }

    #[test]
    fn the_date_is_utc_to_the_second() {
        let now = now_utc();
        assert_eq!(now.len(), "2026-12-02T03:04:05Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
