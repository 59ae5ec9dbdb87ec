//! May the installer erase what a disk already holds? Pure: what was found on the disk (and its
//! partitions), which md arrays this node's earlier installs built (the node record says), and whether
//! the profile allows wiping foreign data. A reprovision or a retry reinstalls onto disks Rackhand itself
//! built; anything else is refused with what to do about it.

use crate::apply::raid::same_md_uuid;

/// One thing found on a disk or one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `/dev/sda3`.
    pub device: String,
    /// `md superblock (metadata 1.2)`, `GPT partition table`, `ext2/3/4 filesystem`.
    pub what: String,
    /// The array UUID, when it is an md member.
    pub md_uuid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WipeDecision {
    /// Nothing on it.
    Blank,
    /// Erase it first; `because` is logged and shown.
    Wipe { because: String },
    /// Leave it alone and fail the node with this reason.
    Refuse { reason: String },
}

/// The decision for `disk` (in `bay`) given what was found on it.
pub fn decide_wipe(
    disk: &str,
    bay: Option<u32>,
    found: &[Found],
    owned_arrays: &[String],
    profile_wipes: bool,
    profile: &str,
) -> WipeDecision {
    if found.is_empty() {
        return WipeDecision::Blank;
    }
    let what: Vec<String> = found.iter().map(|f| format!("{} on {}", f.what, f.device)).collect();
    let what = what.join(", ");
    let arrays: Vec<&str> = found.iter().filter_map(|f| f.md_uuid.as_deref()).collect();
    let ours = !arrays.is_empty() && arrays.iter().all(|uuid| owned_arrays.iter().any(|o| same_md_uuid(o, uuid)));
    if ours {
        return WipeDecision::Wipe {
            because: format!("{disk} holds arrays this node's earlier install built ({what})"),
        };
    }
    if profile_wipes {
        return WipeDecision::Wipe { because: format!("{disk} holds {what}; profile {profile} says wipe = true") };
    }
    let place = bay.map_or_else(|| disk.to_owned(), |b| format!("the disk in bay {b} ({disk})"));
    WipeDecision::Refuse {
        reason: format!(
            "{place} already holds data Rackhand did not build for this node ({what}). If it may be erased, \
             erase it (rescue shell: `wipefs -a {disk}`) or set `wipe = true` under [install] in profile {profile}, \
             then power-cycle the server; otherwise replace the disk"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "3b2f1c0e:8a9d7e6f:12345678:9abcdef0";

    fn md(device: &str, uuid: &str) -> Found {
        Found { device: device.into(), what: "md superblock (metadata 1.2)".into(), md_uuid: Some(uuid.into()) }
    }

    fn gpt() -> Found {
        Found { device: "/dev/sda".into(), what: "GPT partition table".into(), md_uuid: None }
    }

    #[test]
    fn a_blank_disk_needs_nothing() {
        assert_eq!(decide_wipe("/dev/sda", Some(0), &[], &[], false, "lab"), WipeDecision::Blank);
    }

    #[test]
    fn arrays_this_node_built_are_wiped_without_asking_the_profile() {
        let owned = [OURS.replace(':', "-")];
        let found = [gpt(), md("/dev/sda3", OURS)];
        let WipeDecision::Wipe { because } = decide_wipe("/dev/sda", Some(0), &found, &owned, false, "lab") else {
            panic!("not wiped")
        };
        assert!(because.contains("earlier install"), "{because}");
    }

    #[test]
    fn foreign_data_is_refused_with_what_to_do_unless_the_profile_wipes() {
        let found = [gpt(), md("/dev/sda3", "00000000:11111111:22222222:33333333")];
        let WipeDecision::Refuse { reason } = decide_wipe("/dev/sda", Some(0), &found, &[OURS.into()], false, "lab")
        else {
            panic!("not refused")
        };
        assert!(reason.starts_with("the disk in bay 0 (/dev/sda) already holds data"), "{reason}");
        assert!(reason.contains("wipefs -a /dev/sda") && reason.contains("wipe = true"), "{reason}");
        assert!(matches!(decide_wipe("/dev/sda", Some(0), &found, &[], true, "lab"), WipeDecision::Wipe { .. }));
    }

    #[test]
    fn a_partition_table_alone_proves_nothing() {
        let refused = decide_wipe("/dev/sdb", None, &[gpt()], &[OURS.into()], false, "lab");
        assert!(matches!(refused, WipeDecision::Refuse { reason } if reason.starts_with("/dev/sdb already")));
    }

    #[test]
    fn one_foreign_array_among_ours_is_foreign() {
        let found = [md("/dev/sda3", OURS), md("/dev/sda4", "aaaaaaaa:bbbbbbbb:cccccccc:dddddddd")];
        assert!(matches!(
            decide_wipe("/dev/sda", None, &found, &[OURS.into()], false, "lab"),
            WipeDecision::Refuse { .. }
        ));
    }
}
