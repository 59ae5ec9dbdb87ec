//! The boot service's Debian package under test (`tests/deb.rs`): `cargo xtask test` builds it once
//! (`cargo xtask package --fast`) and names it in [`ENV_DEB`]; the test installs it, checks the unit,
//! runs the packaged binary the way the unit runs it, and purges it.
//!
//! Here: reading the `[Service]` settings of a systemd unit file, so the test runs the binary with what
//! the unit says (user, capabilities, command line, environment) rather than with a copy of it.

/// The .deb to test (set by `cargo xtask test`; by hand: `RACKHAND_DEB=$(cargo xtask package --fast)`).
pub const ENV_DEB: &str = "RACKHAND_DEB";

/// The `[Service]` section of a unit file: every assignment in order, as systemd reads them (comments
/// and other sections left out, continuation lines joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSection {
    assignments: Vec<(String, String)>,
}

impl ServiceSection {
    /// Read a unit file's text. A line in `[Service]` that is not `Key=value` is an error.
    pub fn parse(text: &str) -> Result<ServiceSection, String> {
        let mut assignments = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for (number, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';')) {
                continue;
            }
            // A trailing backslash continues the value on the next line (joined with a space).
            if let Some(head) = line.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            let line = std::mem::take(&mut pending) + line;
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            if section != "Service" {
                continue;
            }
            let (key, value) =
                line.split_once('=').ok_or_else(|| format!("line {}: not `Key=value`: {raw}", number + 1))?;
            assignments.push((key.trim().to_owned(), value.trim().to_owned()));
        }
        Ok(ServiceSection { assignments })
    }

    /// A single-valued setting (`User=`, `Type=`, `ExecStart=` of a simple or notify service): the last
    /// assignment wins.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.assignments.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every assignment of `key`, in order (`Environment=`).
    pub fn values(&self, key: &str) -> impl Iterator<Item = &str> {
        self.assignments.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A boolean setting (`NoNewPrivileges=`): systemd's spellings of yes and no.
    pub fn flag(&self, key: &str) -> Result<Option<bool>, String> {
        match self.value(key) {
            None => Ok(None),
            Some("yes" | "true" | "on" | "1") => Ok(Some(true)),
            Some("no" | "false" | "off" | "0") => Ok(Some(false)),
            Some(other) => Err(format!("{key}={other} is not a boolean")),
        }
    }

    /// A capability list (`AmbientCapabilities=`, `CapabilityBoundingSet=`): the assignments add up, an
    /// empty one clears what came before. An inverted list (`~CAP_…`) is refused: the test reads only
    /// lists that say what the service is given.
    pub fn capabilities(&self, key: &str) -> Result<Vec<Capability>, String> {
        let mut caps: Vec<Capability> = Vec::new();
        for value in self.values(key) {
            if value.is_empty() {
                caps.clear();
            } else if value.starts_with('~') {
                return Err(format!("{key}={value}: an inverted list is not what this test reads"));
            } else {
                for word in value.split_whitespace() {
                    let cap = Capability::parse(word)?;
                    if !caps.contains(&cap) {
                        caps.push(cap);
                    }
                }
            }
        }
        Ok(caps)
    }

    /// `Environment=` as name–value pairs (unquoted `NAME=value` words; a quoted value is refused).
    pub fn environment(&self) -> Result<Vec<(String, String)>, String> {
        let mut vars = Vec::new();
        for value in self.values("Environment") {
            for word in value.split_whitespace() {
                if word.contains(['"', '\'']) {
                    return Err(format!("Environment={value}: quoted values are not read here"));
                }
                let (name, val) = word.split_once('=').ok_or_else(|| format!("Environment={value}: `{word}`"))?;
                vars.push((name.to_owned(), val.to_owned()));
            }
        }
        Ok(vars)
    }

    /// `ExecStart=` split into the program and its arguments. Prefixes (`-`, `@`, `+`, `!`), quoting and
    /// variables are refused: the test runs the command exactly as written.
    pub fn exec_start(&self) -> Result<Vec<String>, String> {
        let line = self.value("ExecStart").ok_or("no ExecStart=")?;
        if line.starts_with(['-', '@', '+', '!', ':']) || line.contains(['"', '\'', '$', '%']) {
            return Err(format!("ExecStart={line}: prefixes, quotes and variables are not read here"));
        }
        Ok(line.split_whitespace().map(str::to_owned).collect())
    }
}

/// A capability as systemd spells it (`CAP_NET_RAW`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Capability(String);

impl Capability {
    pub fn parse(word: &str) -> Result<Capability, String> {
        let valid = word.strip_prefix("CAP_").is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        });
        if valid { Ok(Capability(word.to_owned())) } else { Err(format!("`{word}` is not a capability name")) }
    }

    /// `CAP_NET_RAW`.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// `net_raw`, as setpriv(1) spells it.
    pub fn setpriv_name(&self) -> String {
        self.0.trim_start_matches("CAP_").to_ascii_lowercase()
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A setpriv(1) capability set that holds exactly `caps`: `-all,+net_bind_service,+net_raw`.
pub fn setpriv_set(caps: &[Capability]) -> String {
    std::iter::once("-all".to_owned())
        .chain(caps.iter().map(|c| format!("+{}", c.setpriv_name())))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "\
[Unit]
Description=x
User=not-this-one

[Service]
# a comment
Type=notify
ExecStart=/usr/bin/rackhand-boot-service serve \\
    --config /etc/rackhand/boot-service.toml
User=rackhand
Environment=NO_COLOR=1 RUST_LOG=info
AmbientCapabilities=CAP_NET_BIND_SERVICE
AmbientCapabilities=CAP_NET_RAW CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_SYS_ADMIN
CapabilityBoundingSet=
CapabilityBoundingSet=CAP_NET_RAW
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
";

    #[test]
    fn reads_the_service_section_as_systemd_does() {
        let unit = ServiceSection::parse(UNIT).unwrap();
        assert_eq!(unit.value("User"), Some("rackhand"), "[Unit]'s key is not [Service]'s");
        assert_eq!(unit.value("Type"), Some("notify"));
        assert_eq!(unit.value("WantedBy"), None);
        assert_eq!(
            unit.exec_start().unwrap(),
            ["/usr/bin/rackhand-boot-service", "serve", "--config", "/etc/rackhand/boot-service.toml"]
        );
        let names = |caps: Vec<Capability>| caps.iter().map(|c| c.name().to_owned()).collect::<Vec<_>>();
        assert_eq!(names(unit.capabilities("AmbientCapabilities").unwrap()), ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]);
        assert_eq!(names(unit.capabilities("CapabilityBoundingSet").unwrap()), ["CAP_NET_RAW"], "empty resets");
        assert_eq!(unit.flag("NoNewPrivileges").unwrap(), Some(true));
        assert_eq!(
            unit.environment().unwrap(),
            [("NO_COLOR".to_owned(), "1".to_owned()), ("RUST_LOG".to_owned(), "info".to_owned())]
        );
    }

    #[test]
    fn refuses_what_it_would_misread() {
        let unit = |service: &str| ServiceSection::parse(&format!("[Service]\n{service}\n")).unwrap();
        assert!(unit("CapabilityBoundingSet=~CAP_SYS_ADMIN").capabilities("CapabilityBoundingSet").is_err());
        assert!(unit("AmbientCapabilities=net_raw").capabilities("AmbientCapabilities").is_err());
        assert!(unit("ExecStart=-/usr/bin/x").exec_start().is_err());
        assert!(unit("ExecStart=/usr/bin/x --config \"/etc/a b\"").exec_start().is_err());
        assert!(unit("NoNewPrivileges=maybe").flag("NoNewPrivileges").is_err());
        assert!(ServiceSection::parse("[Service]\nnonsense\n").is_err());
    }

    #[test]
    fn setpriv_sets_hold_exactly_the_capabilities() {
        let caps = [Capability::parse("CAP_NET_BIND_SERVICE").unwrap(), Capability::parse("CAP_NET_RAW").unwrap()];
        assert_eq!(setpriv_set(&caps), "-all,+net_bind_service,+net_raw");
        assert_eq!(setpriv_set(&[]), "-all");
    }
}
