//! Which hardware profile this machine is judged against: the one profile file given, or the best match
//! among a directory's profiles for the system (SMBIOS identity) observed under `root`.

use std::path::Path;

use hardware_profiles::{Profile, ProfileError, SelectError, load_dir, load_file, select};

use super::observe_system;

#[derive(Debug, thiserror::Error)]
pub enum ProfileChoiceError {
    #[error(transparent)]
    Load(#[from] ProfileError),
    #[error(transparent)]
    Select(#[from] SelectError),
}

/// `path` itself when it is a file, else the profile in directory `path` that fits this machine best.
pub fn choose_profile(path: &Path, root: &Path) -> Result<Profile, ProfileChoiceError> {
    if !path.is_dir() {
        return Ok(load_file(path)?);
    }
    let profiles = load_dir(path)?;
    let system = observe_system(root);
    let chosen = select(&system, &profiles)?;
    tracing::info!("selected profile {}", chosen.name);
    Ok(chosen.clone())
}
