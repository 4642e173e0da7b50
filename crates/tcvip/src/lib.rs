//! tcvip
