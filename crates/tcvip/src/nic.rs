//! nic (under construction)
