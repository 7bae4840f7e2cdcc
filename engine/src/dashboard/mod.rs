//! The built-in web dashboard: one project's loop in a browser, with nothing to install.
//!
//! - [`server`]: the HTTP server (hyper): the page, the JSON API, the live feed.
//! - [`auth`]: who may use it (loopback names without a token, a bearer token otherwise; changes
//!   only from the dashboard's own origin, as JSON) — a pure decision.
//! - [`api`]: the JSON API, built by the code the CLI's `--json` is built by, reading where the
//!   CLI reads (the running loop over its control socket, else the store) and sending signals
//!   over the same control channel.
//! - [`feed`]: one subscription to the running loop's events, fanned out to every open page.
//! - [`assets`]: the page, compiled in.
//! - [`review`]: `GET /review`, the form of the review the running loop waits for, gathered
//!   from the loop's status and the run's journal; [`form`] renders it from the human state's
//!   `ui.template` (or the built-in form), escaping every value.
//!
//! **Architecture invariant:** the dashboard holds nothing of a run: it never keeps the store
//! open between requests (a loop can always start) and changes a run only through the control
//! channel, which journals every signal before it acts.

pub mod api;
pub mod assets;
pub mod auth;
pub mod feed;
pub mod form;
pub mod review;
pub mod server;

pub use server::{Dashboard, Options, ServeError, serve};

/// Where the dashboard listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
