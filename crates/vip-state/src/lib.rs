//! vip-state
