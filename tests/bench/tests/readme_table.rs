//! The README's benchmark table is what `docs/bench/results.json` generates (`cargo xtask bench-table`),
//! so no number in it is typed by hand and every number there has its machine, date and commit.

use std::path::Path;

use rackhand_bench::readme::{splice, table};
use rackhand_bench::report::Results;

#[test]
fn the_readme_table_is_generated_from_the_kept_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let results_path = root.join("docs/bench/results.json");
    let text = std::fs::read_to_string(&results_path).unwrap_or_else(|e| panic!("{}: {e}", results_path.display()));
    let results: Results = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", results_path.display()));
    assert!(!results.smoke, "{}: a smoke run's numbers say nothing about speed", results_path.display());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let expected = splice(&readme, &table(&results), "README.md").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        readme == expected,
        "README.md's benchmark table differs from what docs/bench/results.json generates: run `cargo xtask bench-table`"
    );
}
