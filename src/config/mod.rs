//! Services and real servers.
