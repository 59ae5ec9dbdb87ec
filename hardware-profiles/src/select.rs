//! Choosing the profile for a server when several could match: the most specific wins, ties are an error.

use rackhand_api::SystemIdentity;

use crate::Profile;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("no profile matches this system ({vendor} {product})")]
    NoMatch { vendor: String, product: String },
    #[error("profiles {} match this system equally well; make one more specific", names.join(", "))]
    Tie { names: Vec<String> },
}

pub fn select<'a>(system: &SystemIdentity, profiles: &'a [Profile]) -> Result<&'a Profile, SelectError> {
    let scored: Vec<(u32, &Profile)> =
        profiles.iter().filter_map(|p| Some((p.recognise.specificity(system)?, p))).collect();
    let Some(best) = scored.iter().map(|(score, _)| *score).max() else {
        return Err(SelectError::NoMatch {
            vendor: system.vendor.clone().unwrap_or_else(|| "unknown vendor".into()),
            product: system.product.clone().unwrap_or_else(|| "unknown product".into()),
        });
    };
    let winners: Vec<&Profile> = scored.iter().filter(|(s, _)| *s == best).map(|(_, p)| *p).collect();
    match winners.as_slice() {
        [one] => Ok(one),
        many => Err(SelectError::Tie { names: many.iter().map(|p| p.name.clone()).collect() }),
    }
}
