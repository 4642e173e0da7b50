//! check-self's rules.
