//! The operator's command, `tcvip`: one module per subcommand. keepalived never runs it.
pub mod allocate;
pub mod cam_policy;
pub mod cli;
pub mod doctor;
pub mod doctor_endpoint;
mod doctor_identity;
pub mod doctor_keepalived;
pub mod doctor_node;
pub mod doctor_permissions;
mod doctor_vips;
mod doctor_wiring;
pub mod drain;
pub mod eip;
pub mod havip;
pub mod keepalived_conf;
pub mod status;
