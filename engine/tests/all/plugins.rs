//! `ralph-loop plugin …` with real components: installing (path, registry, URL) with checksums,
//! refusing corrupt and wrong-version components, hostile plugins that must not hurt the host
//! (even over a thousand calls), and a scaffolded plugin that builds as it is.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;

use sha2::Digest as _;

use crate::support::{cargo, plugin_target_dir, plugin_wasm, project, ralph};

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A copy of a component that differs in its bytes (a custom section at the end), so a
/// registry can offer "versions" that are told apart by their checksums.
fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    let name = b"ralph-test";
    let payload_len = 1 + name.len() + tag.len();
    assert!(payload_len < 128 && name.len() < 128);
    let mut out = bytes.to_vec();
    out.push(0); // a custom section
    out.push(payload_len as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(tag.as_bytes());
    out
}

fn installed(dir: &Path, name: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("plugins").join(name).join("plugin.json")).ok()?;
    Some(json(&text))
}

/// Nothing was installed: no plugin directory entries but (perhaps) none at all.
fn nothing_installed(dir: &Path) {
    let entries: Vec<_> = std::fs::read_dir(dir.join("plugins"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "something was installed: {entries:?}");
}

#[test]
fn install_from_a_path_then_list_info_disable_enable_remove() {
    let wasm = plugin_wasm("hostile");
    let dir = project(&[]);
    let out = ralph(["plugin", "install"]).arg(&wasm).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("installed hostile 0.1.0"), "{}", out.stdout);
    let manifest = installed(dir.path(), "hostile").expect("a manifest");
    assert_eq!(manifest["sha256"], sha256(&std::fs::read(&wasm).unwrap()));
    assert_eq!(manifest["capabilities"], serde_json::json!(["veto"]));
    assert_eq!(manifest["enabled"], true);

    let list = json(&ralph(["plugin", "list", "--json"]).current_dir(dir.path()).expect(0).stdout);
    let row = &list["plugins"][0];
    assert_eq!((row["name"].as_str(), row["version"].as_str()), (Some("hostile"), Some("0.1.0")));
    assert_eq!(row["hooks"], serde_json::json!(["phase.before_build"]));
    let table = ralph(["plugin", "list"]).current_dir(dir.path()).expect(0).stdout;
    assert!(table.contains("hostile") && table.contains("plugins/hostile/plugin.wasm"), "{table}");

    let info = json(&ralph(["plugin", "info", "hostile", "--json"]).current_dir(dir.path()).expect(0).stdout);
    assert_eq!(info["descriptor"]["name"], "hostile");
    assert_eq!(info["requested"], serde_json::json!(["veto"]));
    assert_eq!(info["granted"], serde_json::json!([]));
    assert_eq!(info["size"], std::fs::metadata(&wasm).unwrap().len());

    ralph(["plugin", "disable", "hostile"]).current_dir(dir.path()).expect(0);
    assert_eq!(installed(dir.path(), "hostile").unwrap()["enabled"], false);
    let list = json(&ralph(["plugin", "list", "--json"]).current_dir(dir.path()).expect(0).stdout);
    assert_eq!(list["plugins"][0]["enabled"], false);
    ralph(["plugin", "enable", "hostile"]).current_dir(dir.path()).expect(0);
    assert_eq!(installed(dir.path(), "hostile").unwrap()["enabled"], true);

    // A reinstall replaces the install (and keeps the name given).
    ralph(["plugin", "install"]).arg(&wasm).args_from(&["--name", "other"]).current_dir(dir.path()).expect(0);
    assert!(installed(dir.path(), "other").is_some());

    let out = ralph(["plugin", "remove", "hostile"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("removed hostile"), "{}", out.stdout);
    assert!(!dir.path().join("plugins/hostile").exists());
    let out = ralph(["plugin", "remove", "hostile"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("plugin `hostile` is not installed"), "{}", out.stderr);
    let out = ralph(["plugin", "enable", "nope"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("`nope` is not installed"), "{}", out.stderr);
}

#[test]
fn a_listed_plugin_is_switched_in_ralph_yaml_not_by_enable() {
    let wasm = plugin_wasm("hostile");
    let yaml = format!(
        "plugins:\n  - name: guard\n    entry: {}\n    capabilities: [veto]\n    config:\n      mode: veto\n",
        wasm.display()
    );
    let dir = project(&[("ralph.yaml", &yaml)]);
    let out = ralph(["plugin", "disable", "guard"]).current_dir(dir.path()).expect(2);
    assert!(
        out.stderr.contains("set `enabled: false`") && out.stderr.contains("ralph.yaml"),
        "{}",
        out.stderr
    );
    let info = json(&ralph(["plugin", "info", "guard", "--json"]).current_dir(dir.path()).expect(0).stdout);
    assert_eq!(info["granted"], serde_json::json!(["veto"]));
    assert_eq!(info["config"], serde_json::json!(["mode"]));
    // Its config from ralph.yaml is what `plugin call` uses.
    let out = ralph(["plugin", "call", "guard", "phase.before_build"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("the hostile plugin says no"), "{}", out.stdout);
}

/// A registry directory with three "versions" of the hostile plugin.
fn registry(dir: &Path, bad_sha_for: Option<&str>) -> BTreeMap<&'static str, String> {
    let base = std::fs::read(plugin_wasm("hostile")).unwrap();
    let registry = dir.join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    let mut shas = BTreeMap::new();
    let mut entries = Vec::new();
    for version in ["1.0.0", "1.2.0", "2.0.0"] {
        let bytes = variant(&base, version);
        let file = format!("hostile-{version}.wasm");
        std::fs::write(registry.join(&file), &bytes).unwrap();
        let sha = if bad_sha_for == Some(version) { "0".repeat(64) } else { sha256(&bytes) };
        shas.insert(version, sha256(&bytes));
        entries.push(serde_json::json!({"name": "hostile", "version": version, "sha256": sha, "path": file}));
    }
    let index = serde_json::json!({ "plugins": entries });
    std::fs::write(registry.join("index.json"), index.to_string()).unwrap();
    shas
}

const REGISTRY_YAML: &str = "plugins:\n  registry:\n    - name: local\n      url: ./registry\n";

#[test]
fn install_from_a_registry_picks_the_highest_matching_version() {
    let dir = project(&[("ralph.yaml", REGISTRY_YAML)]);
    let shas = registry(dir.path(), None);
    let out =
        ralph(["plugin", "install", "hostile", "--version", "^1.0.0"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("installed hostile"), "{}", out.stdout);
    let manifest = installed(dir.path(), "hostile").unwrap();
    assert_eq!(manifest["sha256"], shas["1.2.0"].as_str());
    assert_eq!(manifest["source"], "registry:local");
    // Without a requirement: the newest.
    ralph(["plugin", "install", "hostile", "--from", "local"]).current_dir(dir.path()).expect(0);
    assert_eq!(installed(dir.path(), "hostile").unwrap()["sha256"], shas["2.0.0"].as_str());
    // Nothing fits: the versions there are named.
    let out = ralph(["plugin", "install", "hostile", "--version", "^3"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("1.0.0, 1.2.0, 2.0.0"), "{}", out.stderr);
    let out =
        ralph(["plugin", "install", "hostile", "--from", "elsewhere"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("no registry `elsewhere`"), "{}", out.stderr);
}

#[test]
fn a_wrong_checksum_in_the_index_installs_nothing() {
    let dir = project(&[("ralph.yaml", REGISTRY_YAML)]);
    registry(dir.path(), Some("1.2.0"));
    let out = ralph(["plugin", "install", "hostile", "--version", "~1.2"]).current_dir(dir.path()).expect(3);
    assert!(
        out.stderr.contains("SHA-256") && out.stderr.contains("the index of registry `local`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was installed"), "{}", out.stderr);
    nothing_installed(dir.path());
}

/// Serves `files` on 127.0.0.1 (one request per connection) until the test process ends.
fn serve(files: BTreeMap<String, Vec<u8>>) -> String {
    serve_with(files, BTreeMap::new())
}

/// Like [`serve`], and answers the paths of `redirects` with a 302 to their URL.
fn serve_with(files: BTreeMap<String, Vec<u8>>, redirects: BTreeMap<String, String>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request).lines().next().unwrap_or("").to_owned();
            let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
            let (status, body) = match files.get(&path) {
                Some(body) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let head = match redirects.get(&path) {
                Some(to) => format!(
                    "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
                None => format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ),
            };
            let body = if redirects.contains_key(&path) { Vec::new() } else { body };
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{address}")
}

#[test]
fn install_from_a_url_needs_a_checksum() {
    let bytes = std::fs::read(plugin_wasm("hostile")).unwrap();
    let sha = sha256(&bytes);
    let index = serde_json::json!({"plugins": [
        {"name": "hostile", "version": "0.1.0", "sha256": sha, "path": "files/hostile.wasm"}
    ]});
    let base = serve(BTreeMap::from([
        ("hostile.wasm".to_owned(), bytes.clone()),
        ("files/hostile.wasm".to_owned(), bytes),
        ("index.json".to_owned(), index.to_string().into_bytes()),
    ]));
    let url = format!("{base}/hostile.wasm");
    let dir = project(&[]);

    let out = ralph(["plugin", "install", &url]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("without a checksum") && out.stderr.contains("--sha256"), "{}", out.stderr);
    nothing_installed(dir.path());

    let out =
        ralph(["plugin", "install", &url, "--sha256", &"ab".repeat(32)]).current_dir(dir.path()).expect(3);
    assert!(out.stderr.contains("SHA-256") && out.stderr.contains("--sha256"), "{}", out.stderr);
    nothing_installed(dir.path());

    // A download that fails is the environment's (4), as a file that cannot be read is.
    let out = ralph(["plugin", "install", &format!("{base}/missing.wasm"), "--sha256", &sha])
        .current_dir(dir.path())
        .expect(4);
    assert!(out.stderr.contains("404"), "{}", out.stderr);

    ralph(["plugin", "install", &url, "--sha256", &sha.to_uppercase()]).current_dir(dir.path()).expect(0);
    assert_eq!(installed(dir.path(), "hostile").unwrap()["source"], url.as_str());

    // A registry's index URL vouches for its plugins: no --sha256 needed.
    let dir = project(&[]);
    ralph(["plugin", "install", &format!("{base}/index.json")]).current_dir(dir.path()).expect(0);
    assert_eq!(installed(dir.path(), "hostile").unwrap()["sha256"], sha.as_str());

    // Plain http to anything but this machine is refused before any connection.
    let out = ralph(["plugin", "install", "http://example.com/x.wasm", "--sha256", &sha])
        .current_dir(dir.path())
        .expect(2);
    assert!(out.stderr.contains("not an https URL"), "{}", out.stderr);
}

#[test]
fn corrupt_files_are_refused_with_a_clear_message() {
    let good = std::fs::read(plugin_wasm("hostile")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "random.wasm",
            (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
            "magic number",
        ),
        ("truncated.wasm", good[..good.len() / 2].to_vec(), "not a valid WebAssembly component"),
        ("core.wasm", b"\0asm\x01\0\0\0".to_vec(), "core WebAssembly module, not a component"),
        ("empty.wasm", Vec::new(), "magic number"),
    ];
    for (name, bytes, says) in cases {
        let dir = project(&[]);
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let out = ralph(["plugin", "install", name]).current_dir(dir.path()).expect(3);
        assert!(out.stderr.contains(says), "{name}: {}", out.stderr);
        assert!(out.stderr.contains("nothing was installed"), "{name}: {}", out.stderr);
        nothing_installed(dir.path());
        let out = ralph(["plugin", "info", name]).current_dir(dir.path()).expect(3);
        assert!(out.stderr.contains(says), "{name}: {}", out.stderr);
    }
}

#[test]
fn a_component_of_another_contract_version_is_refused() {
    let wasm = plugin_wasm("wrong-version");
    let dir = project(&[]);
    for verb in ["info", "install"] {
        let out = ralph(["plugin", verb]).arg(&wasm).current_dir(dir.path()).expect(3);
        assert!(
            out.stderr.contains("ralph:plugin/host@2.0.0") && out.stderr.contains("rebuild it"),
            "{verb}: {}",
            out.stderr
        );
    }
    nothing_installed(dir.path());
}

fn call(mode: &str, extra: &[&str]) -> serde_json::Value {
    let wasm = plugin_wasm("hostile");
    let dir = project(&[]);
    let out = ralph(["plugin", "call"])
        .arg(&wasm)
        .args_from(&["phase.before_build", "--json", "--config", &format!("mode={mode}")])
        .args_from(extra)
        .current_dir(dir.path())
        .expect(0);
    json(&out.stdout)
}

#[test]
fn hostile_plugins_fail_their_calls_not_the_host() {
    // Spinning: stopped by fuel (default limits) or by the deadline (plenty of fuel).
    let spin = call("spin", &[]);
    assert_eq!(spin["failed"], 1);
    let kind = spin["first"]["kind"].as_str().unwrap();
    assert!(kind == "out_of_fuel" || kind == "timeout", "{spin}");
    let spin = call("spin", &["--timeout", "50ms", "--fuel", "1000000000000"]);
    assert_eq!(spin["first"]["kind"], "timeout", "{spin}");
    assert!(spin["first"]["error"].as_str().unwrap().contains("timed out after 50 ms"), "{spin}");

    let bomb = call("bomb", &[]);
    assert_eq!(bomb["first"]["kind"], "out_of_memory", "{bomb}");
    assert!(bomb["first"]["error"].as_str().unwrap().contains("limit 64 MiB"), "{bomb}");

    let panic = call("panic", &[]);
    assert_eq!(panic["first"]["kind"], "panic", "{panic}");
    assert!(
        panic["first"]["error"].as_str().unwrap().contains("the hostile plugin panics on purpose"),
        "{panic}"
    );

    let flaky = call("flaky", &[]);
    assert_eq!(flaky["first"]["plugin_error"], "the hostile plugin fails on purpose", "{flaky}");

    // Snooping finds no file, no directory and no environment variable.
    let snoop = call("snoop", &[]);
    assert_eq!(snoop["first"]["ok"], true, "{snoop}");
    let notes = snoop["first"]["decision"]["notes"][0].as_str().unwrap();
    assert!(notes.starts_with("snooped: ["), "{notes}");
    let found = notes.trim_start_matches("snooped: [").trim_end_matches(']');
    assert!(found.split("; ").all(|f| f.is_empty() || f.starts_with("cwd: ")), "it found: {notes}");
    assert!(!notes.contains("passwd") && !notes.contains("env:"), "{notes}");

    // The text report says what happened, and still exits 0.
    let wasm = plugin_wasm("hostile");
    let out = ralph(["plugin", "call"])
        .arg(&wasm)
        .args_from(&["phase.before_build", "--config", "mode=panic"])
        .expect(0);
    assert!(out.stdout.contains("failed (panic)"), "{}", out.stdout);
}

#[test]
fn a_thousand_hostile_calls_leave_memory_flat() {
    let modes: [(&str, &[&str], &str); 5] = [
        ("spin", &["--fuel", "2000000"], "out_of_fuel"),
        ("bomb", &["--memory", "16MiB"], "out_of_memory"),
        ("panic", &[], "panic"),
        ("snoop", &[], ""),
        ("flaky", &[], ""),
    ];
    for (mode, extra, kind) in modes {
        let mut args = vec!["--times", "1000"];
        args.extend_from_slice(extra);
        let report = call(mode, &args);
        assert_eq!(report["calls"], 1000);
        if kind.is_empty() {
            assert_eq!(report["failed"], 0, "{mode}: {report}");
        } else {
            assert_eq!(report["failures"][kind], 1000, "{mode}: {report}");
        }
        let warm = report["rss_kib_after_warmup"].as_u64().expect("VmRSS");
        let end = report["rss_kib_end"].as_u64().expect("VmRSS");
        let growth = end.saturating_sub(warm);
        assert!(growth < 20 * 1024, "{mode}: resident memory grew by {growth} KiB over 900 calls: {report}");
    }
}

#[test]
fn a_new_plugin_builds_as_it_is_and_loads() {
    let dir = project(&[]);
    let out = ralph(["plugin", "new", "demo"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("created plugin crate `demo`"), "{}", out.stdout);
    let crate_dir = dir.path().join("demo");
    for file in ["Cargo.toml", "src/lib.rs", "README.md", "vendor/ralph-plugin-sdk/wit/plugin.wit"] {
        assert!(crate_dir.join(file).is_file(), "{file} is missing");
    }
    let again = ralph(["plugin", "new", "demo"]).current_dir(dir.path()).expect(2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    plugin_wasm("hostile"); // the wasm target is there, and the shared target dir warm
    // The test plugins' target directory: compiled dependencies are shared between runs.
    let target = plugin_target_dir();
    let out = std::process::Command::new(cargo())
        .current_dir(&crate_dir)
        .args(["build", "--quiet", "--target", "wasm32-wasip2", "--release"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(out.status.success(), "the scaffold does not build:\n{}", String::from_utf8_lossy(&out.stderr));
    let wasm = target.join("wasm32-wasip2/release/demo.wasm");

    let info =
        json(&ralph(["plugin", "info"]).arg(&wasm).arg("--json").current_dir(dir.path()).expect(0).stdout);
    assert_eq!(info["descriptor"]["name"], "demo");
    assert_eq!(info["descriptor"]["hooks"], serde_json::json!(["phase.before_build"]));
    assert_eq!(info["requested"], serde_json::json!(["veto"]));

    let call = |block: &str| {
        let out = ralph(["plugin", "call"])
            .arg(&wasm)
            .args_from(&["phase.before_build", "--json", "--config", &format!("block={block}")])
            .current_dir(dir.path())
            .expect(0);
        json(&out.stdout)
    };
    assert_eq!(call("true")["first"]["decision"]["decision"], "veto");
    let free = call("false");
    assert_eq!(free["first"]["decision"]["decision"], "annotate", "{free}");
    assert_eq!(free["first"]["metrics"][0]["name"], "demo_builds_seen", "{free}");

    // The rest of the README's walkthrough: install it, grant `veto` in ralph.yaml, and a loop's
    // build step is vetoed.
    ralph(["plugin", "install"]).arg(&wasm).current_dir(dir.path()).expect(0);
    std::fs::write(
        dir.path().join("ralph.yaml"),
        "plugins:\n  installed:\n    - name: demo\n      capabilities: [veto]\n      config:\n        block: \"true\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("w.yaml"),
        "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    command: \"touch built\"\n",
    )
    .unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(1);
    let shown = format!("{}{}", out.stdout, out.stderr);
    assert!(
        shown.contains("plugin demo at phase.before_build: veto: builds are blocked by demo"),
        "{}",
        shown
    );
    assert!(!dir.path().join("built").exists(), "the vetoed step did not run");
}

#[test]
fn redirects_are_followed_only_within_the_same_loopback_origin_or_to_https() {
    let bytes = std::fs::read(plugin_wasm("hostile")).unwrap();
    let sha = sha256(&bytes);
    // Another local server, a different origin: an allowed URL must not bounce there (nor to a
    // host plain http may not reach).
    let other = serve(BTreeMap::from([("hostile.wasm".to_owned(), bytes.clone())]));
    let index = |path: &str| {
        serde_json::json!({"plugins": [{"name": "hostile", "version": "0.1.0", "sha256": sha, "path": path}]})
            .to_string()
            .into_bytes()
    };
    let base = serve_with(
        BTreeMap::from([
            ("hostile.wasm".to_owned(), bytes),
            ("via-index.json".to_owned(), index("away.wasm")),
            ("same.json".to_owned(), index("moved.wasm")),
        ]),
        BTreeMap::from([
            ("away.wasm".to_owned(), format!("{other}/hostile.wasm")),
            ("far.wasm".to_owned(), "http://example.com/hostile.wasm".to_owned()),
            ("far.json".to_owned(), "http://example.com/index.json".to_owned()),
            ("moved.wasm".to_owned(), "/hostile.wasm".to_owned()),
        ]),
    );
    let dir = project(&[]);
    for url in [format!("{base}/away.wasm"), format!("{base}/far.wasm")] {
        let out = ralph(["plugin", "install", &url, "--sha256", &sha]).current_dir(dir.path()).expect(4);
        assert!(out.stderr.contains("redirects to") && out.stderr.contains("not allowed"), "{}", out.stderr);
        nothing_installed(dir.path());
    }
    // A registry index behind a refused redirect, and an index whose entry redirects away.
    for url in [format!("{base}/far.json"), format!("{base}/via-index.json")] {
        let out = ralph(["plugin", "install", &url]).current_dir(dir.path()).expect(4);
        assert!(out.stderr.contains("not allowed"), "{url}: {}", out.stderr);
        nothing_installed(dir.path());
    }
    // Within the same origin, a redirect is followed.
    ralph(["plugin", "install", &format!("{base}/same.json")]).current_dir(dir.path()).expect(0);
    assert_eq!(installed(dir.path(), "hostile").unwrap()["sha256"], sha.as_str());
}

#[test]
fn a_registry_s_paths_stay_inside_it_and_only_regular_files_are_read() {
    let dir = project(&[("ralph.yaml", REGISTRY_YAML)]);
    registry(dir.path(), None);
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let evil = std::fs::read(plugin_wasm("hostile")).unwrap();
    std::fs::write(outside.join("evil.wasm"), &evil).unwrap();
    std::os::unix::fs::symlink(outside.join("evil.wasm"), dir.path().join("registry/link.wasm")).unwrap();
    let shadow_like = outside.join("secret.txt");
    std::fs::write(&shadow_like, "root:$6$not-for-your-eyes\n").unwrap();
    let secret_digest = sha256(b"root:$6$not-for-your-eyes\n");
    for path in [
        "../outside/evil.wasm".to_owned(),
        outside.join("evil.wasm").display().to_string(),
        "/dev/zero".to_owned(),
        "link.wasm".to_owned(),
        shadow_like.display().to_string(),
    ] {
        let index = serde_json::json!({"plugins": [
            {"name": "evil", "version": "1.0.0", "sha256": "0".repeat(64), "path": path}
        ]});
        std::fs::write(dir.path().join("registry/index.json"), index.to_string()).unwrap();
        let out = ralph(["plugin", "install", "evil"]).current_dir(dir.path()).expect(3);
        assert!(out.stderr.contains("must stay inside"), "{path}: {}", out.stderr);
        assert!(!out.stderr.contains(&secret_digest), "{path}: a file outside was read: {}", out.stderr);
        nothing_installed(dir.path());
    }
    // A path given on the command line is read only when it is a regular file.
    let fifo = dir.path().join("pipe.wasm");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (path, says) in [
        ("pipe.wasm", "not a regular file"),
        ("/dev/zero", "not a regular file"),
        ("outside/", "a directory"),
    ] {
        let out = ralph(["plugin", "install", path]).current_dir(dir.path()).expect(2);
        assert!(out.stderr.contains(says), "{path}: {}", out.stderr);
    }
    nothing_installed(dir.path());
}
