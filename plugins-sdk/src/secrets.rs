//! Credentials recognised by their form: cloud keys, VCS and chat tokens, private-key blocks,
//! JWTs, passwords inside URLs, and high-entropy values assigned to secret-named keys. One
//! detector for the engine (which masks what it writes) and for plugins such as `secret-guard`
//! (which veto a change that adds one); it depends on nothing but `core` and `alloc`.
//!
//! [`find`] makes one pass over the bytes: a position is looked at only where a credential can
//! start (a word's first byte that may begin a known prefix, an `=`, a `:`), and every
//! candidate it follows is read at most once, so the cost is linear in the input and text
//! without candidates costs a table look-up per byte.
//!
//! ```
//! use ralph_plugin_sdk::secrets::{self, Kind};
//!
//! let line = format!("push to https://bot:{}@git.example.org/x.git", "hunter2-Zr8Kq2Vx");
//! let found = secrets::find(line.as_bytes());
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].kind, Kind::UrlPassword);
//! assert_eq!(&line[found[0].start..found[0].end], "hunter2-Zr8Kq2Vx");
//! ```

/// What a found credential looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `AKIA`/`ASIA` + 16 uppercase letters or digits.
    AwsAccessKeyId,
    /// A 40-character value assigned to an `aws…secret…` key.
    AwsSecretKey,
    /// `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` + 36 or more letters or digits; `github_pat_…`.
    GithubToken,
    /// `glpat-` + 20 or more characters.
    GitlabToken,
    /// `xoxb-`, `xoxa-`, `xoxp-`, `xoxr-`, `xoxs-` + 10 or more characters.
    SlackToken,
    /// `sk_live_…`, `rk_live_…`.
    StripeKey,
    /// `AIza` + 35 characters.
    GoogleApiKey,
    /// `sk-ant-…`.
    AnthropicKey,
    /// `sk-…`: 32 or more characters with letters and digits.
    OpenaiKey,
    /// `-----BEGIN … PRIVATE KEY-----` up to its `-----END … PRIVATE KEY-----`.
    PrivateKey,
    /// `eyJ….eyJ….…`.
    Jwt,
    /// The password of `scheme://user:password@host` (only the password).
    UrlPassword,
    /// A long, high-entropy value assigned to a key that names a secret (`DB_PASSWORD=…`,
    /// `"clientSecret": "…"`).
    Assignment,
}

impl Kind {
    /// A short name for masks and machine output: `github-token`.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::AwsAccessKeyId => "aws-access-key-id",
            Kind::AwsSecretKey => "aws-secret-key",
            Kind::GithubToken => "github-token",
            Kind::GitlabToken => "gitlab-token",
            Kind::SlackToken => "slack-token",
            Kind::StripeKey => "stripe-key",
            Kind::GoogleApiKey => "google-api-key",
            Kind::AnthropicKey => "anthropic-key",
            Kind::OpenaiKey => "openai-key",
            Kind::PrivateKey => "private-key",
            Kind::Jwt => "jwt",
            Kind::UrlPassword => "url-password",
            Kind::Assignment => "secret-value",
        }
    }

    /// What people call it: `GitHub token`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::AwsAccessKeyId => "AWS access key id",
            Kind::AwsSecretKey => "AWS secret access key",
            Kind::GithubToken => "GitHub token",
            Kind::GitlabToken => "GitLab token",
            Kind::SlackToken => "Slack token",
            Kind::StripeKey => "Stripe live key",
            Kind::GoogleApiKey => "Google API key",
            Kind::AnthropicKey => "Anthropic API key",
            Kind::OpenaiKey => "OpenAI-style API key",
            Kind::PrivateKey => "private key",
            Kind::Jwt => "JSON Web Token",
            Kind::UrlPassword => "password in a URL",
            Kind::Assignment => "hard-coded secret",
        }
    }
}

/// A credential found in a text: bytes `start..end` of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its first byte.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// What it looks like.
    pub kind: Kind,
}

/// Whether a name (an environment variable, a key) says its value is a secret: `*_KEY`,
/// `*_TOKEN`, `*_PAT`, `*SECRET*`, `*PASSWORD*`, `*CREDENTIAL*`, `KEY`, `TOKEN`.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    name.ends_with("_KEY")
        || name.ends_with("_TOKEN")
        || name.ends_with("_PAT")
        || name.contains("SECRET")
        || name.contains("PASSWORD")
        || name.contains("CREDENTIAL")
        || name == "KEY"
        || name == "TOKEN"
}

/// The longest token a prefix detector reads: real ones are under 200 bytes; a bound keeps a
/// pathological run cheap.
const MAX_TOKEN: usize = 1024;
/// The longest private-key block read (a 16,384-bit RSA key is about 13 KB).
const MAX_PEM: usize = 64 * 1024;
/// The longest key looked back at from an `=` or `:`.
const MAX_KEY: usize = 128;
/// The longest value read after an `=` or `:`.
const MAX_VALUE: usize = 512;

/// Bytes at which a check starts: the first byte of every prefix, `=`, `:` and `-`.
const TRIGGER: [bool; 256] = {
    let mut t = [false; 256];
    let bytes = b"Agxsre-=:";
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
};

/// The credentials in `text`, in order, without overlaps.
pub fn find(text: &[u8]) -> Vec<Found> {
    let mut found = Vec::new();
    let b = text;
    let mut i = 0;
    // Where the last failed candidate of each family stopped: a later start inside it would
    // read the same bytes to the same end and fail the same way.
    let mut skip_to = 0;
    while i < b.len() {
        let c = b[i];
        if !TRIGGER[c as usize] {
            i += 1;
            continue;
        }
        let word_start = i == 0 || !is_word(b[i - 1]);
        let hit = match c {
            // A token assigned to a secret-named key is reported as that token.
            b'=' | b':' => url_password(b, i).or_else(|| {
                assignment(b, i).map(|f| match token(b, f.start) {
                    Ok(Some(t)) if t.end <= f.end => t,
                    _ => f,
                })
            }),
            _ if !word_start || i < skip_to => None,
            b'-' => private_key(b, i),
            _ => match token(b, i) {
                Ok(hit) => hit,
                Err(stop) => {
                    skip_to = stop;
                    None
                }
            },
        };
        match hit {
            Some(f) if !is_placeholder(&b[f.start..f.end]) => {
                i = f.end.max(i + 1);
                found.push(f);
            }
            _ => i += 1,
        }
    }
    found
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// How many bytes from `from` satisfy `ok`, at most `max`.
fn run(b: &[u8], from: usize, max: usize, ok: impl Fn(u8) -> bool) -> usize {
    b.get(from..).map_or(0, |rest| rest.iter().take(max).take_while(|&&c| ok(c)).count())
}

/// A token by its prefix at `at` (a word's start). `Err(stop)`: a candidate that failed,
/// having read up to `stop`.
fn token(b: &[u8], at: usize) -> Result<Option<Found>, usize> {
    let rest = &b[at..];
    let found = |len: usize, kind| Ok(Some(Found { start: at, end: at + len, kind }));
    let body = |from: usize, ok: fn(u8) -> bool| run(b, at + from, MAX_TOKEN, ok);
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
        let n = body(4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if n == 16 && !b.get(at + 20).copied().is_some_and(is_word) {
            return found(20, Kind::AwsAccessKeyId);
        }
        return Err(at + 4 + n);
    }
    if rest.starts_with(b"AIza") {
        let n = body(4, is_b64url);
        if n == 35 {
            return found(39, Kind::GoogleApiKey);
        }
        return Err(at + 4 + n);
    }
    if rest.len() > 4 && rest.starts_with(b"gh") && b"pousr".contains(&rest[2]) && rest[3] == b'_' {
        let n = body(4, alnum);
        if n >= 36 {
            return found(4 + n, Kind::GithubToken);
        }
        return Err(at + 4 + n);
    }
    if rest.starts_with(b"github_pat_") {
        let n = body(11, |c| c.is_ascii_alphanumeric() || c == b'_');
        if n >= 22 {
            return found(11 + n, Kind::GithubToken);
        }
        return Err(at + 11 + n);
    }
    if rest.starts_with(b"glpat-") {
        let n = body(6, is_b64url);
        if n >= 20 {
            return found(6 + n, Kind::GitlabToken);
        }
        return Err(at + 6 + n);
    }
    if rest.len() > 5 && rest.starts_with(b"xox") && b"abprs".contains(&rest[3]) && rest[4] == b'-' {
        let n = body(5, |c| c.is_ascii_alphanumeric() || c == b'-');
        if n >= 10 {
            return found(5 + n, Kind::SlackToken);
        }
        return Err(at + 5 + n);
    }
    if rest.starts_with(b"sk_live_") || rest.starts_with(b"rk_live_") {
        let n = body(8, alnum);
        if n >= 16 {
            return found(8 + n, Kind::StripeKey);
        }
        return Err(at + 8 + n);
    }
    if rest.starts_with(b"sk-ant-") {
        let n = body(7, is_b64url);
        if n >= 20 {
            return found(7 + n, Kind::AnthropicKey);
        }
        return Err(at + 7 + n);
    }
    if rest.starts_with(b"sk-") {
        let n = body(3, is_b64url);
        let key = &b[at + 3..at + 3 + n];
        if n >= 32 && key.iter().any(u8::is_ascii_digit) && key.iter().any(u8::is_ascii_alphabetic) {
            return found(3 + n, Kind::OpenaiKey);
        }
        return Err(at + 3 + n);
    }
    if rest.starts_with(b"eyJ") {
        return match jwt_end(b, at) {
            Ok(end) => Ok(Some(Found { start: at, end, kind: Kind::Jwt })),
            Err(stop) => Err(stop),
        };
    }
    Ok(None)
}

/// The end of a JWT starting at `at`: `eyJ…` `.` `eyJ…` `.` signature; `Err` where it stopped.
fn jwt_end(b: &[u8], at: usize) -> Result<usize, usize> {
    let header = run(b, at, MAX_PEM, is_b64url);
    let dot = at + header;
    if header < 10 || b.get(dot) != Some(&b'.') || !b[dot + 1..].starts_with(b"eyJ") {
        return Err(dot);
    }
    let payload = run(b, dot + 1, MAX_PEM, is_b64url);
    let dot2 = dot + 1 + payload;
    if payload < 10 || b.get(dot2) != Some(&b'.') {
        return Err(dot2);
    }
    let signature = run(b, dot2 + 1, MAX_PEM, is_b64url);
    if signature >= 8 { Ok(dot2 + 1 + signature) } else { Err(dot2 + 1 + signature) }
}

/// A private-key block at `at`: `-----BEGIN … PRIVATE KEY-----`, its body, and its
/// `-----END … PRIVATE KEY-----` when it is there (a block cut short is masked to where its
/// body stops). Bodies with escaped newlines (`\n` inside JSON) count as bodies.
fn private_key(b: &[u8], at: usize) -> Option<Found> {
    let rest = &b[at..];
    if !rest.starts_with(b"-----BEGIN ") {
        return None;
    }
    let header = &rest[..rest.len().min(80)];
    let label = header.windows(16).position(|w| w == b"PRIVATE KEY-----")?;
    if header[11..label].iter().any(|&c| c == b'\n' || c == b'-') {
        return None;
    }
    let mut i = at + label + 16;
    let limit = b.len().min(at + MAX_PEM);
    while i < limit {
        let c = b[i];
        if b[i..].starts_with(b"-----END ") {
            let tail = &b[i..limit.min(i + 80)];
            if let Some(p) = tail.windows(16).position(|w| w == b"PRIVATE KEY-----") {
                i += p + 16;
            }
            break;
        }
        let body = c.is_ascii_alphanumeric()
            || b"+/=:,- \t\r\n".contains(&c)
            || (c == b'\\' && matches!(b.get(i + 1), Some(b'n' | b'r')));
        if !body {
            break;
        }
        i += if c == b'\\' { 2 } else { 1 };
    }
    Some(Found { start: at, end: i, kind: Kind::PrivateKey })
}

/// The password of a URL whose `://` starts at `at`: `scheme://user:password@host`.
fn url_password(b: &[u8], at: usize) -> Option<Found> {
    if !b[at..].starts_with(b"://") || at == 0 || !b[at - 1].is_ascii_alphanumeric() {
        return None;
    }
    let from = at + 3;
    let authority = run(b, from, MAX_VALUE, |c| {
        !matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'`' | b'<' | b'>' | b'\\') && c.is_ascii_graphic()
    });
    let userinfo = &b[from..from + authority];
    let end = from + userinfo.iter().rposition(|&c| c == b'@')?;
    let colon = from + b[from..end].iter().position(|&c| c == b':')?;
    (end > colon + 1).then_some(Found { start: colon + 1, end, kind: Kind::UrlPassword })
}

/// Words of a key name that make an assignment a secret.
const SECRET_WORDS: &[&str] =
    &["password", "passwd", "pwd", "secret", "token", "apikey", "credential", "credentials", "passphrase"];

/// Last words of a key name that make it about a secret, not a secret (`token_url`).
const NOT_SECRET_SUFFIXES: &[&str] = &[
    "type", "url", "uri", "endpoint", "file", "path", "name", "length", "len", "count", "id", "field",
    "header", "env", "var", "prefix", "kind", "expiry", "expires", "ttl", "policy", "hash", "label",
];

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.'
}

/// A secret assigned at the operator at `op` (`=`, `:`, `:=`, `=>`): `key = "literal"`,
/// `key: 'literal'`, `"key": "literal"`, `KEY=literal`, where the key names a secret.
fn assignment(b: &[u8], op: usize) -> Option<Found> {
    // Not `==`, `!=`, `<=`, `>=`, nor the second byte of `:=` / `=>` / `==`.
    if op > 0 && matches!(b[op - 1], b'=' | b'!' | b'<' | b'>' | b':') {
        return None;
    }
    let mut j = op + 1;
    match (b[op], b.get(j)) {
        (b'=', Some(b'=')) => return None,
        (b':', Some(b'=')) | (b'=', Some(b'>')) => j += 1,
        _ => {}
    }
    // The key: spaces, an optional closing quote, then key characters, read backwards.
    let mut k = op;
    while k > 0 && op - k < 8 && matches!(b[k - 1], b' ' | b'\t') {
        k -= 1;
    }
    if k > 0 && matches!(b[k - 1], b'"' | b'\'') {
        k -= 1;
        // `\"key\": \"value\"`: JSON text inside JSON text.
        if k > 0 && b[k - 1] == b'\\' {
            k -= 1;
        }
    }
    let key_end = k;
    while k > 0 && key_end - k < MAX_KEY && is_key_char(b[k - 1]) {
        k -= 1;
    }
    if key_end - k < 3 || (k > 0 && is_key_char(b[k - 1])) || !may_name_a_secret(&b[k..key_end]) {
        return None;
    }
    let key = std::str::from_utf8(&b[k..key_end]).ok()?;
    let kind = secret_key_kind(key)?;

    j += run(b, j, 8, |c| c == b' ' || c == b'\t');
    let (start, end, quoted) = match b.get(j) {
        // An escaped quote: a quoted value inside a JSON string.
        Some(b'\\') if matches!(b.get(j + 1), Some(b'"' | b'\'')) => {
            let (q, from) = (b[j + 1], j + 2);
            let len = run(b, from, MAX_VALUE, |c| c != b'\\' && c != q && c != b'\n');
            if b.get(from + len) != Some(&b'\\') || b.get(from + len + 1) != Some(&q) {
                return None;
            }
            (from, from + len, true)
        }
        Some(&q @ (b'"' | b'\'' | b'`')) => {
            let len = run(b, j + 1, MAX_VALUE, |c| c != q && c != b'\n');
            if b.get(j + 1 + len) != Some(&q) {
                return None;
            }
            (j + 1, j + 1 + len, true)
        }
        Some(_) => {
            let len = run(b, j, MAX_VALUE, |c| c.is_ascii_graphic() && !b"\"'`,;()[]{}&".contains(&c));
            // Unquoted values end at a space, the line's end, or `&` (a query string); code
            // such as `token = self.token.clone();` does not.
            match b.get(j + len) {
                None | Some(b' ' | b'\t' | b'\r' | b'\n' | b'&' | b',' | b';') => {}
                _ => return None,
            }
            (j, j + len, false)
        }
        None => return None,
    };
    let value = &b[start..end];
    if kind == Kind::AwsSecretKey {
        let ok = value.len() == 40 && value.iter().all(|&c| c.is_ascii_alphanumeric() || b"/+=".contains(&c));
        return ok.then_some(Found { start, end, kind });
    }
    looks_like_secret(value, quoted).then_some(Found { start, end, kind })
}

/// A cheap test, without allocating, that `key` may name a secret: every key
/// [`secret_key_kind`] accepts holds one of these words (`:` follows every key of a JSON
/// text, so this runs often).
fn may_name_a_secret(key: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[b"pass", b"pwd", b"secret", b"token", b"key", b"credential", b"pat"];
    key.windows(3).enumerate().any(|(i, w)| {
        WORDS.iter().any(|word| {
            w.eq_ignore_ascii_case(&word[..3])
                && key.get(i..i + word.len()).is_some_and(|k| k.eq_ignore_ascii_case(word))
        })
    })
}

/// The kind of secret `value` is when a key named `key` holds it (a JSON object's field, say):
/// the same test as for `key = "value"` in a text.
pub fn assigned(key: &str, value: &str) -> Option<Kind> {
    if !may_name_a_secret(key.as_bytes()) {
        return None;
    }
    let kind = secret_key_kind(key)?;
    let value = value.as_bytes();
    let found = match kind {
        Kind::AwsSecretKey => {
            value.len() == 40 && value.iter().all(|&c| c.is_ascii_alphanumeric() || b"/+=".contains(&c))
        }
        _ => looks_like_secret(value, true),
    };
    (found && !is_placeholder(value)).then_some(kind)
}

/// The kind of secret a key names, if it names one.
fn secret_key_kind(key: &str) -> Option<Kind> {
    let lower = key.to_ascii_lowercase();
    if lower.contains("aws") && lower.contains("secret") {
        return Some(Kind::AwsSecretKey);
    }
    let words: Vec<&str> = lower.split(['_', '-', '.']).filter(|w| !w.is_empty()).collect();
    let last = *words.last()?;
    if NOT_SECRET_SUFFIXES.contains(&last) {
        return None;
    }
    let named = is_secret_name(key)
        || words.iter().enumerate().any(|(n, w)| {
            SECRET_WORDS.iter().any(|s| w == s || (w.ends_with(s) && w.len() > s.len() + 2))
                || (*w == "key"
                    && n > 0
                    && matches!(words[n - 1], "api" | "access" | "secret" | "private" | "auth"))
                || w.ends_with("apikey")
                || w.ends_with("accesskey")
                || w.ends_with("secretkey")
                || w.ends_with("privatekey")
        });
    named.then_some(Kind::Assignment)
}

/// A literal long and random enough to be a real secret (not a word, a sentence or a URL).
fn looks_like_secret(value: &[u8], quoted: bool) -> bool {
    if value.iter().any(u8::is_ascii_whitespace) || value.windows(3).any(|w| w == b"://") {
        return false;
    }
    let entropy = shannon_entropy(value);
    if quoted {
        value.len() >= 10 && entropy >= 3.0
    } else {
        let digits = value.iter().any(u8::is_ascii_digit);
        let letters = value.iter().any(u8::is_ascii_alphabetic);
        value.len() >= 16 && entropy >= 3.5 && digits && letters
    }
}

/// Words in a value that mark it as a placeholder, not a secret.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "xxx",
    "***",
    "...",
    "…",
    "example",
    "placeholder",
    "dummy",
    "sample",
    "fake",
    "redacted",
    "replace",
    "your_",
    "your-",
    "yourkey",
    "yourtoken",
    "yourpassword",
    "_here",
    "-here",
    "insert",
    "todo",
    "${",
    "{{",
    "$(",
    "%(",
    "%s",
    "<",
    ">",
];

/// Whether `value` is a placeholder (`changeme`, `${VAR}`, `<your-key>`, one repeated byte…).
pub fn is_placeholder(value: &[u8]) -> bool {
    // A private key's block is long and holds anything; its header says what it is.
    if value.starts_with(b"-----BEGIN ") {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    PLACEHOLDERS.iter().any(|p| lower.windows(p.len()).any(|w| w == p.as_bytes()))
        || value.iter().all(|&c| c == value[0])
}

/// Shannon entropy of `value`'s bytes, in bits per byte.
pub fn shannon_entropy(value: &[u8]) -> f64 {
    if value.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &c in value {
        counts[c as usize] += 1;
    }
    let len = value.len() as f64;
    counts.iter().filter(|&&n| n > 0).map(|&n| f64::from(n) / len).map(|p| -p * p.log2()).sum()
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
