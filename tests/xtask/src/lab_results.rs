//! What the lab's benchmarks (`cargo xtask lab boot-time`, `lab whole-path`) write: their rows as
//! `cargo xtask bench` writes its own (with the machine, the date and the commit), and every round beside
//! them, in `target/bench/<name>.json`.

use anyhow::Context;
use rackhand_bench::report::{Results, Row};
use rackhand_lab::accel::Accel;
use serde::Serialize;

use crate::workspace_root;

/// Write `rows` and `rounds`, measured under `accel`, to `target/bench/<name>.json`.
pub fn write<R: Serialize>(name: &str, rows: Vec<Row>, rounds: &[R], accel: Accel) -> anyhow::Result<()> {
    let root = workspace_root();
    let results = Results {
        smoke: false,
        runs: rounds.len(),
        machine: rackhand_bench::machine::Machine::observe(),
        date: rackhand_bench::machine::now_utc(),
        commit: rackhand_bench::machine::git_commit(&root),
        conditions: format!("QEMU {}", accel.qemu_arg()),
        rows,
    };
    let out = root.join(format!("target/bench/{name}.json"));
    std::fs::create_dir_all(out.parent().expect("a parent"))?;
    let json = Json { results, rounds };
    std::fs::write(&out, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}

#[derive(Serialize)]
struct Json<'a, R> {
    #[serde(flatten)]
    results: Results,
    rounds: &'a [R],
}
