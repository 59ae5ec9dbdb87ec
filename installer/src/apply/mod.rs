//! Applying an install plan to the machine: bond (netlink), RAID (mdadm). (Issue 4.)
