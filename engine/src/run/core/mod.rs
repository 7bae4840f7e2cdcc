//! The pure core of a run: its events, the outcome of a step with its failure class, the control
//! signals, the ledger and circuit breaker, the pace (velocity, ETA, drift, stalls), and the
//! projection that folds events into the state every decision is taken from.
//!
//! **Architecture invariant:** this module depends on nothing else in the crate (only on std,
//! serde, humantime and the plugin SDK's data types), performs no I/O and reads no clock: a
//! run's state is `RunState::apply` folded over its journal, live and on resume alike.

pub mod bounded;
pub mod breaker;
pub mod event;
pub mod ledger;
pub mod outcome;
pub mod pace;
pub mod projection;
pub mod signal;

#[cfg(test)]
mod purity_tests {
    //! The invariant above, checked on the source: a `use` of the rest of the crate, a file, a
    //! process, a socket, a clock or an async runtime in the core fails this test.

    const FILES: &[(&str, &str)] = &[
        ("bounded.rs", include_str!("bounded.rs")),
        ("breaker.rs", include_str!("breaker.rs")),
        ("event.rs", include_str!("event.rs")),
        ("ledger.rs", include_str!("ledger.rs")),
        ("outcome.rs", include_str!("outcome.rs")),
        ("pace.rs", include_str!("pace.rs")),
        ("projection.rs", include_str!("projection.rs")),
        ("signal.rs", include_str!("signal.rs")),
    ];
    const FORBIDDEN: &[&str] = &[
        "crate::",
        "std::fs",
        "std::process",
        "std::net",
        "std::env",
        "tokio",
        "Instant::now",
        "SystemTime::now",
        "Utc::now",
        "std::thread",
    ];

    #[test]
    fn the_core_has_no_side_effects_and_no_dependencies_in_the_crate() {
        let mut found = Vec::new();
        for (name, text) in FILES {
            // Tests inside a core file may use what they like.
            let code = text.split("#[cfg(test)]").next().unwrap_or(text);
            for (n, line) in code.lines().enumerate() {
                let line = line.split("//").next().unwrap_or(line);
                for word in FORBIDDEN {
                    // `super::` paths inside the core are fine; `crate::run::core::` is too.
                    if line.contains(word) && !line.contains("crate::run::core::") {
                        found.push(format!("run/core/{name}:{}: {}", n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(found.is_empty(), "the pure core reaches outside itself:\n{}", found.join("\n"));
    }
}
