//! `images debian`: a real Debian 12 (bookworm) root filesystem as a raw ext4 image, built from Debian's
//! packages with `mmdebstrap` and `mke2fs -d` (no loop mounts).
//!
//! The image is what the installer writes onto `/dev/md0` (RAID1 over partition 3 of two disks). The
//! installer then runs `grub-install` in a chroot (i386-pc, and x86_64-efi `--removable --no-nvram` into
//! each disk's EFI system partition), writes the node's own files (hostname, network, SSH host keys) and
//! reboots into it. So the image carries:
//!
//! * GRUB's tools and modules for both platforms and a static `/boot/grub/grub.cfg` that finds the root
//!   filesystem by its fixed UUID ([`ROOT_FS_UUID`]) and boots Debian's `/vmlinuz` and `/initrd.img`
//!   symlinks (valid across kernel upgrades), on console and serial;
//! * an initramfs (`MODULES=most`) with mdadm and a `mdadm.conf` without ARRAY lines and with
//!   `HOMEHOST <ignore>`, so it assembles arrays it has never seen, made on other hosts;
//! * systemd-networkd (+ wait-online) and ssh enabled, no SSH host keys (each server makes its own),
//!   an empty machine-id, root's password locked, hostname `localhost`.
//!
//! Docs, man pages, locales and kernel-module trees a server never needs are left out by dpkg
//! `path-exclude`s (which stay in the image, so upgrades keep them out too).
//!
//! The build is skipped when the output exists and `OUT.recipe` holds the current recipe text
//! ([`Recipe::text`]): everything that decides the image except the package versions on the mirror.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The root filesystem's fixed UUID, as a literal so `concat!` can splice it into static text.
macro_rules! root_uuid {
    () => {
        "6b3c4a52-1d0e-4f7a-9c85-72a1e5d0b9f3"
    };
}

/// The root filesystem's UUID: fixed, so GRUB's config and `/etc/fstab` can name it before it exists.
pub const ROOT_FS_UUID: &str = root_uuid!();
pub const ROOT_FS_LABEL: &str = "rackhand-root";
pub const SUITE: &str = "bookworm";
pub const VARIANT: &str = "minbase";
/// Bumped by hand when something outside [`Recipe::text`] changes what a build produces.
const RECIPE_VERSION: u32 = 1;

/// The packages beyond `minbase` (Priority: required + apt).
pub const PACKAGES: &[&str] = &[
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "dbus",
    "mdadm",
    "openssh-server",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "grub2-common",
    "dosfstools",
    "e2fsprogs",
    "initramfs-tools",
    "kmod",
    "iproute2",
    "procps",
    // sfdisk: the agent gives a disk swapped into an OS bay the partition table of the disk beside it.
    "fdisk",
    // initramfs-tools compresses with zstd and falls back to gzip without it (a Recommends, and
    // mmdebstrap installs no Recommends); busybox (also a Recommends) gives the initramfs a usable
    // rescue shell when the root cannot be found.
    "zstd",
    "busybox",
];

/// mmdebstrap's own hooks that lay the tree out merged-/usr and install `usr-is-merged` before anything
/// else: init-system-helpers needs `usrmerge | usr-is-merged`, and apt would otherwise pick usrmerge,
/// which pulls in perl (about 50 MB) to convert a tree that is already merged.
const MERGED_USR_HOOKS: &str = "/usr/share/mmdebstrap/hooks/merged-usr";

/// Paths dpkg never unpacks (documentation: copyright files stay).
const DPKG_EXCLUDES: &[&str] =
    &["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*", "/usr/share/lintian/*"];
const DPKG_INCLUDES: &[&str] = &["/usr/share/doc/*/copyright"];

/// Kernel-module trees (under `/lib/modules/VERSION/kernel/`) a server never loads. Storage, md,
/// bonding, every wired NIC, ext4/vfat and HID/USB stay.
pub const EXCLUDED_MODULE_TREES: &[&str] = &[
    "drivers/gpu",
    "sound",
    "drivers/media",
    "drivers/net/wireless",
    "net/wireless",
    "net/mac80211",
    "drivers/bluetooth",
    "net/bluetooth",
    "drivers/infiniband",
    "drivers/staging",
    "drivers/iio",
    "drivers/isdn",
    "drivers/comedi",
    "drivers/nfc",
    "net/nfc",
    "drivers/net/wwan",
];

/// Bytes an ext4 image gets per byte of tree, as a ratio: the tree plus 20%.
const HEADROOM: (u64, u64) = (6, 5);
/// Journal and the other fixed metadata of a small ext4 filesystem.
const FS_OVERHEAD: u64 = 32 << 20;
const IMAGE_ALIGN: u64 = 4 << 20;
/// Inodes per file of the tree (room for the installed system to grow), and mke2fs's usual minimum.
const INODES_PER_ENTRY: u64 = 2;
const BYTES_PER_INODE: u64 = 16384;

#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error("starting `{command}`: {source} (is it installed?)")]
    Spawn { command: String, source: io::Error },
    #[error("`{command}` failed ({status}){}", output_tail(.output))]
    Failed { command: String, status: std::process::ExitStatus, output: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the built tree is not what the image needs: {0}")]
    Check(String),
}

fn output_tail(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(15)..];
    format!(":\n{}", tail.join("\n"))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DebianError + '_ {
    move |source| DebianError::Io { path: path.to_path_buf(), source }
}

/// Where the packages come from: one-line apt sources for the suite, its updates and its security archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub sources: Vec<String>,
}

impl Recipe {
    /// The recipe with the host's Debian mirror (`/etc/apt/sources.list.d/debian.sources`, else
    /// deb.debian.org).
    pub fn from_host() -> Recipe {
        let text = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
        Recipe::with_mirrors(&mirrors_from_deb822(&text))
    }

    pub fn with_mirrors(mirrors: &Mirrors) -> Recipe {
        Recipe {
            sources: vec![
                format!("deb {} {SUITE} main", mirrors.archive),
                format!("deb {} {SUITE}-updates main", mirrors.archive),
                format!("deb {} {SUITE}-security main", mirrors.security),
            ],
        }
    }

    /// Everything that decides the image, as text; `OUT.recipe` holds it and a build whose recipe text
    /// matches is skipped.
    pub fn text(&self) -> String {
        let mut text = format!("rackhand debian image recipe v{RECIPE_VERSION}\n");
        let mut add = |key: &str, value: &str| {
            for line in value.lines() {
                let _ = writeln!(text, "{key}: {line}");
            }
        };
        // The very arguments the build runs with (paths are the build's own, so placeholders here).
        for arg in mmdebstrap_args(self, Path::new("ROOT"), Path::new("DEBS"), Path::new("OVERLAY")) {
            add("mmdebstrap", &arg.to_string_lossy());
        }
        for file in overlay_files() {
            add(&format!("file {} {:o}", file.path, file.mode), file.contents);
        }
        for arg in mke2fs_args(Path::new("ROOT"), Path::new("IMAGE"), 0) {
            add("mke2fs", &arg.to_string_lossy());
        }
        let size = format!(
            "tree x {}/{} + {FS_OVERHEAD}, aligned to {IMAGE_ALIGN}; inodes {INODES_PER_ENTRY} per entry, \
             at least one per {BYTES_PER_INODE} bytes",
            HEADROOM.0, HEADROOM.1
        );
        add("size", &size);
        text
    }

    /// The BLAKE3 of [`Recipe::text`], in hex.
    pub fn fingerprint(&self) -> String {
        blake3::hash(self.text().as_bytes()).to_hex().to_string()
    }
}

/// The Debian archive and security archive URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrors {
    pub archive: String,
    pub security: String,
}

/// The mirrors of a deb822 sources file: the `URIs` of the stanza whose suites end in `-security` is the
/// security archive, the first other `deb` stanza's the main archive; deb.debian.org for what is missing.
pub fn mirrors_from_deb822(text: &str) -> Mirrors {
    let mut archive = None;
    let mut security = None;
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .filter(|line| !line.trim_start().starts_with('#'))
                .find_map(|line| line.split_once(':').filter(|(key, _)| key.trim().eq_ignore_ascii_case(name)))
                .map(|(_, value)| value.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        if !field("Types").iter().any(|kind| kind == "deb") {
            continue;
        }
        let Some(uri) = field("URIs").into_iter().next() else { continue };
        let slot =
            if field("Suites").iter().any(|suite| suite.ends_with("-security")) { &mut security } else { &mut archive };
        slot.get_or_insert(uri.trim_end_matches('/').to_string());
    }
    Mirrors {
        archive: archive.unwrap_or_else(|| "http://deb.debian.org/debian".into()),
        security: security.unwrap_or_else(|| "http://deb.debian.org/debian-security".into()),
    }
}

/// dpkg's `path-exclude`/`path-include` options (mmdebstrap writes them to `/etc/dpkg/dpkg.cfg.d/99mmdebstrap`).
pub fn dpkg_options() -> Vec<String> {
    let mut options: Vec<String> = DPKG_EXCLUDES.iter().map(|path| format!("path-exclude={path}")).collect();
    options.extend(DPKG_INCLUDES.iter().map(|path| format!("path-include={path}")));
    // Bookworm's kernels ship modules under /lib/modules, later ones under /usr/lib/modules.
    for prefix in ["/lib/modules", "/usr/lib/modules"] {
        for tree in EXCLUDED_MODULE_TREES {
            options.push(format!("path-exclude={prefix}/*/kernel/{tree}/*"));
        }
    }
    options
}

/// A file the build puts into the tree before the initramfs is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayFile {
    /// Relative to the root.
    pub path: &'static str,
    pub mode: u32,
    pub contents: &'static str,
}

const FSTAB: &str = concat!(
    "# Rackhand: the root filesystem (on /dev/md0 once installed), found by its fixed UUID.\n",
    "UUID=",
    root_uuid!(),
    " / ext4 errors=remount-ro 0 1\n"
);

const GRUB_CFG: &str = concat!(
    "# Rackhand: static, not made by update-grub; the root filesystem is found by its fixed UUID, and\n",
    "# /vmlinuz and /initrd.img are Debian's symlinks to the newest kernel.\n",
    "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n",
    "terminal_input console serial\n",
    "terminal_output console serial\n",
    "set timeout=1\n",
    "set default=0\n",
    "insmod part_gpt\n",
    "insmod part_msdos\n",
    "insmod diskfilter\n",
    "insmod mdraid1x\n",
    "insmod ext2\n",
    "search --no-floppy --fs-uuid --set=root ",
    root_uuid!(),
    "\n",
    "menuentry 'Debian GNU/Linux 12 (Rackhand)' {\n",
    "\tlinux /vmlinuz root=UUID=",
    root_uuid!(),
    " ro console=tty0 console=ttyS0,115200n8\n",
    "\tinitrd /initrd.img\n",
    "}\n"
);

const MDADM_CONF: &str = "\
# Rackhand: no ARRAY lines. The arrays are made by the installer on servers this image has never seen,
# under their own homehost; assemble whatever is found, wherever it was made.
HOMEHOST <ignore>
AUTO +all
MAILADDR root
";

const SSHD_CONF: &str = "\
# Rackhand: each server makes its own host keys at install time (ed25519 and ecdsa only).
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PasswordAuthentication no
PermitRootLogin prohibit-password
";

/// The build cannot probe the root's type (its device does not exist yet); without it the initramfs
/// would have no fsck for the root.
const INITRAMFS_CONF: &str = "\
# Rackhand: the root filesystem is ext4; put its fsck into the initramfs.
FSTYPE=ext4
";

const HOSTS: &str = "\
127.0.0.1\tlocalhost
::1\t\tlocalhost ip6-localhost ip6-loopback
ff02::1\t\tip6-allnodes
ff02::2\t\tip6-allrouters
";

/// The static text the build writes into the tree.
pub fn overlay_files() -> Vec<OverlayFile> {
    vec![
        OverlayFile { path: "etc/fstab", mode: 0o644, contents: FSTAB },
        OverlayFile { path: "boot/grub/grub.cfg", mode: 0o644, contents: GRUB_CFG },
        OverlayFile { path: "etc/mdadm/mdadm.conf", mode: 0o644, contents: MDADM_CONF },
        OverlayFile { path: "etc/ssh/sshd_config.d/rackhand.conf", mode: 0o644, contents: SSHD_CONF },
        OverlayFile { path: "etc/initramfs-tools/conf.d/rackhand.conf", mode: 0o644, contents: INITRAMFS_CONF },
        OverlayFile { path: "etc/hostname", mode: 0o644, contents: "localhost\n" },
        OverlayFile { path: "etc/hosts", mode: 0o644, contents: HOSTS },
    ]
}

/// Runs inside mmdebstrap's customize phase (`$1` is the root, with /proc, /sys and /dev mounted), after
/// the overlay is in place.
const CUSTOMIZE_SCRIPT: &str = r#"set -eu
root="$1"
chroot "$root" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service ssh.service
chroot "$root" passwd --lock root
for link in vmlinuz initrd.img; do
    if [ ! -e "$root/$link" ]; then
        newest=$(cd "$root" && ls -1v boot/$link-* | tail -n 1)
        ln -sfn "$newest" "$root/$link"
    fi
done
rm -f "$root/vmlinuz.old" "$root/initrd.img.old"
chroot "$root" update-initramfs -u -k all
rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id" "$root/etc/resolv.conf"
: > "$root/etc/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log "$root"/var/log/apt/*
"#;

/// mmdebstrap's arguments (after the program name) to build `root` from `recipe`: the .deb cache in `debs`
/// is copied in first and back out after, the overlay in `overlay` is synced over the tree before
/// [`CUSTOMIZE_SCRIPT`] runs.
pub fn mmdebstrap_args(recipe: &Recipe, root: &Path, debs: &Path, overlay: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--mode=root".into(),
        format!("--variant={VARIANT}").into(),
        "--format=directory".into(),
        format!("--include={}", PACKAGES.join(",")).into(),
        format!("--hook-dir={MERGED_USR_HOOKS}").into(),
    ];
    args.extend(dpkg_options().into_iter().map(|option| OsString::from(format!("--dpkgopt={option}"))));
    let quoted = |path: &Path| shell_quote(&path.to_string_lossy());
    args.extend(
        [
            "--skip=download/empty".to_string(),
            "--skip=essential/unlink".to_string(),
            "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/".to_string(),
            format!("--setup-hook=sync-in {} /var/cache/apt/archives/", quoted(debs)),
            format!("--customize-hook=sync-out /var/cache/apt/archives {}", quoted(debs)),
            format!("--customize-hook=sync-in {} /", quoted(overlay)),
            format!("--customize-hook={CUSTOMIZE_SCRIPT}"),
        ]
        .map(OsString::from),
    );
    args.push(SUITE.into());
    args.push(root.as_os_str().to_owned());
    args.extend(recipe.sources.iter().map(OsString::from));
    args
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The ext4 image's size for a tree of `tree_bytes` (allocated): the tree plus 20% plus the journal,
/// rounded up to 4 MiB.
pub fn image_size(tree_bytes: u64) -> u64 {
    let wanted = (tree_bytes * HEADROOM.0).div_ceil(HEADROOM.1) + FS_OVERHEAD;
    wanted.div_ceil(IMAGE_ALIGN) * IMAGE_ALIGN
}

/// Inodes for a tree of `entries` files: twice the tree, and never fewer than mke2fs's usual one per
/// 16 KiB (`resize2fs` keeps the ratio when the installer grows the filesystem).
pub fn inode_count(entries: u64, image_size: u64) -> u64 {
    (entries * INODES_PER_ENTRY).max(image_size / BYTES_PER_INODE)
}

/// mke2fs's arguments to make `image` (already `size` bytes long) from `root`.
pub fn mke2fs_args(root: &Path, image: &Path, inodes: u64) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        ["-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256"].into_iter().map(OsString::from).collect();
    args.extend(["-N".into(), inodes.to_string().into(), "-L".into(), ROOT_FS_LABEL.into()]);
    args.extend(["-U", ROOT_FS_UUID, "-E", "root_owner=0:0", "-d"].map(OsString::from));
    args.push(root.as_os_str().to_owned());
    args.push(image.as_os_str().to_owned());
    args
}

/// What [`build`] made (or found made).
#[derive(Debug, Clone)]
pub struct Built {
    pub size: u64,
    /// Bytes the tree took on the build host's disk (0 when the build was skipped).
    pub tree_bytes: u64,
    /// Whether the image was already there with a matching recipe.
    pub cached: bool,
}

/// The file next to `out` holding the recipe it was built from.
pub fn recipe_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".recipe");
    PathBuf::from(name)
}

/// Whether `out` exists and was built from `recipe`.
pub fn is_current(recipe: &Recipe, out: &Path) -> bool {
    out.is_file() && fs::read_to_string(recipe_path(out)).is_ok_and(|text| text == recipe.text())
}

/// Builds the image into `out` unless it is current. Work happens in `OUT.build/` (removed afterwards,
/// mmdebstrap's log kept there on failure); downloaded packages are kept in `cache/debs` when a cache
/// dir is given. Needs root.
pub fn build(recipe: &Recipe, out: &Path, cache: Option<&Path>) -> Result<Built, DebianError> {
    if is_current(recipe, out) {
        let size = fs::metadata(out).map_err(io_error(out))?.len();
        return Ok(Built { size, tree_bytes: 0, cached: true });
    }
    let mut work = out.as_os_str().to_owned();
    work.push(".build");
    let work = PathBuf::from(work);
    if work.exists() {
        fs::remove_dir_all(&work).map_err(io_error(&work))?;
    }
    let root = work.join("root");
    let overlay = work.join("overlay");
    let debs = cache.map_or_else(|| work.join("debs"), |cache| cache.join("debs"));
    for dir in [&overlay, &debs] {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    write_overlay(&overlay)?;
    let _ = fs::remove_file(recipe_path(out));

    let log = work.join("mmdebstrap.log");
    run_logged(Command::new("mmdebstrap").args(mmdebstrap_args(recipe, &root, &debs, &overlay)), &log)?;
    check_tree(&root)?;
    let (tree_bytes, entries) = tree_usage(&root)?;

    let size = image_size(tree_bytes);
    let staged = work.join("image.ext4");
    let file = File::create(&staged).map_err(io_error(&staged))?;
    file.set_len(size).map_err(io_error(&staged))?;
    drop(file);
    run(Command::new("mke2fs").args(mke2fs_args(&root, &staged, inode_count(entries, size))))?;
    run(Command::new("e2fsck").arg("-fn").arg(&staged))?;
    fs::rename(&staged, out).map_err(io_error(out))?;
    let recipe_file = recipe_path(out);
    fs::write(&recipe_file, recipe.text()).map_err(io_error(&recipe_file))?;
    fs::remove_dir_all(&work).map_err(io_error(&work))?;
    Ok(Built { size, tree_bytes, cached: false })
}

fn write_overlay(overlay: &Path) -> Result<(), DebianError> {
    for file in overlay_files() {
        let path = overlay.join(file.path);
        let parent = path.parent().expect("overlay files are in directories");
        fs::create_dir_all(parent).map_err(io_error(parent))?;
        fs::write(&path, file.contents).map_err(io_error(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode)).map_err(io_error(&path))?;
    }
    // sync-in copies directories' modes too: make them the tree's usual 0755.
    let mut dirs = vec![overlay.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(io_error(&dir))?;
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let path = entry.map_err(io_error(&dir))?.path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    Ok(())
}

/// Checks the built tree for what the installer and the first boot rely on.
fn check_tree(root: &Path) -> Result<(), DebianError> {
    let fail = |what: String| Err(DebianError::Check(what));
    for link in ["vmlinuz", "initrd.img"] {
        if !root.join(link).is_file() {
            return fail(format!("/{link} does not lead to a file"));
        }
    }
    for file in overlay_files() {
        let path = root.join(file.path);
        if fs::read_to_string(&path).ok().as_deref() != Some(file.contents) {
            return fail(format!("/{} is not as written", file.path));
        }
    }
    let ssh = root.join("etc/ssh");
    for entry in fs::read_dir(&ssh).map_err(io_error(&ssh))? {
        let name = entry.map_err(io_error(&ssh))?.file_name();
        if name.to_string_lossy().starts_with("ssh_host_") {
            return fail(format!("SSH host key /etc/ssh/{} left in", name.to_string_lossy()));
        }
    }
    if fs::metadata(root.join("etc/machine-id")).map(|m| m.len()).ok() != Some(0) {
        return fail("/etc/machine-id is not empty".into());
    }
    if root.join("var/lib/dbus/machine-id").exists() {
        return fail("/var/lib/dbus/machine-id left in".into());
    }
    let shadow = fs::read_to_string(root.join("etc/shadow")).unwrap_or_default();
    let root_password = shadow.lines().find_map(|line| line.strip_prefix("root:")).unwrap_or("");
    if !root_password.starts_with('!') {
        return fail("root's password is not locked".into());
    }
    for unit in [
        "multi-user.target.wants/systemd-networkd.service",
        "network-online.target.wants/systemd-networkd-wait-online.service",
        "multi-user.target.wants/ssh.service",
    ] {
        if fs::symlink_metadata(root.join("etc/systemd/system").join(unit)).is_err() {
            return fail(format!("{unit} is not enabled"));
        }
    }
    // zstd (in lsinitramfs) skips symlinks: name the file /initrd.img points to.
    let initrd = fs::read_link(root.join("initrd.img")).map_err(io_error(&root.join("initrd.img")))?;
    let initrd = Path::new("/").join(initrd);
    let initramfs = run(Command::new("chroot").arg(root).arg("lsinitramfs").arg(&initrd))?;
    for wanted in ["sbin/mdadm", "etc/mdadm/mdadm.conf", "scripts/local-block/mdadm", "sbin/fsck.ext4"] {
        if !initramfs.lines().any(|line| line == wanted || line.ends_with(&format!("/{wanted}"))) {
            return fail(format!("the initramfs has no {wanted}"));
        }
    }
    Ok(())
}

/// Bytes allocated to the tree (hard links once) and its number of entries.
fn tree_usage(root: &Path) -> Result<(u64, u64), DebianError> {
    let mut seen = std::collections::HashSet::new();
    let (mut bytes, mut entries) = (0u64, 0u64);
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let path = entry.map_err(io_error(&dir))?.path();
            let meta = fs::symlink_metadata(&path).map_err(io_error(&path))?;
            entries += 1;
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            bytes += meta.blocks() * 512;
            if meta.is_dir() {
                dirs.push(path);
            }
        }
    }
    Ok((bytes, entries))
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args().take(6) {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    if command.get_args().len() > 6 {
        text.push_str(" ...");
    }
    text
}

/// The command seam: runs `command`, returns its stdout, or an error naming it with its output's tail.
fn run(command: &mut Command) -> Result<String, DebianError> {
    let name = describe(command);
    let output =
        command.stdin(Stdio::null()).output().map_err(|source| DebianError::Spawn { command: name.clone(), source })?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
        return Err(DebianError::Failed { command: name, status: output.status, output: text });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `command` with its output into `log`; on failure the error carries the log's tail.
fn run_logged(command: &mut Command, log: &Path) -> Result<(), DebianError> {
    let name = format!("{} (log {})", describe(command), log.display());
    let file = File::create(log).map_err(io_error(log))?;
    let stderr = file.try_clone().map_err(io_error(log))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(stderr)
        .status()
        .map_err(|source| DebianError::Spawn { command: name.clone(), source })?;
    if status.success() {
        return Ok(());
    }
    Err(DebianError::Failed { command: name, status, output: read_tail(log, 4096) })
}

fn read_tail(path: &Path, bytes: u64) -> String {
    let Ok(mut file) = File::open(path) else { return String::new() };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut text = Vec::new();
    let _ = file.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe::with_mirrors(&Mirrors {
            archive: "http://deb.debian.org/debian".into(),
            security: "http://deb.debian.org/debian-security".into(),
        })
    }

    #[test]
    fn the_static_texts_name_the_root_uuid() {
        assert_eq!(FSTAB.lines().last(), Some(format!("UUID={ROOT_FS_UUID} / ext4 errors=remount-ro 0 1").as_str()));
    }

    #[test]
    fn grub_cfg_boots_the_symlinks_by_uuid_on_serial_and_console() {
        let cfg = GRUB_CFG;
        let lines: Vec<&str> = cfg.lines().map(str::trim).collect();
        let at = |wanted: &str| lines.iter().position(|line| *line == wanted).unwrap_or_else(|| panic!("{wanted}"));
        assert!(
            at("serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1") < at("terminal_output console serial")
        );
        at("terminal_input console serial");
        at("set timeout=1");
        let search = at(&format!("search --no-floppy --fs-uuid --set=root {ROOT_FS_UUID}"));
        for module in ["part_gpt", "mdraid1x", "ext2"] {
            assert!(at(&format!("insmod {module}")) < search, "{module} is loaded before the search");
        }
        assert!(
            search < at(&format!("linux /vmlinuz root=UUID={ROOT_FS_UUID} ro console=tty0 console=ttyS0,115200n8"))
        );
        at("initrd /initrd.img");
        assert_eq!(cfg.matches('{').count(), cfg.matches('}').count());
    }

    #[test]
    fn mmdebstrap_args_carry_the_recipe_and_the_hooks_in_order() {
        let args = mmdebstrap_args(&recipe(), Path::new("/w/root"), Path::new("/c/it's debs"), Path::new("/w/ov"));
        let args: Vec<String> = args.into_iter().map(|arg| arg.into_string().expect("utf-8")).collect();
        assert_eq!(args[..3], ["--mode=root", "--variant=minbase", "--format=directory"]);
        let include = args.iter().find_map(|arg| arg.strip_prefix("--include=")).expect("--include");
        for package in ["linux-image-amd64", "mdadm", "openssh-server", "grub-pc-bin", "grub-efi-amd64-bin"] {
            assert!(include.split(',').any(|p| p == package), "{package}");
        }
        assert!(args.contains(&"--dpkgopt=path-exclude=/lib/modules/*/kernel/drivers/gpu/*".to_string()));
        assert!(args.contains(&"--dpkgopt=path-exclude=/usr/share/doc/*".to_string()));
        assert!(args.contains(&"--setup-hook=sync-in '/c/it'\\''s debs' /var/cache/apt/archives/".to_string()));
        let hooks: Vec<&String> = args.iter().filter(|arg| arg.starts_with("--customize-hook=")).collect();
        assert_eq!(hooks.len(), 3);
        assert!(hooks[1].ends_with("sync-in '/w/ov' /"), "the overlay goes in before the script");
        assert!(hooks[2].contains("update-initramfs -u -k all"));
        let tail = &args[args.len() - 5..];
        assert_eq!(tail[0], "bookworm");
        assert_eq!(tail[1], "/w/root");
        assert_eq!(tail[2], "deb http://deb.debian.org/debian bookworm main");
        assert_eq!(tail[4], "deb http://deb.debian.org/debian-security bookworm-security main");
    }

    #[test]
    fn the_script_makes_the_initramfs_after_the_config_and_clears_host_identity_after_that() {
        let script = CUSTOMIZE_SCRIPT;
        let at = |text: &str| script.find(text).unwrap_or_else(|| panic!("{text}"));
        assert!(at("update-initramfs") < at("ssh_host_*"));
        assert!(at("update-initramfs") < at(": > \"$root/etc/machine-id\""));
        at("systemd-networkd-wait-online.service");
        at("passwd --lock root");
    }

    #[test]
    fn mirrors_come_from_the_hosts_deb822_sources() {
        let text = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
                    URIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                    Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm-security\n\n\
                    Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        let mirrors = mirrors_from_deb822(text);
        assert_eq!(mirrors.archive, "http://mirror.example/debian");
        assert_eq!(mirrors.security, "http://mirror.example/debian-security");
        let defaults = mirrors_from_deb822("");
        assert_eq!(defaults.archive, "http://deb.debian.org/debian");
        assert_eq!(defaults.security, "http://deb.debian.org/debian-security");
    }

    #[test]
    fn image_size_is_the_tree_plus_a_fifth_plus_the_journal_in_4mib_steps() {
        assert_eq!(image_size(0), 32 << 20);
        assert_eq!(image_size(400 << 20), (480 + 32) << 20);
        assert_eq!(image_size((400 << 20) + 1), (480 + 32 + 4) << 20);
        for tree in [1, 12345, 333 << 20, (1 << 30) + 7] {
            let size = image_size(tree);
            assert_eq!(size % (4 << 20), 0);
            assert!(size >= tree + tree / 5 + FS_OVERHEAD);
        }
        assert_eq!(inode_count(30_000, 512 << 20), 60_000);
        assert_eq!(inode_count(10, 512 << 20), 32768);
    }

    #[test]
    fn the_recipe_text_changes_with_anything_that_changes_the_image() {
        let base = recipe();
        assert_eq!(base.fingerprint(), recipe().fingerprint());
        let text = base.text();
        assert!(text.contains("mmdebstrap: --include=linux-image-amd64,"), "{text}");
        assert!(
            text.contains(&format!(
                "file boot/grub/grub.cfg 644: search --no-floppy --fs-uuid --set=root {ROOT_FS_UUID}"
            ))
        );
        assert!(text.contains("mmdebstrap: chroot \"$root\" update-initramfs -u -k all"));
        assert!(text.contains("mke2fs: ext4") && text.contains("size: tree x 6/5"), "{text}");
        let mut other = base.clone();
        other.sources[0] = "deb http://other.example/debian bookworm main".into();
        assert_ne!(base.fingerprint(), other.fingerprint());
    }

    #[test]
    fn a_build_is_current_only_with_the_same_recipe_beside_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("debian-12.img");
        assert_eq!(recipe_path(&out), dir.path().join("debian-12.img.recipe"));
        assert!(!is_current(&recipe(), &out));
        fs::write(&out, b"ext4").expect("image");
        assert!(!is_current(&recipe(), &out), "no recipe file");
        fs::write(recipe_path(&out), recipe().text()).expect("recipe");
        assert!(is_current(&recipe(), &out));
        let mut other = recipe();
        other.sources.pop();
        assert!(!is_current(&other, &out));
        let built = build(&recipe(), &out, None).expect("a current image is not rebuilt");
        assert!(built.cached);
        assert_eq!(built.size, 4);
    }

    #[test]
    fn failures_name_the_command_and_show_its_output() {
        let error = run(Command::new("sh").args(["-c", "echo partial; echo broken >&2; exit 3"])).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("`sh -c echo partial; echo broken >&2; exit 3` failed (exit status: 3)"), "{text}");
        assert!(text.contains("broken") && text.contains("partial"), "{text}");
        let missing = run(&mut Command::new("/nonexistent/mmdebstrap")).unwrap_err().to_string();
        assert!(missing.starts_with("starting `/nonexistent/mmdebstrap`"), "{missing}");
    }
}
