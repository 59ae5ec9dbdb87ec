//! Files served read-only from one root directory, over TFTP and HTTP alike: a requested path is
//! resolved to a regular file whose canonical path lies under the root's canonical path. `..`, an
//! absolute path elsewhere, and any symlink that leads out (absolute, relative or through a linked
//! directory) are refused, so nothing but the roots is ever read. Links that stay inside are followed.

use std::path::{Component, Path, PathBuf};

/// Why a path was refused; each maps to a TFTP error code and an HTTP status.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path leaves the served root")]
    Outside,
    #[error("no such file")]
    NotFound,
}

/// Resolve a requested path inside `root` (which must be canonical). A leading `/` is taken as the
/// root itself, as firmware often sends one.
pub fn resolve(root: &Path, requested: &Path) -> Result<PathBuf, PathError> {
    let mut relative = PathBuf::new();
    for component in requested.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(PathError::Outside),
        }
    }
    let full = root.join(relative).canonicalize().map_err(|_| PathError::NotFound)?;
    if !full.starts_with(root) {
        return Err(PathError::Outside);
    }
    if !full.is_file() {
        return Err(PathError::NotFound);
    }
    Ok(full)
}

/// [`resolve`] under a root given as configured (it may itself be a link, or not exist yet: then nothing
/// under it is found). Blocking: a few `stat`s and `readlink`s.
pub fn resolve_under(root: &Path, requested: &Path) -> Result<PathBuf, PathError> {
    let root = root.canonicalize().map_err(|_| PathError::NotFound)?;
    resolve(&root, requested)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn links_that_stay_inside_are_followed_and_links_out_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("efi")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(root.join("efi/ipxe.efi"), b"x").unwrap();
        std::fs::write(dir.path().join("config.toml"), b"secret").unwrap();
        std::fs::write(dir.path().join("outside/file"), b"secret").unwrap();
        symlink("efi/ipxe.efi", root.join("inside")).unwrap();
        symlink(dir.path().join("config.toml"), root.join("absolute")).unwrap();
        symlink("../config.toml", root.join("relative")).unwrap();
        symlink("../outside", root.join("linked-dir")).unwrap();
        symlink("missing", root.join("dangling")).unwrap();
        let canonical = root.canonicalize().unwrap();

        let inside = resolve_under(&root, Path::new("inside"));
        assert_eq!(inside, Ok(canonical.join("efi/ipxe.efi")));
        for name in ["absolute", "relative", "linked-dir/file", "efi/../relative"] {
            assert_eq!(resolve_under(&root, Path::new(name)), Err(PathError::Outside), "{name}");
        }
        assert_eq!(resolve_under(&root, Path::new("dangling")), Err(PathError::NotFound));
        assert_eq!(resolve_under(&root, Path::new("linked-dir")), Err(PathError::Outside));
        let absent_root = dir.path().join("not-created");
        assert_eq!(resolve_under(&absent_root, Path::new("efi/ipxe.efi")), Err(PathError::NotFound));
    }
}
