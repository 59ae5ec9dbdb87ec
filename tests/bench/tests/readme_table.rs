//! The README's benchmark tables are what the results kept under `docs/bench/` generate (`cargo xtask
//! bench-table`), so no number in them is typed by hand and every number there has its machine, date and
//! commit.

use std::path::Path;

use rackhand_bench::readme::{BLOCKS, parse_results, splice, table};

#[test]
fn the_readme_tables_are_generated_from_the_kept_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for block in &BLOCKS {
        let path = root.join(block.kept);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let results = parse_results(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!results.smoke, "{}: a smoke run's numbers say nothing about speed", path.display());
        let expected = splice(&readme, &table(&results), block, "README.md").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            readme == expected,
            "README.md's table between `{}` and its end differs from what {} generates: run `cargo xtask bench-table`",
            block.begin,
            block.kept
        );
    }
}
