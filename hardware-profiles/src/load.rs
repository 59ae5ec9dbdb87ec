//! Reading profiles from files and directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::wire::ProfileFile;
use crate::{Profile, ProfileError};

/// The `profiles/` folder shipped with this crate (for tests and the lab).
pub fn shipped_profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

/// Parse and validate one profile's text; `file` is only used in errors.
pub fn load_str(file: &Path, text: &str) -> Result<Profile, ProfileError> {
    let wire: ProfileFile = toml::from_str(text).map_err(|e| ProfileError::from_toml(file.to_owned(), text, &e))?;
    Profile::try_from(wire).map_err(|e| ProfileError::from_field(file.to_owned(), text, e))
}

pub fn load_file(file: &Path) -> Result<Profile, ProfileError> {
    let text = std::fs::read_to_string(file).map_err(|source| ProfileError::Read { file: file.to_owned(), source })?;
    load_str(file, &text)
}

/// Every `*.toml` in `dir`, sorted by file name; profile names must be unique.
pub fn load_dir(dir: &Path) -> Result<Vec<Profile>, ProfileError> {
    let read_err = |source| ProfileError::Read { file: dir.to_owned(), source };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut out = Vec::new();
    for file in files {
        let profile = load_file(&file)?;
        if let Some(other) = seen.insert(profile.name.clone(), file.clone()) {
            return Err(ProfileError::DuplicateName { file, name: profile.name, other });
        }
        out.push(profile);
    }
    Ok(out)
}
