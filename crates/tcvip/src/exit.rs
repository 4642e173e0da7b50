//! exit (under construction)
