//! The installed system, mounted at a directory of the initramfs: grow its root filesystem to the OS
//! array, write its files, run its own tools (`mkfs.vfat`, `ssh-keygen`, `grub-install`) chrooted with
//! `/dev`, `/proc` and `/sys` bound in, and unmount it all. The decisions (which files, which commands)
//! are made in [`crate::os_config`]; this only carries them out.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::os_config::{BootStep, OsFile};

use super::{ApplyError, find_tool, run_tool};

/// `PATH` for the commands run inside the installed system.
const CHROOT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the install needs from the installed system.
pub trait InstalledSystem {
    /// Grow the filesystem on `device` to fill it, then mount it as the installed system's root.
    fn mount_root(&self, device: &str) -> Result<(), ApplyError>;
    fn write(&self, file: &OsFile) -> Result<(), ApplyError>;
    fn boot_step(&self, step: &BootStep) -> Result<(), ApplyError>;
    /// Unmount everything this mounted (innermost first). Safe to call when nothing is mounted.
    fn unmount_all(&self) -> Result<(), ApplyError>;
}

/// The real one: `/target` in the initramfs.
pub struct ChrootSystem {
    pub root: PathBuf,
    pub resize2fs: PathBuf,
    pub chroot: PathBuf,
    mounted: Mutex<Vec<PathBuf>>,
}

impl Default for ChrootSystem {
    fn default() -> Self {
        Self::at("/target")
    }
}

impl ChrootSystem {
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            resize2fs: find_tool(&["/sbin/resize2fs", "/usr/sbin/resize2fs"], "resize2fs"),
            chroot: find_tool(&["/usr/sbin/chroot", "/bin/chroot", "/sbin/chroot"], "chroot"),
            mounted: Mutex::new(Vec::new()),
        }
    }

    fn inside(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn mount(&self, source: &str, at: &Path, fstype: Option<&str>, flags: MsFlags) -> Result<(), ApplyError> {
        std::fs::create_dir_all(at).map_err(|e| io(format!("creating {}", at.display()), e))?;
        mount(Some(source), at, fstype, flags, None::<&str>)
            .map_err(|e| io(format!("mounting {source} on {}", at.display()), e.into()))?;
        self.mounted.lock().unwrap_or_else(|p| p.into_inner()).push(at.to_owned());
        Ok(())
    }

    fn unmount(&self, at: &Path) -> Result<(), ApplyError> {
        let mut mounted = self.mounted.lock().unwrap_or_else(|p| p.into_inner());
        umount2(at, MntFlags::empty()).map_err(|e| io(format!("unmounting {}", at.display()), e.into()))?;
        mounted.retain(|m| m != at);
        Ok(())
    }
}

fn io(what: String, source: std::io::Error) -> ApplyError {
    ApplyError::Io { what, source }
}

impl InstalledSystem for ChrootSystem {
    fn mount_root(&self, device: &str) -> Result<(), ApplyError> {
        run_tool(&self.resize2fs, &format!("growing the root filesystem on {device}"), &[device])?;
        self.mount(device, &self.root, Some("ext4"), MsFlags::empty())?;
        for dir in ["dev", "proc", "sys"] {
            self.mount(&format!("/{dir}"), &self.root.join(dir), None, MsFlags::MS_BIND | MsFlags::MS_REC)?;
        }
        Ok(())
    }

    fn write(&self, file: &OsFile) -> Result<(), ApplyError> {
        let (path, result) = match file {
            OsFile::Write { path, contents, mode } => {
                let at = self.inside(path);
                (path, create_parent(&at).and_then(|()| write_mode(&at, contents.as_bytes(), *mode)))
            }
            OsFile::Append { path, contents } => {
                let at = self.inside(path);
                let appended = std::fs::read(&at).or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(Vec::new()),
                    _ => Err(e),
                });
                (
                    path,
                    appended.and_then(|mut text| {
                        if !text.is_empty() && !text.ends_with(b"\n") {
                            text.push(b'\n');
                        }
                        text.extend_from_slice(contents.as_bytes());
                        std::fs::write(&at, text)
                    }),
                )
            }
            OsFile::Link { path, target } => {
                let at = self.inside(path);
                let _ = std::fs::remove_file(&at);
                (path, create_parent(&at).and_then(|()| std::os::unix::fs::symlink(target, &at)))
            }
            OsFile::ThisBinary { path } => {
                let at = self.inside(path);
                let copied = create_parent(&at)
                    .and_then(|()| std::fs::read("/proc/self/exe"))
                    .and_then(|bytes| write_mode(&at, &bytes, 0o755));
                (path, copied)
            }
        };
        result.map_err(|e| io(format!("writing {path} into the installed system"), e))
    }

    fn boot_step(&self, step: &BootStep) -> Result<(), ApplyError> {
        match step {
            BootStep::Run(args) => {
                // The installed system's own PATH: PID 1 has none, and its tools live in /usr/sbin.
                let mut full: Vec<&str> = vec![self.root.to_str().unwrap_or("/target"), "/usr/bin/env", CHROOT_PATH];
                full.extend(args.iter().map(String::as_str));
                let what = format!("running `{}` in the installed system", args.join(" "));
                run_tool(&self.chroot, &what, &full).map(drop)
            }
            BootStep::Remove(paths) => {
                for path in paths {
                    match std::fs::remove_file(self.inside(path)) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(io(format!("removing {path}"), e));
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            BootStep::MountEsp(device) => self.mount(device, &self.inside("/boot/efi"), Some("vfat"), MsFlags::empty()),
            BootStep::UnmountEsp => self.unmount(&self.inside("/boot/efi")),
        }
    }

    fn unmount_all(&self) -> Result<(), ApplyError> {
        let mounted: Vec<PathBuf> = self.mounted.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut first_error = None;
        for at in mounted.iter().rev() {
            let flags = if at == &self.root { MntFlags::empty() } else { MntFlags::MNT_DETACH };
            if let Err(e) = umount2(at, flags) {
                first_error.get_or_insert(io(format!("unmounting {}", at.display()), e.into()));
            }
        }
        self.mounted.lock().unwrap_or_else(|p| p.into_inner()).clear();
        nix::unistd::sync();
        first_error.map_or(Ok(()), Err)
    }
}

fn create_parent(path: &Path) -> std::io::Result<()> {
    path.parent().map_or(Ok(()), std::fs::create_dir_all)
}

fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    std::fs::write(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
