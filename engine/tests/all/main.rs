//! The one integration-test binary: it drives the real `ralph-loop` binary in temporary
//! directories, one module per feature area.

mod bounds;
mod browser;
mod bundled;
mod cases;
mod cli;
mod control;
mod control_hostile;
mod dashboard;
mod dashboard_browser;
mod durable;
mod environment;
mod exit_status;
mod fuzz;
mod hook_agents;
mod init;
mod init_options;
mod inspect;
mod keys;
mod monitoring;
mod notify;
mod plugin_langs;
mod plugin_runs;
mod plugins;
mod replay;
mod resilience;
mod run;
mod run_core;
mod schema;
mod seeds;
mod support;
mod tasks;
mod telemetry;
mod traces;
mod visualize;
mod worktree;
