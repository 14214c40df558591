//! The web front reachable from other machines: only over TLS, with a certificate sbx makes on
//! first use and keeps (so a browser's trust, given once, holds) or the user's own files.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::web::{echokit_client, Web};
use common::*;
use serde_json::Value;

/// The SHA-256 of a PEM certificate's DER, `AB:CD:…`, computed here apart from sbx.
fn fingerprint_of(pem: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[test]
fn an_endpoint_on_every_interface_speaks_only_tls_with_a_certificate_it_keeps() {
    let sbx = Sbx::new();
    let web = Web::start_with(&sbx, &["--addr", "0.0.0.0:0", "--tls"]);
    assert!(web.base.starts_with("https://127.0.0.1:"), "{}", web.base);
    // The certificate and its key are private, and the fingerprint printed is the served one's.
    let dir = sbx.home().join("data/web");
    for (path, mode) in [(dir.clone(), 0o700), (dir.join("key.pem"), 0o600), (dir.join("cert.pem"), 0o600)] {
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, mode, "{}", path.display());
    }
    let pem = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
    let fingerprint = web.report["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fingerprint, fingerprint_of(&pem));
    assert!(web.report["pin"].as_str().unwrap().starts_with("sha256//"));

    // A client that trusts only that certificate logs in; the cookie is for TLS only.
    let response = web.login(&web.token());
    assert_eq!(response.status(), 303);
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
    assert!(response.headers().contains_key("strict-transport-security"));
    let cookie = web.session();
    let panes: Value = web.get("/api/panes", Some(&cookie)).json().unwrap();
    assert_eq!(panes[0]["tabs"][0]["panes"][0]["label"], "box");
    // A name the certificate is not for is refused, even over TLS with a session.
    let port = web.base.rsplit(':').next().unwrap();
    let rebound = web
        .http
        .get(format!("{}/api/panes", web.base))
        .header("host", format!("attacker.example:{port}"))
        .header("cookie", format!("{}={cookie}", web.cookie_name()))
        .send()
        .unwrap();
    assert_eq!(rebound.status(), 421);

    // echokit's protocol over wss://, its client trusting only the certificate.
    let seen = echokit_client(&web, &cookie, "tls");
    assert!(seen["echo"].as_str().unwrap().contains("over-wss-42"), "{seen}");
    assert_eq!(seen["http"]["type"], "session_idle");

    // Plain HTTP gets nothing: no page, no refusal with data, and the endpoint serves on.
    let plain = reqwest::blocking::Client::new().get(format!("http://127.0.0.1:{port}/api/panes")).send();
    assert!(plain.is_err(), "plain HTTP was answered: {:?}", plain.map(|r| r.status()));
    // A client with the usual roots does not trust it: the pin is what makes it trusted.
    let unpinned = reqwest::blocking::Client::new().get(format!("{}/api/panes", web.base)).send();
    assert!(unpinned.is_err(), "a certificate nobody vouched for was taken");
    assert_eq!(web.get("/api/panes", Some(&cookie)).status(), 200);

    // Stopped and started again: the same certificate (what the browser trusted still holds).
    sbx.ok(&["web", "stop"]);
    let again: Value = serde_json::from_str(&sbx.ok(&["web", "--addr", "0.0.0.0:0", "--tls", "--json"])).unwrap();
    assert_eq!(again["fingerprint"].as_str(), Some(fingerprint.as_str()));
}

#[test]
fn the_users_own_certificate_files_are_served_and_bad_ones_refused_with_the_next_step() {
    let sbx = Sbx::new();
    // A certificate and key of the user's (made by another sbx, kept elsewhere).
    let maker = Sbx::new();
    maker.ok(&["new", "-d"]);
    maker.ok(&["web", "--tls", "--addr", "127.0.0.1:0"]);
    let mine = tempfile::tempdir().unwrap();
    let (cert, key) = (mine.path().join("site.crt"), mine.path().join("site.key"));
    std::fs::copy(maker.home().join("data/web/cert.pem"), &cert).unwrap();
    std::fs::copy(maker.home().join("data/web/key.pem"), &key).unwrap();
    let bad = mine.path().join("bad.pem");
    std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n").unwrap();

    sbx.ok(&["new", "-d", "-s", "first"]);
    let out = sbx.run(&[
        "web",
        "--addr",
        "0.0.0.0:0",
        "--tls-cert",
        bad.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad_certificate") && err.contains("bad.pem") && err.contains("--tls"), "{err}");
    let out = sbx.run(&["web", "--tls-cert", cert.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0), "a certificate without its key");
    // Relative paths are the caller's: the server gets them whole.
    let report: Value = serde_json::from_str(&expect_success(
        &["web"],
        sbx.command()
            .current_dir(mine.path())
            .args(["web", "--addr", "0.0.0.0:0", "--tls-cert", "site.crt", "--tls-key", "site.key", "--json"])
            .output()
            .unwrap(),
        "",
    ))
    .unwrap();
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert_eq!(report["fingerprint"].as_str().unwrap(), fingerprint_of(&pem));
    assert!(!sbx.home().join("data/web/cert.pem").exists(), "nothing generated when files are given");
    let url = report["url"].as_str().unwrap();
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    assert_eq!(http.get(url).send().unwrap().status(), 303);
}

/// A real browser that pins the certificate's key (as a user who checked the fingerprint
/// once) gets the page over TLS, and its terminal works over wss://.
#[test]
fn the_page_works_over_tls_in_a_browser_that_pinned_the_key() {
    use common::browser::Browser;
    let sbx = Sbx::new();
    let web = Web::start_with(&sbx, &["--addr", "0.0.0.0:0", "--tls"]);
    sbx.shell(&web.pane, "echo ready");
    let pin = web.report["pin"].as_str().unwrap().trim_start_matches("sha256//").to_string();
    let browser = Browser::start_with(1200, 800, &[format!("--ignore-certificate-errors-spki-list={pin}")]);
    browser.go(&format!("{}/login?token={}", web.base, web.token()));
    browser.wait("the pane list", "return document.querySelector('#panes li[data-pane]')?.innerText.includes('box')");
    browser.wait("the shell's screen", "return document.querySelector('.xterm-rows')?.innerText.includes('ready')");
    assert_eq!(browser.eval("return location.protocol"), "https:");
    browser.type_into(".xterm-helper-textarea", "echo typed-over-tls-$((8*8))\u{E007}");
    browser.wait("the echo", "return document.querySelector('.xterm-rows')?.innerText.includes('typed-over-tls-64')");
    assert!(sbx.capture(&web.pane).contains("typed-over-tls-64"));
    browser.screenshot(sbx.home(), "page-tls");
}
