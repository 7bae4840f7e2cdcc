//! Notifications delivered: the `notifications:` section's slack and webhook channels receive
//! the run's events at a local HTTP server (a webhook's signature checked), email channels at a
//! real SMTP server on 127.0.0.1 (Python's aiosmtpd, with STARTTLS and AUTH), a review's
//! reminders arrive until it is decided, every attempt is journaled with no secret in it, and a
//! channel that is down is reported once.

use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::control::{finish, journal, live, wait_for};
use crate::support::{events, project, ralph};

/// One request the catcher received.
#[derive(Debug, Clone)]
pub(crate) struct Caught {
    pub(crate) path: String,
    headers: Vec<(String, String)>,
    pub(crate) body: serde_json::Value,
    /// The body's bytes as sent (what a signature is computed over).
    pub(crate) raw: Vec<u8>,
}

impl Caught {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Receives POSTs on 127.0.0.1 (one request per connection) and keeps them; answers 200.
pub(crate) fn catcher() -> (String, Arc<Mutex<Vec<Caught>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let caught = Arc::new(Mutex::new(Vec::new()));
    let keep = caught.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break request.len(),
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
            let mut lines = head.lines();
            let path = lines.next().unwrap_or("").split_whitespace().nth(1).unwrap_or("/").to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while request.len() < head_end + length {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let raw = request[head_end..].to_vec();
            let body = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
            keep.lock().unwrap().push(Caught { path, headers, body, raw });
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (format!("http://{address}"), caught)
}

pub(crate) fn caught_at(caught: &Arc<Mutex<Vec<Caught>>>, path: &str) -> Vec<Caught> {
    caught.lock().unwrap().iter().filter(|c| c.path == path).cloned().collect()
}

const CHANNELS: &str = "notifications:\n  channels:\n    slack:\n      webhook: ${HOOK_URL}/slack\n      channel: \"#builds\"\n    ops:\n      type: webhook\n      url: ${HOOK_URL}/ops\n      headers:\n        X-Token: ${NOTIFY_TOKEN}\n      secret: ${WEBHOOK_SECRET}\n";

/// The signing key the tests give the `ops` channel.
const SIGNING_KEY: &str = "whsec-8d1e0c7b5a";

/// What a receiver computes to check a request: `sha256=` and the hex HMAC-SHA256 of the body.
fn expected_signature(body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING_KEY.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The run's directory (the only run of the project).
fn run_dir(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join(".ralph/runs")).unwrap().next().unwrap().unwrap().path()
}

/// Every file the run wrote under `.ralph/runs/`, as text (lossy), with its path.
fn run_files(dir: &Path) -> Vec<(PathBuf, String)> {
    crate::support::files_as_text(&dir.join(".ralph/runs"))
}

#[test]
fn slack_and_webhook_channels_receive_the_runs_start_and_completion() {
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"true\"\n{CHANNELS}  events:\n    on_start: [slack, ops]\n    on_complete:\n      - slack: {{mention: \"@here\"}}\n      - ops\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("NOTIFY_TOKEN", "tok-4f9a2c")
        .env("WEBHOOK_SECRET", SIGNING_KEY)
        .current_dir(dir.path())
        .expect(0);
    // The run's end waits for the sends in flight: everything has arrived once it returns.
    let slack = caught_at(&caught, "/slack");
    assert_eq!(slack.len(), 2, "{slack:?}");
    let start = slack.iter().find(|c| c.body["text"].as_str().unwrap().contains("started")).unwrap();
    assert_eq!(start.body["channel"], "#builds");
    assert!(start.body["text"].as_str().unwrap().contains("of `w` started"), "{:?}", start.body);
    let done = slack.iter().find(|c| c.body["text"].as_str().unwrap().contains("completed")).unwrap();
    assert!(done.body["text"].as_str().unwrap().starts_with("@here ralph-loop: run `"), "{:?}", done.body);
    let ops = caught_at(&caught, "/ops");
    let mut events: Vec<&str> = ops.iter().map(|c| c.body["event"].as_str().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(events, ["on_complete", "on_start"]);
    for call in &ops {
        assert_eq!(call.header("x-token"), Some("tok-4f9a2c"), "custom headers are sent, expanded");
        assert_eq!(call.header("content-type"), Some("application/json"));
        assert!(call.body["run_id"].as_str().is_some_and(|id| !id.is_empty()));
        // Signed like GitHub's webhooks: the receiver's own HMAC of the exact body matches.
        assert_eq!(call.header("x-ralph-signature-256"), Some(expected_signature(&call.raw).as_str()));
        assert_eq!(call.header("x-ralph-event"), call.body["event"].as_str());
    }
    // Slack's incoming webhooks are not signed by the sender.
    assert!(slack.iter().all(|c| c.header("x-ralph-signature-256").is_none()));
    let complete = ops.iter().find(|c| c.body["event"] == "on_complete").unwrap();
    assert_eq!(complete.body["status"], "succeeded");
    // Every attempt is logged, and the channel's secrets are not.
    let runs = dir.path().join(".ralph/runs");
    let run_dir = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let log = std::fs::read_to_string(run_dir.join("notifications.log")).unwrap();
    assert_eq!(log.matches("attempt 1/3 delivered (200)").count(), 4, "{log}");
    // Every attempt is journaled too, with its result.
    let attempts: Vec<(String, String)> = journal(dir.path())
        .into_iter()
        .filter(|e| e["event"] == "notification")
        .map(|e| {
            assert_eq!((e["attempt"].as_u64(), e["delivered"].as_bool()), (Some(1), Some(true)), "{e}");
            assert_eq!(e["detail"], "delivered (200)");
            (e["notification"].as_str().unwrap().to_owned(), e["channel"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    for sent in [("on_start", "slack"), ("on_start", "ops"), ("on_complete", "slack"), ("on_complete", "ops")]
    {
        assert!(attempts.contains(&(sent.0.to_owned(), sent.1.to_owned())), "{sent:?} in {attempts:?}");
    }
    let journal = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0).stdout;
    let files = run_files(dir.path());
    let texts = [&log, &journal, &out.stderr, &out.stdout].into_iter().chain(files.iter().map(|(_, t)| t));
    for text in texts {
        assert!(!text.contains("tok-4f9a2c"), "the token leaked: {text}");
        assert!(!text.contains(&url), "the webhook URL leaked: {text}");
        assert!(!text.contains(SIGNING_KEY), "the signing key leaked: {text}");
    }
}

#[test]
fn a_failing_run_sends_on_failure() {
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"false\"\n{CHANNELS}  events:\n    on_complete: [ops]\n    on_failure: [ops]\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("NOTIFY_TOKEN", "t")
        .env("WEBHOOK_SECRET", SIGNING_KEY)
        .current_dir(dir.path())
        .output();
    assert_ne!(out.code, 0, "{}", out.stderr);
    let ops = caught_at(&caught, "/ops");
    assert_eq!(ops.len(), 1, "only on_failure: {ops:?}");
    assert_eq!(ops[0].body["event"], "on_failure");
    assert_eq!(ops[0].body["status"], "failed");
    assert!(ops[0].body["text"].as_str().unwrap().contains("failed"), "{:?}", ops[0].body);
}

#[test]
fn a_review_waiting_sends_the_approve_and_reject_commands() {
    let yaml = format!(
        "workflow:\n  states:\n    - id: work\n      agent: worker\n    - id: review\n      type: human\n    - id: done\n      type: terminal\n  transitions:\n    - from: work\n      to: review\n    - from: review\n      to: done\n      condition: approved\n      else: work\nagents:\n  worker:\n    command: \"true\"\n{CHANNELS}  events:\n    on_human_review_needed:\n      - slack: {{mention: \"@ana\"}}\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let child = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("NOTIFY_TOKEN", "t")
        .env("WEBHOOK_SECRET", SIGNING_KEY)
        .current_dir(dir.path())
        .spawn();
    wait_for("the review's notification", 60, || !caught_at(&caught, "/slack").is_empty());
    let text = caught_at(&caught, "/slack")[0].body["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("@ana "), "{text}");
    assert!(text.contains("`review`") && text.contains("waiting for review"), "{text}");
    let id = text.split("ralph-loop approve ").nth(1).unwrap().split('`').next().unwrap().to_owned();
    assert!(text.contains(&format!("`ralph-loop reject {id}`")), "{text}");
    // The commands it carries work as written.
    wait_for("the loop to answer", 60, || live(dir.path()).is_some());
    ralph(["approve", &id]).current_dir(dir.path()).expect(0);
    assert!(finish(child).success());
    assert_eq!(caught_at(&caught, "/slack").len(), 1);
}

#[test]
fn a_channel_that_is_down_delays_nothing_and_is_reported_once_at_the_end() {
    // A port nobody listens on: connections are refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let yaml = "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"true\"\nnotifications:\n  channels:\n    ops:\n      type: webhook\n      url: ${HOOK_URL}/ops\n  events:\n    on_start: [ops]\n    on_complete: [ops]\n";
    let dir = project(&[("w.yaml", yaml)]);
    let started = Instant::now();
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", format!("http://{closed}"))
        .current_dir(dir.path())
        .expect(0);
    let took = started.elapsed();
    assert_eq!(out.stderr.matches("could not be reached").count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("notification channel `ops` could not be reached (2 notifications not delivered)"),
        "{}",
        out.stderr
    );
    // Every attempt is logged. The run's end waits for no backoff: a send that failed then is
    // reported at once, so the run did not wait out the three-second grace.
    let runs = dir.path().join(".ralph/runs");
    let run_dir = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let log = std::fs::read_to_string(run_dir.join("notifications.log")).unwrap();
    for event in ["on_start", "on_complete"] {
        assert!(log.contains(&format!("{event} -> `ops`: attempt 1/3 failed: cannot connect")), "{log}");
    }
    assert!(took.as_secs_f64() < 3.0, "a dead channel held the run up: {took:?}");
    let journal = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0).stdout;
    assert_eq!(journal.matches("could not be reached").count(), 1, "journaled once");
    let failed: Vec<serde_json::Value> =
        events(&journal).into_iter().filter(|e| e["event"] == "notification").collect();
    assert!(failed.len() >= 2, "each attempt is journaled: {failed:?}");
    for attempt in &failed {
        assert_eq!(attempt["delivered"], false);
        assert!(attempt["detail"].as_str().unwrap().starts_with("failed: cannot connect"), "{attempt}");
        assert!(!attempt.to_string().contains(&closed.to_string()), "no URL in the journal: {attempt}");
    }
}

#[test]
fn notify_test_sends_to_the_named_channel_and_says_whether_it_arrived() {
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"true\"\n{CHANNELS}  events:\n    on_start: [slack]\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let test = |args: &[&str], hook: &str| {
        ralph(["notify", "test", "--workflow", "w.yaml"])
            .args_from(args)
            .env("HOOK_URL", hook)
            .env("NOTIFY_TOKEN", "tok-77")
            .env("WEBHOOK_SECRET", SIGNING_KEY)
            .current_dir(dir.path())
    };
    let out = test(&["slack"], &url).expect(0);
    assert_eq!(out.stdout.trim(), "`slack`: sent");
    let slack = caught_at(&caught, "/slack");
    assert_eq!(slack.len(), 1);
    assert!(slack[0].body["text"].as_str().unwrap().contains("a test message"), "{:?}", slack[0].body);
    assert!(caught_at(&caught, "/ops").is_empty(), "only the named channel");
    let all = test(&[], &url).expect(0);
    assert!(all.stdout.contains("`ops`: sent"), "{}", all.stdout);
    assert_eq!(caught_at(&caught, "/ops")[0].body["event"], "test");
    let unknown = test(&["pager"], &url).expect(2);
    assert!(unknown.stderr.contains("no notification channel `pager`"), "{}", unknown.stderr);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = test(&["ops"], &format!("http://{closed}")).expect(1);
    assert!(down.stderr.contains("`ops`: not sent: cannot connect"), "{}", down.stderr);
    assert!(!down.stderr.contains(&closed.to_string()), "the URL is masked: {}", down.stderr);
    let typo = test(&["slak"], &url).expect(2);
    assert!(typo.stderr.contains("did you mean `slack`?"), "{}", typo.stderr);
    let json = test(&["--json"], &format!("http://{closed}")).expect(1);
    let lines: Vec<serde_json::Value> =
        json.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "one object per channel: {}", json.stdout);
    let ops = lines.iter().find(|l| l["channel"] == "ops").unwrap();
    assert_eq!(ops["sent"], false);
    assert!(ops["error"].as_str().unwrap().starts_with("cannot connect"), "{ops}");
    assert!(!json.stdout.contains(&closed.to_string()), "the URL is masked: {}", json.stdout);
}

/// A real SMTP server on 127.0.0.1 (`engine/tests/smtp/catcher.py`, Python's aiosmtpd), ended
/// when dropped.
struct SmtpCatcher {
    child: std::process::Child,
    port: u16,
    out: tempfile::TempDir,
}

impl SmtpCatcher {
    fn start(args: &[&str]) -> SmtpCatcher {
        let out = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("python3")
            .arg(crate::support::repo().join("engine/tests/smtp/catcher.py"))
            .arg(out.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            panic!(
                "the SMTP catcher did not start (`python3 -m pip install aiosmtpd`, as scripts/test.sh does): {line:?}"
            );
        };
        SmtpCatcher { child, port, out }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The messages received so far, in order.
    fn messages(&self) -> Vec<serde_json::Value> {
        let mut numbered: Vec<(u64, serde_json::Value)> = std::fs::read_dir(self.out.path())
            .unwrap()
            .filter_map(|e| {
                let path = e.ok()?.path();
                let n = path.file_name()?.to_str()?.strip_suffix(".json")?.parse().ok()?;
                Some((n, serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?))
            })
            .collect();
        numbered.sort_by_key(|(n, _)| *n);
        numbered.into_iter().map(|(_, m)| m).collect()
    }
}

impl Drop for SmtpCatcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message's text with its folded header lines unfolded.
fn mail_text(message: &serde_json::Value) -> String {
    message["data"].as_str().unwrap().replace("\r\n ", " ").replace("\r\n", "\n")
}

#[test]
fn an_email_channel_sends_the_event_to_every_recipient_through_a_local_smtp_server() {
    let smtp = SmtpCatcher::start(&[]);
    let yaml = "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"true\"\nnotifications:\n  channels:\n    email:\n      smtp: ${SMTP_SERVER}\n      from: ralph@example.com\n      to: [team@example.com, lead@example.com]\n  events:\n    on_complete: [email]\n";
    let dir = project(&[("w.yaml", yaml)]);
    ralph(["loop", "--workflow", "w.yaml"])
        .env("SMTP_SERVER", smtp.address())
        .current_dir(dir.path())
        .expect(0);
    // The run's end waits for the sends in flight: the message is there once it returns.
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message["from"], "ralph@example.com");
    assert_eq!(message["to"], serde_json::json!(["team@example.com", "lead@example.com"]));
    assert_eq!(message["tls"], false, "the server offers no STARTTLS: the message goes in plain text");
    let text = mail_text(message);
    let id = run_dir(dir.path()).file_name().unwrap().to_string_lossy().into_owned();
    assert!(text.contains(&format!("Subject: [ralph-loop] run `{id}` of `w` completed")), "{text}");
    assert!(text.contains("To: team@example.com, lead@example.com"), "{text}");
    assert!(text.contains("event: on_complete\n") && text.contains(&format!("run: {id}\n")), "{text}");
    let attempt = journal(dir.path()).into_iter().find(|e| e["event"] == "notification").unwrap();
    assert_eq!((attempt["channel"].as_str(), attempt["delivered"].as_bool()), (Some("email"), Some(true)));
    assert!(attempt["detail"].as_str().unwrap().starts_with("delivered (250"), "{attempt}");
    // `tls: {mode: required}` sends nothing to a server that offers no STARTTLS.
    let required = yaml.replace("      from:", "      tls: {mode: required}\n      from:");
    let strict = project(&[("w.yaml", &required)]);
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("SMTP_SERVER", smtp.address())
        .current_dir(strict.path())
        .expect(0);
    assert!(out.stderr.contains("notification channel `email` could not be reached"), "{}", out.stderr);
    assert_eq!(smtp.messages().len(), 1, "nothing more arrived");
}

/// A throw-away certificate authority and a server certificate for 127.0.0.1 it signed, in
/// `dir`: `ca.pem`, `server.pem`, `server.key`.
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out =
            std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ralph-loop test CA"],
        ]
        .concat(),
    );
    openssl(
        &[&["req"], &ec[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]]
            .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

#[test]
fn an_email_channel_upgrades_with_starttls_logs_in_and_never_writes_the_password() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let cert = certs.path().join("server.pem");
    let key = certs.path().join("server.key");
    let password = "pw-5e7a1f93c2";
    let smtp = SmtpCatcher::start(&[
        "--tls",
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        "--auth",
        "ana",
        password,
    ]);
    let channel = |tls: &str| {
        format!(
            "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"true\"\nnotifications:\n  channels:\n    mail:\n      type: email\n      smtp: ${{SMTP_SERVER}}\n      username: ana\n      password: ${{SMTP_PASSWORD}}\n      to: lead@example.com\n{tls}  events:\n    on_start: [mail]\n    on_complete: [mail]\n"
        )
    };
    let ca = std::fs::read_to_string(certs.path().join("ca.pem")).unwrap();
    let dir = project(&[
        ("w.yaml", &channel("      tls:\n        ca_file: certs/ca.pem\n")),
        ("certs/ca.pem", &ca),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("SMTP_SERVER", smtp.address())
        .env("SMTP_PASSWORD", password)
        .current_dir(dir.path())
        .expect(0);
    let messages = smtp.messages();
    assert_eq!(messages.len(), 2, "{messages:?}\n{}", out.stderr);
    for message in &messages {
        assert_eq!(message["tls"], true, "sent after STARTTLS");
        assert_eq!(message["login"], "ana", "logged in");
        assert_eq!(message["to"], serde_json::json!(["lead@example.com"]));
    }
    // Sent in the background, the two may arrive in either order.
    let subjects: Vec<String> = messages.iter().map(mail_text).collect();
    assert!(subjects.iter().any(|t| t.contains("started")), "{subjects:?}");
    assert!(subjects.iter().any(|t| t.contains("completed")), "{subjects:?}");
    let journal_text = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0).stdout;
    assert_eq!(journal_text.matches("\"event\":\"notification\"").count(), 2, "{journal_text}");
    for (path, text) in run_files(dir.path()).iter().map(|(p, t)| (p.display().to_string(), t)).chain([
        ("the journal".to_owned(), &journal_text),
        ("stderr".to_owned(), &out.stderr),
        ("stdout".to_owned(), &out.stdout),
    ]) {
        assert!(!text.contains(password), "the SMTP password is in {path}: {text}");
    }
    // Without the test authority the server's certificate is not trusted: nothing is sent in
    // clear instead, and the channel is reported down.
    let untrusted = project(&[("w.yaml", &channel(""))]);
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("SMTP_SERVER", smtp.address())
        .env("SMTP_PASSWORD", password)
        .current_dir(untrusted.path())
        .expect(0);
    assert!(
        out.stderr
            .contains("notification channel `mail` could not be reached (2 notifications not delivered)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.to_lowercase().contains("certificate"), "says why: {}", out.stderr);
    assert_eq!(smtp.messages().len(), 2, "nothing more arrived");
}

#[test]
fn a_review_reminds_through_the_states_own_channel_until_it_is_decided() {
    let yaml = format!(
        "workflow:\n  states:\n    - id: work\n      agent: worker\n    - id: review\n      type: human\n      reminder_interval: 300ms\n      notification:\n        slack: \"#reviews\"\n        mention: \"@ana\"\n    - id: done\n      type: terminal\n  transitions:\n    - from: work\n      to: review\n    - from: review\n      to: done\n      condition: approved\n      else: work\nagents:\n  worker:\n    command: \"true\"\n{CHANNELS}  events:\n    on_human_review_needed: [slack]\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let child = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("NOTIFY_TOKEN", "t")
        .env("WEBHOOK_SECRET", SIGNING_KEY)
        .current_dir(dir.path())
        .spawn();
    wait_for("the review and two reminders", 60, || caught_at(&caught, "/slack").len() >= 3);
    let slack = caught_at(&caught, "/slack");
    for message in &slack {
        assert_eq!(message.body["channel"], "#reviews", "the state's Slack channel: {:?}", message.body);
        assert!(
            message.body["text"].as_str().unwrap().starts_with("@ana ralph-loop: "),
            "{:?}",
            message.body
        );
    }
    let first = slack[0].body["text"].as_str().unwrap();
    let id = first.split("ralph-loop approve ").nth(1).unwrap().split('`').next().unwrap().to_owned();
    for (n, reminder) in slack[1..3].iter().enumerate() {
        let text = reminder.body["text"].as_str().unwrap();
        assert!(
            text.contains(&format!("reminder {}: `review` of run `{id}` has been waiting for review", n + 1)),
            "{text}"
        );
        assert!(text.contains(&format!("`ralph-loop approve {id}`")), "{text}");
    }
    wait_for("the loop to answer", 60, || live(dir.path()).is_some());
    ralph(["approve", &id]).current_dir(dir.path()).expect(0);
    let at_approval = caught_at(&caught, "/slack").len();
    assert!(finish(child).success());
    // One reminder may have been on its way when the decision arrived; none is sent after.
    let after = caught_at(&caught, "/slack").len();
    assert!(after <= at_approval + 1, "reminders went on after the approval: {at_approval} then {after}");
    let journaled = journal(dir.path())
        .into_iter()
        .filter(|e| e["event"] == "notification" && e["notification"] == "on_human_review_needed")
        .count();
    assert_eq!(journaled, after, "every message is journaled");
}

#[test]
fn a_human_agents_own_notification_reaches_its_webhook() {
    let lead = "agents:\n  lead:\n    type: human\n    notification:\n      webhook: ${HOOK_URL}/lead\n";
    // A state performed by the human agent, and a DAG node.
    let state_machine = format!(
        "workflow:\n  states:\n    - id: review\n      agent: lead\n    - id: done\n      type: terminal\n  transitions:\n    - from: review\n      to: done\n{lead}"
    );
    let dag = format!("workflow:\n  nodes:\n    - id: review\n      agent: lead\n{lead}");
    for yaml in [state_machine, dag] {
        reviewer_is_told(&yaml);
    }
}

fn reviewer_is_told(yaml: &str) {
    let dir = project(&[("w.yaml", yaml)]);
    let (url, caught) = catcher();
    let child = ralph(["loop", "--workflow", "w.yaml"]).env("HOOK_URL", &url).current_dir(dir.path()).spawn();
    wait_for("the reviewer's webhook", 60, || !caught_at(&caught, "/lead").is_empty());
    let body = caught_at(&caught, "/lead")[0].body.clone();
    assert_eq!(body["event"], "on_human_review_needed", "{body}");
    let text = body["text"].as_str().unwrap().to_owned();
    assert!(text.contains("`review` of run `") && text.contains("ralph-loop approve "), "{text}");
    let id = text.split("ralph-loop approve ").nth(1).unwrap().split('`').next().unwrap().to_owned();
    wait_for("the loop to answer", 60, || live(dir.path()).is_some());
    ralph(["approve", &id]).current_dir(dir.path()).expect(0);
    assert!(finish(child).success());
}

#[test]
fn escalate_to_human_on_a_timeout_tells_the_reviewer() {
    let yaml = format!(
        "workflow:\n  states:\n    - id: build\n      agent: slow\n      timeout: 300ms\n      on_timeout: [escalate_to_human]\n    - id: done\n      type: terminal\nagents:\n  slow:\n    command: \"sleep 30\"\n{CHANNELS}  events:\n    on_human_review_needed: [slack]\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let child = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("NOTIFY_TOKEN", "t")
        .env("WEBHOOK_SECRET", SIGNING_KEY)
        .current_dir(dir.path())
        .spawn();
    wait_for("the escalation's notification", 60, || !caught_at(&caught, "/slack").is_empty());
    let text = caught_at(&caught, "/slack")[0].body["text"].as_str().unwrap().to_owned();
    assert!(text.contains("`build` of run `") && text.contains("is waiting for review"), "{text}");
    let id = text.split("ralph-loop approve ").nth(1).unwrap().split('`').next().unwrap().to_owned();
    wait_for("the loop to answer", 60, || live(dir.path()).is_some());
    ralph(["approve", &id]).current_dir(dir.path()).expect(0);
    finish(child);
}

/// A webhook channel `ops` at the catcher, for `events`.
fn ops_channel(events: &str) -> String {
    format!(
        "notifications:\n  channels:\n    ops:\n      type: webhook\n      url: ${{HOOK_URL}}/ops\n  events:\n{events}"
    )
}

fn todo(n: usize) -> String {
    (1..=n).map(|i| format!("- [ ] T-{i}: task {i}\n")).collect()
}

#[test]
fn the_breaker_opening_a_budget_stop_and_a_usage_limit_are_each_notified() {
    let (url, caught) = catcher();
    let sent = |event: &str| -> Vec<serde_json::Value> {
        caught_at(&caught, "/ops").into_iter().map(|c| c.body).filter(|b| b["event"] == event).collect()
    };
    // The loop's circuit breaker opens.
    let dir = project(&[
        (
            "w.yaml",
            &format!(
                "circuit_breaker:\n  failure_threshold: 2\n  timeout: 1h\nworkflow:\n  nodes:\n    - id: build\n      agent: broken\nagents:\n  broken:\n    command: \"exit 1\"\n{}",
                ops_channel("    on_circuit_open: [ops]\n    on_iteration: [ops]\n")
            ),
        ),
        ("TODO.md", &todo(3)),
    ]);
    ralph(["loop", "--workflow", "w.yaml"]).env("HOOK_URL", &url).current_dir(dir.path()).expect(1);
    let opened = sent("on_circuit_open");
    assert_eq!(opened.len(), 1, "{:?}", caught_at(&caught, "/ops"));
    let text = opened[0]["text"].as_str().unwrap();
    assert!(
        text.contains("the circuit breaker of run `") && text.contains("is open: 2 consecutive failures"),
        "{text}"
    );
    // A budget stops the run.
    let dir = project(&[
        (
            "w.yaml",
            &format!(
                "budget:\n  max_cost_usd: 0.015\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    prompt: PROMPT-BUILDER.md\n{}",
                ops_channel("    on_budget_exceeded: [ops]\n")
            ),
        ),
        ("TODO.md", &todo(3)),
        ("bin/claude", crate::support::CLAUDE_CENT),
    ]);
    crate::support::executable(&dir.path().join("bin/claude"));
    ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("PATH", crate::support::path_with(&dir.path().join("bin")))
        .current_dir(dir.path())
        .expect(1);
    let budget = sent("on_budget_exceeded");
    assert_eq!(budget.len(), 1, "{:?}", caught_at(&caught, "/ops"));
    assert!(
        budget[0]["text"].as_str().unwrap().contains("budget `max_cost_usd` ($0.015) would be exceeded"),
        "{}",
        budget[0]
    );
    assert_eq!(budget[0]["status"], "stopped");
    // A provider's usage limit makes the loop wait.
    let fixtures = crate::support::repo().join("engine/tests/fixtures/claude");
    let dir = project(&[
        (
            "w.yaml",
            &format!(
                "budget:\n  usage_limit_wait: 1s\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    prompt: PROMPT-BUILDER.md\n{}",
                ops_channel("    on_usage_limit: [ops]\n")
            ),
        ),
        (
            "bin/claude",
            "#!/bin/sh\ncat > /dev/null\nn=$(cat calls 2>/dev/null | wc -l)\necho x >> calls\nif [ \"$n\" -eq 0 ]; then cat \"$LIMITED\"; exit 1; fi\ncat \"$SUCCESS\"\n",
        ),
    ]);
    crate::support::executable(&dir.path().join("bin/claude"));
    ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("PATH", crate::support::path_with(&dir.path().join("bin")))
        .env("LIMITED", fixtures.join("reconstructed/usage-limit.jsonl"))
        .env("SUCCESS", fixtures.join("success.jsonl"))
        .current_dir(dir.path())
        .expect(0);
    let limited = sent("on_usage_limit");
    assert_eq!(limited.len(), 1, "{:?}", caught_at(&caught, "/ops"));
    let text = limited[0]["text"].as_str().unwrap();
    assert!(text.contains("reached a usage limit at `build` and waits 1s before trying again"), "{text}");
    assert_eq!(limited[0]["step"], "build");
}
