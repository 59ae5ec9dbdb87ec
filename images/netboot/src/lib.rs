//! The netboot initramfs: what the boot service hands to iPXE as `vmlinuz` + `initrd.img`.
//!
//! - [`kernel`] fetches Debian's kernel package (`apt-get download`, `dpkg -x`) into a cache.
//! - [`modules`] resolves the modules the installer needs, with their dependencies, in load order.
//! - [`firmware`] finds the firmware files those modules load in Debian's firmware packages.
//! - [`libs`] finds the shared libraries a dynamic binary (mdadm) needs, from `ldd`.
//! - [`archive`] describes the initramfs as entries and writes them as a gzip'd newc cpio.
//! - [`initramfs`] puts it together.

pub mod archive;
pub mod firmware;
pub mod initramfs;
pub mod kernel;
pub mod libs;
pub mod modules;
