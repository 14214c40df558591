//! A server's web endpoint as the tests reach it: plain HTTP on loopback, or TLS with the
//! certificate pinned, and echokit's protocol through an independent Python client.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::Sbx;

/// A server with one shell pane (label `box`) and its web endpoint.
pub struct Web<'a> {
    pub sbx: &'a Sbx,
    pub pane: String,
    /// `http://127.0.0.1:PORT` or `https://…`.
    pub base: String,
    pub http: reqwest::blocking::Client,
    /// What `sbx web --json` answered first.
    pub report: Value,
    /// The served certificate (PEM) when it speaks TLS.
    pub cert: Option<PathBuf>,
}

impl<'a> Web<'a> {
    /// On a free loopback port, plain HTTP.
    pub fn start(sbx: &'a Sbx) -> Web<'a> {
        Web::start_with(sbx, &["--addr", "127.0.0.1:0"])
    }

    /// With these `sbx web` arguments; a TLS endpoint is trusted by its certificate alone
    /// (pinned: no other root).
    pub fn start_with(sbx: &'a Sbx, args: &[&str]) -> Web<'a> {
        let pane = sbx.ok(&["new", "-d", "-s", "main", "--label", "box"]).trim().to_string();
        let mut cmd = vec!["web"];
        cmd.extend_from_slice(args);
        cmd.push("--json");
        let report: Value = serde_json::from_str(&sbx.ok(&cmd)).unwrap();
        let url = report["url"].as_str().unwrap();
        let base = url[..url.find("/login").unwrap()].to_string();
        let mut http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20));
        let mut cert = None;
        if base.starts_with("https://") {
            let path = sbx.home().join("data/web/cert.pem");
            let pem = std::fs::read(&path).unwrap();
            http =
                http.tls_built_in_root_certs(false).add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
            cert = Some(path);
        }
        Web { sbx, pane, base, http: http.build().unwrap(), report, cert }
    }

    pub fn cookie_name(&self) -> String {
        format!("sbx_{}", self.base.rsplit(':').next().unwrap())
    }

    /// A fresh login link's token.
    pub fn token(&self) -> String {
        let report: Value = serde_json::from_str(&self.sbx.ok(&["web", "--json"])).unwrap();
        report["url"].as_str().unwrap().split("token=").nth(1).unwrap().to_string()
    }

    pub fn login(&self, token: &str) -> reqwest::blocking::Response {
        self.http.get(format!("{}/login?token={token}", self.base)).send().unwrap()
    }

    /// Log in; the session cookie's secret.
    pub fn session(&self) -> String {
        let response = self.login(&self.token());
        assert_eq!(response.status(), 303);
        let set = response.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
        set.split(';').next().unwrap().split_once('=').unwrap().1.to_string()
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::blocking::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header("cookie", format!("{}={c}", self.cookie_name()));
        }
        req.send().unwrap()
    }
}

fn python_path() -> PathBuf {
    std::env::var_os("SBX_TEST_PYTHONPATH")
        .map(Into::into)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/sbx-test/py"))
}

/// Run tests/tools/echokit_client.py against the endpoint (trusting only its certificate,
/// over TLS): what it saw, as JSON.
pub fn echokit_client(web: &Web, cookie: &str, steps: &str) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/echokit_client.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script).args([&web.base, &format!("{}={cookie}", web.cookie_name()), steps]);
    cmd.env("PYTHONPATH", python_path());
    if let Some(cert) = &web.cert {
        cmd.env("SBX_TEST_CAFILE", cert);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
