//! log (under construction)
