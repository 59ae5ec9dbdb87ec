//! DHCPv4: full and proxy modes. (In progress.)
