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

/// The address `--dashboard` and `dashboard --serve` take: a port alone (`8080`, `:8080`) or
/// `localhost:PORT` is served on loopback, anything else is an IP address and port.
///
/// # Errors
///
/// What to write instead, for the command line.
pub fn parse_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    let port = text.strip_prefix("localhost:").unwrap_or(text).trim_start_matches(':');
    if let Ok(port) = port.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!(
            "`{text}` is not an address to serve the dashboard on: write a port (`8080`), `127.0.0.1:8080`, or `0.0.0.0:8080` to serve other machines (then every request needs the token)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::parse_addr;

    #[test]
    fn a_port_alone_or_localhost_is_served_on_loopback() {
        for text in ["8080", ":8080", "localhost:8080", " 127.0.0.1:8080 "] {
            assert_eq!(parse_addr(text).unwrap().to_string(), "127.0.0.1:8080", "{text}");
        }
        assert_eq!(parse_addr("0.0.0.0:9000").unwrap().to_string(), "0.0.0.0:9000");
        assert_eq!(parse_addr("[::1]:9000").unwrap().to_string(), "[::1]:9000");
        let wrong = parse_addr("example.com:80").unwrap_err();
        assert!(wrong.contains("write a port (`8080`)"), "{wrong}");
        assert!(parse_addr("70000").is_err());
    }
}
