//! Rackhand boot service library.
