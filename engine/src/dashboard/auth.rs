//! Who may use the dashboard: a pure decision on a request's method and headers.
//!
//! - Every change (any method but GET and HEAD: a pause, an approval) needs the dashboard's
//!   token, even on loopback: an agent runs on this machine too, and must not approve its own
//!   work through the page when the control socket would refuse it.
//! - Reading needs no token when the dashboard is bound to loopback and no token was chosen —
//!   but only under a loopback name: a web page that rebinds its own domain to 127.0.0.1 (DNS
//!   rebinding) arrives with its own name in `Host` and is refused. Otherwise reading needs the
//!   token too.
//! - The token is `Authorization: Bearer <token>`, or `?token=` in the URL for what a browser
//!   cannot give a header to (the page's first load, `EventSource`). It is compared in constant
//!   time and never written anywhere by the server.
//! - A change must also come from the dashboard's own origin (an `Origin` naming another is
//!   refused) and carry JSON, which a cross-site form cannot send without the browser asking
//!   first.

use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, ORIGIN};

/// The dashboard's access rule.
#[derive(Debug, Clone)]
pub struct Access {
    /// The token: every change needs it, and every read unless `open_reads`.
    pub token: String,
    /// Reads need no token (bound to loopback, no token chosen): only loopback names may read.
    pub open_reads: bool,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No token was given where one is needed.
    MissingToken,
    /// The token given is not the dashboard's.
    WrongToken,
    /// Without a token, the `Host` is not a loopback name.
    ForeignHost(String),
    /// A state-changing request from another origin.
    CrossOrigin(String),
    /// A state-changing request that is not JSON.
    NotJson,
}

impl Denied {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Denied::MissingToken | Denied::WrongToken => 401,
            Denied::ForeignHost(_) | Denied::CrossOrigin(_) => 403,
            Denied::NotJson => 415,
        }
    }

    /// What it says, for the one who asked (never the token).
    pub fn message(&self) -> String {
        match self {
            Denied::MissingToken => {
                "this needs the dashboard's token (printed where it was started): `Authorization: Bearer <token>`, or open the page at the address it printed, with `?token=`".into()
            }
            Denied::WrongToken => {
                "the token is not this dashboard's: one started again has a new token, so open the address it printed this time (or choose one with --token / RALPH_DASHBOARD_TOKEN)".into()
            }
            Denied::ForeignHost(host) => format!(
                "`{host}` is not a loopback name: open the dashboard at http://127.0.0.1 or http://localhost, or serve it with a token"
            ),
            Denied::CrossOrigin(origin) => format!("a request from `{origin}` may not change the loop"),
            Denied::NotJson => "send the request's body as JSON (`Content-Type: application/json`)".into(),
        }
    }
}

/// Decides on a request: `query` is the URL's query string.
///
/// # Errors
///
/// The [`Denied`] reason.
pub fn check(access: &Access, method: &str, headers: &HeaderMap, query: Option<&str>) -> Result<(), Denied> {
    let host = header(headers, HOST.as_str()).unwrap_or_default();
    let reading = matches!(method, "GET" | "HEAD");
    if access.open_reads && !loopback_host(host) {
        return Err(Denied::ForeignHost(host.to_owned()));
    }
    if !(reading && access.open_reads) {
        let given = bearer(headers).or_else(|| query.and_then(query_token)).ok_or(Denied::MissingToken)?;
        if !constant_time_eq(given.as_bytes(), access.token.as_bytes()) {
            return Err(Denied::WrongToken);
        }
    }
    if reading {
        return Ok(());
    }
    if let Some(origin) = header(headers, ORIGIN.as_str()) {
        let own = ["http://", "https://"].iter().any(|scheme| origin.strip_prefix(scheme) == Some(host));
        if !own {
            return Err(Denied::CrossOrigin(origin.to_owned()));
        }
    }
    let json = header(headers, CONTENT_TYPE.as_str())
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Denied::NotJson);
    }
    Ok(())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = header(headers, AUTHORIZATION.as_str())?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn query_token(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| pair.strip_prefix("token="))
}

/// Whether `host` (a `Host` header: a name or address and maybe a port) is this machine's
/// loopback under a loopback name.
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .map_or(host, |(name, port)| if port.parse::<u16>().is_ok() { name } else { host })
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares without stopping at the first difference, so the time taken says nothing of how
/// much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random token: 32 bytes from the kernel, as hex.
///
/// # Errors
///
/// `/dev/urandom` cannot be read.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    const TOKEN: &str = "s3cret";

    #[test]
    fn loopback_reads_take_only_loopback_names_and_no_token() {
        let open = Access { token: TOKEN.into(), open_reads: true };
        for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST", "127.0.0.2:1"] {
            assert_eq!(check(&open, "GET", &headers(&[("host", host)]), None), Ok(()), "{host}");
        }
        for host in ["evil.example:8080", "127.0.0.1.evil.example", "10.0.0.5:8080", ""] {
            assert!(matches!(
                check(&open, "GET", &headers(&[("host", host)]), None),
                Err(Denied::ForeignHost(_))
            ));
        }
    }

    #[test]
    fn a_token_is_needed_and_checked_from_the_header_or_the_query() {
        let locked = Access { token: TOKEN.into(), open_reads: false };
        let host = ("host", "10.0.0.5:8080");
        assert_eq!(check(&locked, "GET", &headers(&[host]), None), Err(Denied::MissingToken));
        assert_eq!(
            check(&locked, "GET", &headers(&[host, ("authorization", "Bearer nope")]), None),
            Err(Denied::WrongToken)
        );
        assert_eq!(
            check(&locked, "GET", &headers(&[host, ("authorization", "bearer s3cret")]), None),
            Ok(())
        );
        assert_eq!(check(&locked, "GET", &headers(&[host]), Some("a=1&token=s3cret")), Ok(()));
        assert_eq!(check(&locked, "GET", &headers(&[host]), Some("token=s3cre")), Err(Denied::WrongToken));
        assert!(!Denied::WrongToken.message().contains(TOKEN));
    }

    #[test]
    fn a_change_needs_the_token_even_on_loopback_and_must_come_from_the_own_origin_as_json() {
        let open = Access { token: TOKEN.into(), open_reads: true };
        let host = ("host", "127.0.0.1:8080");
        let json = ("content-type", "application/json; charset=utf-8");
        let auth = ("authorization", "Bearer s3cret");
        assert_eq!(
            check(&open, "POST", &headers(&[host, json]), None),
            Err(Denied::MissingToken),
            "an agent on this machine"
        );
        assert_eq!(
            check(&open, "POST", &headers(&[host, json, auth, ("origin", "http://127.0.0.1:8080")]), None),
            Ok(())
        );
        assert_eq!(
            check(&open, "POST", &headers(&[host, json, auth]), None),
            Ok(()),
            "no Origin: not a browser"
        );
        assert_eq!(
            check(&open, "POST", &headers(&[host, json, auth, ("origin", "http://evil.example")]), None),
            Err(Denied::CrossOrigin("http://evil.example".into()))
        );
        assert_eq!(
            check(&open, "POST", &headers(&[host, auth, ("content-type", "text/plain")]), None),
            Err(Denied::NotJson)
        );
    }

    #[test]
    fn tokens_are_new_each_time() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
