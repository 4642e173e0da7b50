//! Typed VPC 2017-03-12 actions used for VIP failover.
//!
//! Field names are exactly the service's (UpperCamel). Responses tolerate unknown fields,
//! missing fields and `null` (read as the field's default); requests omit unset options and
//! empty lists. Every type is both `Serialize` and `Deserialize`, so a simulator can reuse them.

mod actions;
mod de;
mod types;

pub use actions::{DESCRIBE_ALL_MAX_ITEMS, PAGE_LIMIT};
pub use types::*;
