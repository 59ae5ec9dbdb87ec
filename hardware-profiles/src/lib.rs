//! Hardware profiles: what a server model must have, and the bond/RAID layout to build on it.
