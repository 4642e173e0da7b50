//! The operator's command, `tcvip`: one module per subcommand. keepalived never runs it.
pub mod allocate;
pub mod drain;
pub mod eip;
pub mod status;
