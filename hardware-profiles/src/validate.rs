//! `TryFrom<wire::ProfileFile> for Profile`: every rule a profile must obey, each failure naming the field
//! and its span.

use std::collections::{BTreeMap, BTreeSet};

use serde_spanned::Spanned;

use crate::bays::{BayKey, BayMap};
use crate::error::FieldError;
use crate::profile::{
    BondMode, BondSpec, DiskGroup, FilesystemKind, FilesystemSpec, Finish, InstallSpec, NetworkSpec, PowerSpec,
    Profile, RaidLevel, RaidSpec, Recognition,
};
use crate::vendors::known_slugs;
use crate::wire::{self, ProfileFile};
use crate::{PciVendor, vendor_by_slug};

const GB: u64 = 1_000_000_000;
const METADATA_VERSIONS: [&str; 4] = ["0.90", "1.0", "1.1", "1.2"];

impl TryFrom<ProfileFile> for Profile {
    type Error = FieldError;

    fn try_from(file: ProfileFile) -> Result<Self, FieldError> {
        let name = non_empty("name", file.name)?;
        let image = non_empty("image", file.image)?;
        let recognise = recognition(file.recognise)?;
        let power = power(file.power)?;
        let network = network(file.network)?;
        let bond = bond(file.bond, &network)?;
        let bays = bay_map(file.bays)?;
        let disk_groups = disk_groups(file.disks)?;
        let raid = raid(file.raid, &disk_groups)?;
        let install = install(file.install)?;
        Ok(Profile {
            name,
            description: file.description,
            image,
            recognise,
            power,
            network,
            bond,
            bays,
            disk_groups,
            raid,
            install,
        })
    }
}

fn install(i: wire::InstallSection) -> Result<InstallSpec, FieldError> {
    let finish = match &i.finish {
        Some(f) => Finish::parse(f.get_ref()).ok_or_else(|| {
            err("install.finish", f, format!("unknown action `{}` (one of {})", f.get_ref(), Finish::NAMES))
        })?,
        None => Finish::default(),
    };
    Ok(InstallSpec { finish, wipe: i.wipe })
}

fn err<T>(field: impl Into<String>, spanned: &Spanned<T>, msg: impl Into<String>) -> FieldError {
    FieldError::new(field, spanned.span(), msg)
}

fn non_empty(field: &str, value: Spanned<String>) -> Result<String, FieldError> {
    if value.get_ref().trim().is_empty() {
        return Err(err(field, &value, "must not be empty"));
    }
    Ok(value.into_inner())
}

fn recognition(m: wire::MatchSection) -> Result<Recognition, FieldError> {
    if let (Some(_), Some(prefix)) = (&m.product, &m.product_prefix) {
        return Err(err("match.product_prefix", prefix, "give either `product` or `product_prefix`, not both"));
    }
    Ok(Recognition {
        vendor: non_empty("match.vendor", m.vendor)?,
        product: m.product.map(Spanned::into_inner),
        product_prefix: m.product_prefix.map(Spanned::into_inner),
    })
}

fn power(p: wire::PowerSection) -> Result<PowerSpec, FieldError> {
    if *p.supplies.get_ref() == 0 {
        return Err(err("power.supplies", &p.supplies, "a server needs at least one PSU"));
    }
    let feeds = match p.feeds {
        Some(feeds) if feeds.get_ref().len() != *p.supplies.get_ref() as usize => {
            return Err(err(
                "power.feeds",
                &feeds,
                format!("names {} feeds for {} supplies", feeds.get_ref().len(), p.supplies.get_ref()),
            ));
        }
        Some(feeds) => feeds.into_inner(),
        None => Vec::new(),
    };
    Ok(PowerSpec { supplies: p.supplies.into_inner(), all_powered: p.all_powered, feeds })
}

fn vendor(field: &str, slug: &Spanned<String>) -> Result<PciVendor, FieldError> {
    vendor_by_slug(slug.get_ref())
        .ok_or_else(|| err(field, slug, format!("unknown vendor `{}` (known: {})", slug.get_ref(), known_slugs())))
}

fn network(n: wire::NetworkSection) -> Result<NetworkSpec, FieldError> {
    if *n.nics.get_ref() == 0 {
        return Err(err("network.nics", &n.nics, "must be at least 1"));
    }
    if n.vendors.get_ref().is_empty() {
        return Err(err("network.vendors", &n.vendors, "list at least one allowed vendor"));
    }
    let vendors = n
        .vendors
        .get_ref()
        .iter()
        .map(|slug| vendor("network.vendors", &Spanned::new(n.vendors.span(), slug.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NetworkSpec { nics: n.nics.into_inner(), vendors, min_speed_mbps: n.min_speed_mbps })
}

fn bond(b: wire::BondSection, network: &NetworkSpec) -> Result<BondSpec, FieldError> {
    let mode = BondMode::parse(b.mode.get_ref()).ok_or_else(|| {
        err("bond.mode", &b.mode, format!("unknown mode `{}` (one of {})", b.mode.get_ref(), BondMode::NAMES))
    })?;
    let legs = *b.legs.get_ref();
    // A defaulted `legs` has no span of its own; point at the mode line instead.
    let legs_span = if b.legs.span().is_empty() { b.mode.span() } else { b.legs.span() };
    if legs == 0 || legs > network.nics {
        return Err(FieldError::new(
            "bond.legs",
            legs_span,
            format!("must be between 1 and network.nics ({})", network.nics),
        ));
    }
    if b.distinct_vendors && network.vendors.len() < 2 {
        return Err(err("bond.distinct_vendors", &b.mode, "needs at least two vendors in network.vendors"));
    }
    let primary_vendor = match &b.primary_vendor {
        Some(slug) => {
            let v = vendor("bond.primary_vendor", slug)?;
            if !network.allows(v.id) {
                return Err(err("bond.primary_vendor", slug, "is not in network.vendors"));
            }
            Some(v)
        }
        None => None,
    };
    Ok(BondSpec {
        name: b.name,
        mode,
        legs,
        primary_vendor,
        miimon_ms: b.miimon_ms,
        distinct_vendors: b.distinct_vendors,
        distinct_switches: b.distinct_switches,
    })
}

fn bay_map(b: wire::BaysSection) -> Result<BayMap, FieldError> {
    let mut keys: Vec<(BayKey, u32)> = Vec::new();
    let mut seen: BTreeMap<(u32, &str), String> = BTreeMap::new();
    // In file order, so the key an error names is the later of two.
    let mut entries: Vec<_> = b.map.into_iter().collect();
    entries.sort_by_key(|(text, _)| text.span().start);
    for (text, bay) in entries {
        let key = BayKey::parse(text.get_ref())
            .map_err(|why| err("bays.map", &text, format!("`{}`: {why}", text.get_ref())))?;
        if let Some((same, _)) = keys.iter().find(|(k, _)| *k == key) {
            return Err(err("bays.map", &text, format!("`{}` names the same place as `{same}`", text.get_ref())));
        }
        // A bay may be reached by evidence of two kinds (a bay taking SATA or NVMe), never twice by one.
        if let Some(other) = seen.insert((*bay.get_ref(), key.source().label()), text.get_ref().clone()) {
            return Err(err(
                "bays.map",
                &bay,
                format!(
                    "bay {} is mapped twice by {} keys (`{other}` and `{}`)",
                    bay.get_ref(),
                    key.source().label(),
                    text.get_ref()
                ),
            ));
        }
        keys.push((key, bay.into_inner()));
    }
    Ok(BayMap::new(b.hot_swap, keys))
}

fn disk_groups(groups: Vec<wire::DiskGroupSection>) -> Result<Vec<DiskGroup>, FieldError> {
    let mut names = BTreeSet::new();
    let mut bays_taken = BTreeSet::new();
    let mut out = Vec::new();
    for (i, g) in groups.into_iter().enumerate() {
        let at = |key: &str| format!("disks[{i}].{key}");
        if !names.insert(g.name.get_ref().clone()) {
            return Err(err(at("name"), &g.name, format!("group `{}` is defined twice", g.name.get_ref())));
        }
        if *g.count.get_ref() == 0 {
            return Err(err(at("count"), &g.count, "must be at least 1"));
        }
        let bays = g.bays.get_ref();
        if !bays.is_empty() && bays.len() != *g.count.get_ref() as usize {
            return Err(err(at("bays"), &g.bays, format!("lists {} bays for {} disks", bays.len(), g.count.get_ref())));
        }
        if let Some(bay) = bays.iter().find(|b| !bays_taken.insert(**b)) {
            return Err(err(at("bays"), &g.bays, format!("bay {bay} is already used by another group")));
        }
        if let (Some(min), Some(max)) = (g.min_size_gb, &g.max_size_gb)
            && min > *max.get_ref()
        {
            return Err(err(at("max_size_gb"), max, "is smaller than min_size_gb"));
        }
        out.push(DiskGroup {
            name: g.name.into_inner(),
            class: g.class,
            count: g.count.into_inner(),
            min_size_bytes: g.min_size_gb.map(|gb| gb * GB),
            max_size_bytes: g.max_size_gb.map(|gb| gb.into_inner() * GB),
            bays: g.bays.into_inner(),
        });
    }
    Ok(out)
}

/// `raid[i].filesystem` and `.label`: only on data arrays (the first array is the OS array, the image is
/// written over it), a known kind, a label ext4 can hold.
fn filesystem(
    i: usize,
    kind: Option<Spanned<String>>,
    label: Option<Spanned<String>>,
) -> Result<Option<FilesystemSpec>, FieldError> {
    let at = |key: &str| format!("raid[{i}].{key}");
    let Some(kind) = kind else {
        return match label {
            Some(label) => Err(err(at("label"), &label, "a label needs a `filesystem` to be the label of")),
            None => Ok(None),
        };
    };
    if i == 0 {
        return Err(err(at("filesystem"), &kind, "the first array is the OS array: the image is written over it"));
    }
    let parsed = FilesystemKind::parse(kind.get_ref()).ok_or_else(|| {
        err(
            at("filesystem"),
            &kind,
            format!("unknown filesystem `{}` (one of {})", kind.get_ref(), FilesystemKind::NAMES),
        )
    })?;
    if let Some(label) = &label {
        let text = label.get_ref();
        if text.is_empty()
            || text.len() > 16
            || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(err(at("label"), label, format!("label `{text}`: 1 to 16 of A-Z a-z 0-9 - _")));
        }
    }
    Ok(Some(FilesystemSpec { kind: parsed, label: label.map(Spanned::into_inner) }))
}

fn raid(arrays: Vec<wire::RaidSection>, groups: &[DiskGroup]) -> Result<Vec<RaidSpec>, FieldError> {
    let mut devices = BTreeSet::new();
    let mut used_groups = BTreeSet::new();
    let mut out = Vec::new();
    for (i, r) in arrays.into_iter().enumerate() {
        let at = |key: &str| format!("raid[{i}].{key}");
        if !devices.insert(r.device.get_ref().clone()) {
            return Err(err(at("device"), &r.device, format!("`{}` is built twice", r.device.get_ref())));
        }
        let level = RaidLevel::parse(r.level.get_ref()).ok_or_else(|| {
            err(at("level"), &r.level, format!("unknown level `{}` (one of {})", r.level.get_ref(), RaidLevel::NAMES))
        })?;
        let group = groups
            .iter()
            .find(|g| &g.name == r.group.get_ref())
            .ok_or_else(|| err(at("group"), &r.group, format!("no disk group named `{}`", r.group.get_ref())))?;
        if !used_groups.insert(group.name.clone()) {
            return Err(err(at("group"), &r.group, "this group is already a member of another array"));
        }
        if group.count < level.min_members() {
            return Err(err(
                at("level"),
                &r.level,
                format!(
                    "{} needs at least {} disks, group `{}` has {}",
                    r.level.get_ref(),
                    level.min_members(),
                    group.name,
                    group.count
                ),
            ));
        }
        if !METADATA_VERSIONS.contains(&r.metadata.get_ref().as_str()) {
            return Err(err(
                at("metadata"),
                &r.metadata,
                format!("unknown metadata `{}` (one of {})", r.metadata.get_ref(), METADATA_VERSIONS.join(", ")),
            ));
        }
        let filesystem = filesystem(i, r.filesystem, r.label)?;
        out.push(RaidSpec {
            device: r.device.into_inner(),
            level,
            group: group.name.clone(),
            metadata: r.metadata.into_inner(),
            filesystem,
        });
    }
    Ok(out)
}
