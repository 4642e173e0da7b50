//! Signed access to the Tencent Cloud VPC API (2017-03-12).
//!
//! It knows nothing of keepalived.
pub mod sign;
