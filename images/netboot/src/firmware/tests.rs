use std::os::unix::fs::symlink;

use super::*;

fn want(module: &str, name: &str) -> Wanted {
    Wanted { module: module.into(), name: name.into() }
}

/// A package tree as `dpkg -x` leaves it: files under lib/firmware, the licence under usr/share/doc.
fn package(root: &Path, name: &str, files: &[&str]) -> Unpacked {
    let unpacked = Unpacked { package: name.into(), root: root.join(name) };
    for file in files {
        let path = unpacked.root.join("lib/firmware").join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("firmware {file}")).unwrap();
    }
    let doc = unpacked.root.join("usr/share/doc").join(name);
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(doc.join("copyright"), format!("{name}: redistributable")).unwrap();
    unpacked
}

#[test]
fn modinfo_lines_are_the_wanted_files() {
    let text = "bnx2x/bnx2x-e2-7.13.21.0.fw\nbnx2x/bnx2x-e1h-7.13.21.0.fw\n\n";
    assert_eq!(
        parse_modinfo_firmware("bnx2x", text),
        vec![want("bnx2x", "bnx2x/bnx2x-e2-7.13.21.0.fw"), want("bnx2x", "bnx2x/bnx2x-e1h-7.13.21.0.fw")]
    );
    assert!(parse_modinfo_firmware("e1000e", "").is_empty());
}

#[test]
fn each_wanted_file_comes_from_the_package_that_has_it_with_its_licence() {
    let dir = tempfile::tempdir().unwrap();
    let bnx2x = package(dir.path(), "firmware-bnx2x", &["bnx2x/bnx2x-e2-7.13.21.0.fw"]);
    let misc = package(dir.path(), "firmware-misc-nonfree", &["intel/ice/ddp/ice-1.3.30.0.pkg", "tigon/tg3.bin"]);
    // Debian ships ice.pkg as a symlink to the versioned package.
    symlink("ice-1.3.30.0.pkg", misc.root.join("lib/firmware/intel/ice/ddp/ice.pkg")).unwrap();
    let wanted = [
        want("bnx2x", "bnx2x/bnx2x-e2-7.13.21.0.fw"),
        want("ice", "intel/ice/ddp/ice.pkg"),
        want("tg3", "tigon/tg3.bin"),
        want("tg3_again", "tigon/tg3.bin"),
        want("r8169", "rtl_nic/rtl8168h-2.fw"),
    ];
    let firmware = select(&wanted, &[bnx2x.clone(), misc.clone()]);
    let (ice, package) = &firmware.files["intel/ice/ddp/ice.pkg"];
    assert_eq!(std::fs::read_to_string(ice).unwrap(), "firmware intel/ice/ddp/ice-1.3.30.0.pkg");
    assert_eq!(package, "firmware-misc-nonfree");
    assert_eq!(firmware.files["bnx2x/bnx2x-e2-7.13.21.0.fw"].1, "firmware-bnx2x");
    assert_eq!(firmware.files.len(), 3, "one copy of a file two modules name");
    assert_eq!(firmware.missing, vec![want("r8169", "rtl_nic/rtl8168h-2.fw")]);
    assert_eq!(firmware.licences.keys().collect::<Vec<_>>(), ["firmware-bnx2x", "firmware-misc-nonfree"]);
    let list = firmware.list();
    assert!(list.contains("intel/ice/ddp/ice.pkg firmware-misc-nonfree\n"), "{list}");
    assert!(list.contains("rtl_nic/rtl8168h-2.fw missing (r8169)\n"), "{list}");
    let contents = ["bnx2x/bnx2x-e2-7.13.21.0.fw", "intel/ice/ddp/ice-1.3.30.0.pkg", "tigon/tg3.bin"];
    assert_eq!(firmware.size_bytes(), contents.iter().map(|f| format!("firmware {f}").len() as u64).sum::<u64>());
}

#[test]
fn nothing_outside_a_package_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "not firmware").unwrap();
    let pkg = package(dir.path(), "firmware-evil", &[]);
    std::fs::create_dir_all(pkg.root.join("lib/firmware/x")).unwrap();
    symlink(dir.path().join("secret"), pkg.root.join("lib/firmware/x/out.bin")).unwrap();
    let wanted = [want("m", "x/out.bin"), want("m", "../../../secret"), want("m", "/etc/passwd")];
    let firmware = select(&wanted, &[pkg]);
    assert!(firmware.files.is_empty(), "{firmware:?}");
    assert_eq!(firmware.missing.len(), 3);
}

#[test]
fn the_suite_and_mirror_come_from_this_machine() {
    assert_eq!(codename("ID=debian\nVERSION_CODENAME=bookworm\n").as_deref(), Some("bookworm"));
    assert_eq!(codename("ID=alpine\n"), None);
    let sources = "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n\n\
                   Types: deb\nURIs: http://deb.debian.org/debian-security\n";
    assert_eq!(mirror(sources), "http://mirror.example/debian/");
    assert_eq!(mirror(""), "http://deb.debian.org/debian");
}
