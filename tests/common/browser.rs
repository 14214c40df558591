//! A real headless Chromium (Debian's), driven through ChromeDriver's W3C WebDriver API: the
//! protocol is JSON over HTTP, so a blocking HTTP client is all the test needs.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

/// A free port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// Chromium with a fresh profile in a window of `width`×`height`.
    pub fn start(width: u32, height: u32) -> Browser {
        Browser::start_with(width, height, &[])
    }

    /// The same, with more of Chromium's switches.
    pub fn start_with(width: u32, height: u32, switches: &[String]) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver): run scripts/test, it installs it");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let start = Instant::now();
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(start.elapsed() < super::PATIENCE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        // As root in a container, with nothing reaching out to the network (it is closed here).
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        let args: Vec<String> = args.into_iter().chain(switches.iter().cloned()).collect();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let created: Value = http.post(format!("{base}/session")).json(&caps).send().unwrap().json().unwrap();
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_string();
        Browser { driver, base, session, http, _profile: profile }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().unwrap().json().unwrap();
        v["value"].clone()
    }

    pub fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    /// Run `script` in the page (its `return` is the answer).
    pub fn eval(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    /// The first element `css` selects (its WebDriver reference), if any.
    pub fn find(&self, css: &str) -> Option<Value> {
        let v = self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})));
        v.as_object().and_then(|o| o.values().next().cloned()).filter(|_| v.get("error").is_none())
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css).unwrap_or_else(|| panic!("no {css}"));
        let id = el.as_str().unwrap().to_string();
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Type into the element `css` selects, as a user at the keyboard.
    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).unwrap_or_else(|| panic!("no {css}"));
        let id = el.as_str().unwrap().to_string();
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text })));
    }

    /// Wait until `script` returns something truthy; that value.
    pub fn wait(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.eval(script);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            assert!(start.elapsed() < super::PATIENCE, "the page never showed {what}; it has:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        self.eval("return document.body ? document.body.innerText : ''").as_str().unwrap_or_default().to_string()
    }

    /// Save what the page looks like as `name`.png: in `$SBX_TEST_SCREENSHOTS` when set (to look
    /// at it), else in `fallback`.
    pub fn screenshot(&self, fallback: &std::path::Path, name: &str) {
        let dir = std::env::var_os("SBX_TEST_SCREENSHOTS").map(std::path::PathBuf::from);
        let path = dir.as_deref().unwrap_or(fallback).join(format!("{name}.png"));
        use base64::Engine;
        let shot = self.call(reqwest::Method::GET, "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap_or_default()).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "not a screenshot");
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
