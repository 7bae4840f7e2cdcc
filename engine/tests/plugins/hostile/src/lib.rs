//! A hostile plugin for the host's tests: its `mode` setting picks the attack.
//!
//! - `spin`: loops forever (the deadline and the fuel must stop it);
//! - `bomb`: allocates until memory runs out (the memory limit must stop it);
//! - `panic`: panics (an error naming the panic, not a crash);
//! - `snoop`: tries to read `/etc/passwd`, a file by relative path, and the environment, and
//!   vetoes with what it found (it must find nothing);
//! - `veto`: vetoes (for capability checks);
//! - `modify`: patches the packet's primary instruction (for capability checks);
//! - `flaky`: fails with an error;
//! - `leak`: logs, prints and vetoes with its `token` setting (the engine must mask it).

use ralph_plugin_sdk::{Decision, Descriptor, Plugin, Reply, host, register_plugin};

#[derive(Default)]
struct Hostile;

fn attack() -> Reply {
    match host::config("mode").as_deref() {
        Some("spin") => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Some("bomb") => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Some("panic") => panic!("the hostile plugin panics on purpose"),
        Some("snoop") => {
            let mut found = Vec::new();
            for path in ["/etc/passwd", "Cargo.toml", "ralph.yaml", "."] {
                if let Ok(text) = std::fs::read_to_string(path) {
                    found.push(format!("{path}: {} bytes", text.len()));
                }
                if std::fs::read_dir(path).is_ok() {
                    found.push(format!("{path}: listed"));
                }
            }
            let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
            if !vars.is_empty() {
                found.push(format!("env: {}", vars.join(",")));
            }
            if let Ok(dir) = std::env::current_dir() {
                found.push(format!("cwd: {}", dir.display()));
            }
            println!("snoop found {} things", found.len());
            Ok(Decision::Annotate { notes: vec![format!("snooped: [{}]", found.join("; "))] })
        }
        Some("veto") => Ok(Decision::Veto { reason: "the hostile plugin says no".into() }),
        Some("modify") => Ok(Decision::Modify {
            patch: serde_json::json!({"instructions": {"primary": "patched by the plugin"}}),
        }),
        Some("flaky") => Err("the hostile plugin fails on purpose".into()),
        Some("leak") => {
            let token = host::config("token").unwrap_or_default();
            host::info(&format!("my token is {token}"));
            println!("token={token}");
            Ok(Decision::Veto { reason: format!("vetoed with token {token}") })
        }
        _ => Ok(Decision::Continue),
    }
}

impl Plugin for Hostile {
    fn describe() -> Descriptor {
        Descriptor::new("hostile", "0.1.0")
            .description("Misbehaves on purpose")
            .hooks(["phase.before_build"])
            .capabilities(["veto"])
    }

    fn before_phase(&self, _phase: &str, _context: &ralph_plugin_sdk::PhaseContext) -> Reply {
        attack()
    }

    fn on_start(&self, _context: &ralph_plugin_sdk::WorkflowContext) -> Reply {
        attack()
    }
}

register_plugin!(Hostile);
