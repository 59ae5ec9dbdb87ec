use super::*;
use crate::archive::Content;

/// A kernel tree shaped like an unpacked, depmod'ed Debian package, with tiny fake modules.
fn fake_kernel(root: &Path) -> Kernel {
    let kernel = Kernel { root: root.to_owned(), version: "6.1.0-99-amd64".into() };
    let dir = kernel.modules_dir();
    let modules = [
        ("kernel/drivers/net/mii.ko", ""),
        ("kernel/drivers/net/ethernet/realtek/8139cp.ko", "kernel/drivers/net/mii.ko"),
        ("kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko", ""),
        ("kernel/drivers/net/bonding/bonding.ko", ""),
    ];
    let mut dep = String::new();
    for (path, deps) in modules {
        std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
        std::fs::write(dir.join(path), format!("module {path}")).unwrap();
        dep.push_str(&format!("{path}: {deps}\n").replace(": \n", ":\n"));
    }
    dep.push_str("kernel/drivers/unused/unused.ko:\n");
    std::fs::write(dir.join("modules.dep"), dep).unwrap();
    kernel
}

#[test]
fn assembles_init_busybox_modules_profiles_and_keys() {
    let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(Path::new).find(|p| p.exists()) else {
        return rackhand_netns::skip_unless_required("no busybox on this machine (apt-get install busybox-static)");
    };
    let dir = tempfile::tempdir().unwrap();
    let kernel = fake_kernel(&dir.path().join("kernel"));
    let installer = dir.path().join("installer");
    std::fs::write(&installer, b"\x7fELF installer").unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("qemu-lab.toml"), "x").unwrap();
    std::fs::write(profiles.join("README.md"), "not a profile").unwrap();
    let key = dir.path().join("lab.pub");
    std::fs::write(&key, "rackhand-ed25519 lab abc").unwrap();
    let fw_file = dir.path().join("rtl8168h-2.fw");
    std::fs::write(&fw_file, b"realtek firmware").unwrap();
    let licence = dir.path().join("copyright");
    std::fs::write(&licence, "Realtek: redistributable").unwrap();
    let pci_ids = dir.path().join("pci.ids");
    std::fs::write(&pci_ids, "8086  Intel Corporation\n").unwrap();
    let mut firmware = Firmware::default();
    firmware.files.insert("rtl_nic/rtl8168h-2.fw".into(), (fw_file.clone(), "firmware-realtek".into()));
    firmware.licences.insert("firmware-realtek".into(), licence.clone());
    firmware.missing.push(crate::firmware::Wanted { module: "bnx2x".into(), name: "bnx2x/b.fw".into() });

    let spec = Spec {
        kernel: &kernel,
        installer: &installer,
        busybox,
        binaries: &[],
        modules: &[("e1000e", ""), ("8139cp", ""), ("bonding", "max_bonds=0")],
        firmware: &firmware,
        pci_ids: Some(&pci_ids),
        profiles_dir: &profiles,
        keys: &[key],
    };
    let archive = assemble(&spec).unwrap();

    assert_eq!(archive.get("init").unwrap().content, Content::Copy(installer.clone()));
    assert_eq!(archive.get("bin/sh").unwrap().content, Content::Symlink("/bin/busybox".into()));
    assert!(archive.contains("sbin/modprobe"), "busybox applets are linked");
    let modules = "lib/modules/6.1.0-99-amd64";
    assert!(archive.contains(&format!("{modules}/kernel/drivers/net/mii.ko")), "dependency shipped");
    assert!(!archive.contains(&format!("{modules}/kernel/drivers/unused/unused.ko")), "only what is needed");
    let Content::Bytes(list) = &archive.get("etc/rackhand/modules").unwrap().content else { panic!() };
    assert_eq!(String::from_utf8_lossy(list), "e1000e\nmii\n8139cp\nbonding max_bonds=0\n");
    let Content::Bytes(dep) = &archive.get(&format!("{modules}/modules.dep")).unwrap().content else { panic!() };
    assert!(
        String::from_utf8_lossy(dep)
            .contains("kernel/drivers/net/ethernet/realtek/8139cp.ko: kernel/drivers/net/mii.ko")
    );
    assert!(archive.contains("etc/rackhand/profiles/qemu-lab.toml"));
    assert!(!archive.contains("etc/rackhand/profiles/README.md"));
    assert!(archive.contains("etc/rackhand/keys/lab.pub"));
    assert_eq!(archive.get("usr/share/misc/pci.ids").unwrap().content, Content::Copy(pci_ids));
    assert_eq!(archive.get("lib/firmware/rtl_nic/rtl8168h-2.fw").unwrap().content, Content::Copy(fw_file));
    assert_eq!(archive.get("usr/share/doc/firmware-realtek/copyright").unwrap().content, Content::Copy(licence));
    let Content::Bytes(shipped) = &archive.get("etc/rackhand/firmware").unwrap().content else { panic!() };
    let shipped = String::from_utf8_lossy(shipped);
    assert!(shipped.contains("rtl_nic/rtl8168h-2.fw firmware-realtek\n"), "{shipped}");
    assert!(shipped.contains("bnx2x/b.fw missing (bnx2x)\n"), "{shipped}");

    let mut gz = Vec::new();
    archive.write_gz(&mut gz).unwrap();
    assert!(gz.len() > 100);
}
