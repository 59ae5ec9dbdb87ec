//! `cargo xtask test`: every check CI runs, in the order that fails fastest.

use std::process::Command;

use crate::{packages, run_cmd, tee, workspace_root};

pub fn run(install: bool, cargo_args: &[String]) -> anyhow::Result<()> {
    packages::ensure_without_starting(packages::TEST, install)?;
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    run_cmd(Command::new(&cargo).current_dir(&root).args(["fmt", "--all", "--", "--check"]))?;
    run_cmd(Command::new(&cargo).current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The docs are for the people working on Rackhand: private items included (so a link to one resolves,
    // and its lint is off), and a broken or ambiguous link fails like a warning in the code does.
    run_cmd(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["doc", "--workspace", "--no-deps", "--document-private-items"])
            .env("RUSTDOCFLAGS", "-D warnings -A rustdoc::private_intra_doc_links"),
    )?;

    let mut test = Command::new(&cargo);
    test.current_dir(&root).args(["test", "--workspace"]).args(cargo_args);
    // Every test's own output reaches the console (and the scan below), not only a failing test's.
    test.env("RUST_TEST_NOCAPTURE", "1");
    let root_run = packages::running_as_root();
    if root_run {
        // As root nothing excuses a namespace test from running: a skip would hide a broken setup.
        test.env(rackhand_netns::REQUIRE_ENV, "1");
        // Nor is a store test excused from running against PostgreSQL (installed with the packages).
        test.env(rackhand_test_postgres::REQUIRE_ENV, "1");
        // Nor a BMC test against OpenIPMI's simulator (installed with the packages).
        test.env(rackhand_test_bmc::REQUIRE_ENV, "1");
        // Nor an SMBIOS test against dmidecode (installed with the packages).
        test.env(rackhand_test_dmidecode::REQUIRE_ENV, "1");
        // The QEMU lab's assets are built once here and shared by every end-to-end test.
        let lab = crate::lab::prepare(install)?;
        test.env(rackhand_lab::ENV_ASSETS, &lab.assets.dir)
            .env(rackhand_lab::ENV_BOOT_SERVICE, &lab.boot_service)
            .env(rackhand_lab::ENV_IMAGES, &lab.images)
            .env(rackhand_lab::ENV_ACCEL, lab.accel.qemu_arg());
        // The boot service's Debian package as operators get it (one release build; light compression, as
        // it is installed once and purged), which `tests/package` installs, runs as its unit would, and purges.
        let deb = crate::package::build(crate::package::RELEASE, true)?;
        test.env(rackhand_package_test::ENV_DEB, &deb);
    } else {
        eprintln!("xtask: not root, so network-namespace and QEMU lab tests will say SKIPPED");
    }
    let (status, skips) = tee::run_scanning(&mut test)?;
    let named = skips.iter().map(|s| format!("  {s}")).collect::<Vec<_>>().join("\n");
    anyhow::ensure!(
        status.success(),
        "`cargo test` failed: {status}{}",
        if skips.is_empty() { String::new() } else { format!("; and these tests skipped:\n{named}") }
    );
    if !skips.is_empty() {
        // As root every test runs or fails: a skip means a missing package, driver or setup.
        anyhow::ensure!(!root_run, "{} test(s) skipped in a root run (each must run or fail):\n{named}", skips.len());
        eprintln!("xtask: {} test(s) skipped (not root):\n{named}", skips.len());
    }
    // Benchmarks are not tests, but one tiny run of each keeps them from rotting.
    crate::bench::smoke(install)
}
