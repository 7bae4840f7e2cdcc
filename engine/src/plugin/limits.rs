//! What one plugin call may use: memory, fuel (instructions) and wall-clock time.

use std::time::Duration;

/// The limits of one call. Every call gets them afresh: a call cannot spend what another left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest linear memory, in bytes.
    pub memory_bytes: u64,
    /// Fuel: roughly one unit per WebAssembly instruction.
    pub fuel: u64,
    /// The wall-clock deadline.
    pub timeout: Duration,
}

impl Limits {
    /// 64 MiB, 2 × 10⁹ fuel (about a second of work), one second.
    pub const DEFAULT: Limits =
        Limits { memory_bytes: 64 << 20, fuel: 2_000_000_000, timeout: Duration::from_secs(1) };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
