//! A real browser for the dashboard's end-to-end test: Debian's headless Chromium, driven by
//! its ChromeDriver over the W3C WebDriver protocol (plain JSON over HTTP, so the client is these
//! few calls, not a framework). The test command installs `chromium` and `chromium-driver`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session; the browser and its driver end when it is dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn program(name: &str, install: &str) -> std::path::PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("`{name}` is not installed: the test command installs it ({install})"))
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium window of `width`×`height`.
    pub fn start(width: u32, height: u32) -> Browser {
        let driver_path = program("chromedriver", "apt-get install chromium-driver");
        let chromium = program("chromium", "apt-get install chromium");
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        ralph_loop::tls::ensure_provider();
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http
            .get(format!("{base}/status"))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .is_some_and(|v| v["value"]["ready"] == true)
        {
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"), "--force-device-scale-factor=1",
                         "--hide-scrollbars", "--lang=en-US"],
            },
        }}});
        let created: Value =
            http.post(format!("{base}/session")).json(&capabilities).send().unwrap().json().unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        Browser { driver, base, session, http }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|(error, message)| panic!("WebDriver {path}: {error}: {message}"))
    }

    /// A WebDriver command: its value, or its error and message.
    fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, (String, String)> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().unwrap().json().unwrap();
        match answer["value"].get("error") {
            Some(error) => {
                Err((error.as_str().unwrap_or_default().to_owned(), answer["value"]["message"].to_string()))
            }
            None => Ok(answer["value"].clone()),
        }
    }

    /// Runs `act` on the element `css` selects, found again when the page redrew it in
    /// between (the live views replace their rows as events arrive: a reference found a moment
    /// ago may be stale by the time it is used).
    fn on_element(&self, css: &str, act: impl Fn(&str) -> Result<Value, (String, String)>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match act(&self.element(css)) {
                Ok(value) => return value,
                Err((error, _)) if error == "stale element reference" && Instant::now() < deadline => {}
                Err((error, message)) => panic!("WebDriver on `{css}`: {error}: {message}"),
            }
        }
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` in the page (`return …` gives a value back).
    pub fn eval(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    /// Waits until `script` returns a truthy value in the page, and returns it.
    pub fn wait(&self, what: &str, secs: u64, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let value = self.eval(script);
            if !(value.is_null() || value == false || value == "" || value == 0) {
                return value;
            }
            if Instant::now() > deadline {
                let page = self.eval("return document.body.innerText");
                panic!("timed out waiting for {what}; the page says:\n{}", page.as_str().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn element(&self, css: &str) -> String {
        let found = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element `{css}`")).to_owned()
    }

    /// Clicks the element `css` selects, as a person would (WebDriver moves the pointer there).
    pub fn click(&self, css: &str) {
        self.on_element(css, |id| {
            self.try_call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})))
        });
    }

    /// Types `text` into the element `css` selects.
    pub fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, |id| {
            self.try_call(
                reqwest::Method::POST,
                &format!("/element/{id}/value"),
                Some(json!({ "text": text })),
            )
        });
    }

    /// The visible text of the element `css` selects.
    pub fn text(&self, css: &str) -> String {
        let text = self
            .on_element(css, |id| self.try_call(reqwest::Method::GET, &format!("/element/{id}/text"), None));
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}
