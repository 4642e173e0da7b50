//! The operator's command `tcvip` (keepalived never runs it): one module per subcommand.
pub mod cam_policy;
pub mod doctor;
pub mod doctor_endpoint;
pub mod doctor_keepalived;
pub mod doctor_node;
pub mod doctor_permissions;
pub mod keepalived_conf;
