//! Errors that name the file, the line and the field.

use std::ops::Range;
use std::path::PathBuf;

/// A semantic error found while validating, before it is tied to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field: `raid[1].group`.
    pub field: String,
    /// Byte range in the file (from `serde_spanned`).
    pub span: Range<usize>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, span: Range<usize>, message: impl Into<String>) -> Self {
        Self { field: field.into(), span, message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{}: cannot read profile: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}:{line}: `{field}`: {message}", file.display())]
    Invalid { file: PathBuf, line: usize, field: String, message: String },
    #[error("{}: profile name `{name}` is already used by {}", file.display(), other.display())]
    DuplicateName { file: PathBuf, name: String, other: PathBuf },
}

impl ProfileError {
    /// Tie a validation error to its file, turning the byte span into a 1-based line.
    pub(crate) fn from_field(file: PathBuf, text: &str, err: FieldError) -> Self {
        Self::Invalid { file, line: line_of(text, err.span.start), field: err.field, message: err.message }
    }

    /// Turn a TOML/serde error into one naming line and field.
    pub(crate) fn from_toml(file: PathBuf, text: &str, err: &toml::de::Error) -> Self {
        let offset = err.span().map_or(0, |s| s.start);
        let message = err.message().trim().to_owned();
        let field = field_at(text, offset, &message);
        Self::Invalid { file, line: line_of(text, offset), field, message }
    }
}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The dotted field name for an error at `offset`: the table header above it plus the key on its line,
/// or the field serde names in `message` (``missing field `image` ``).
fn field_at(text: &str, offset: usize, message: &str) -> String {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let line = text[line_start..line_end].trim();
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(['[', ']']).trim().to_owned());
    let named =
        message.split_once("field `").and_then(|(_, rest)| rest.split_once('`')).map(|(name, _)| name.to_owned());
    let key = named.or_else(|| line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_owned()));
    // An error on a header line itself (`[power]` missing a key) belongs to that table.
    let table = if line.starts_with('[') { Some(line.trim_matches(['[', ']']).trim().to_owned()) } else { table };
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => "(file)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn field_names_come_from_table_and_key() {
        let text = "name = \"x\"\n[power]\nsupplies = \"two\"\n";
        let offset = text.find("\"two\"").unwrap();
        assert_eq!(field_at(text, offset, "invalid type"), "power.supplies");
        assert_eq!(field_at(text, text.find("[power]").unwrap(), "missing field `supplies`"), "power.supplies");
    }
}
