//! Failure policies at run time: how often and how far apart a failed step is tried again.
//!
//! **Architecture invariant:** the `backoff` crate is used only in `retry.rs`, so replacing it is
//! a one-file change.

pub mod breaker;
pub mod retry;
