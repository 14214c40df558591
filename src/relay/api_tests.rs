//! The relay's HTTP API in process: every parser of a request, fed arbitrary input, answers
//! without a panic, always a 4xx.

use super::*;
use axum::http::Request;
use proptest::prelude::*;
use tower::ServiceExt;

fn app() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(super::super::store::SqliteStore::open(&dir.path().join("r.db")).unwrap());
    let limits = Limits {
        ttl_secs: 60,
        max_blob: 1024,
        posts_per_minute: 0,
        challenges_per_minute: 0,
        trust_proxy_header: Some("x-forwarded-for".into()),
        nonce_ttl: Duration::from_secs(60),
        mailbox_max_blobs: 0,
        mailbox_max_bytes: 0,
    };
    (router(Relay::new(store, limits)), dir)
}

fn status(app: &Router, req: Request<Body>) -> u16 {
    let mut req = req;
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(app.clone().oneshot(req)).unwrap().status().as_u16()
}

fn client_error(s: u16) -> bool {
    (400..500).contains(&s)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_key_body_is_refused(body in proptest::collection::vec(any::<u8>(), 0..600), text in ".{0,200}") {
        let (app, _dir) = app();
        for b in [body.clone(), text.clone().into_bytes(), format!(r#"{{"fingerprint":"{text}","public_key":"{text}"}}"#).into_bytes()] {
            let s = status(&app, Request::post("/keys").body(Body::from(b)).unwrap());
            prop_assert!(client_error(s), "{s}");
        }
    }

    #[test]
    fn any_auth_headers_are_refused(id in "[0-9a-f]{20}", nonce in ".{0,64}", sig in ".{0,128}", wait in ".{0,8}") {
        let (app, _dir) = app();
        let mut req = Request::get(format!("/mailbox/{id}?wait={}", urlencode(&wait)));
        for (k, v) in [("x-echos-fingerprint", id.as_str()), ("x-echos-nonce", nonce.as_str()), ("x-echos-signature", sig.as_str())] {
            if let Ok(v) = axum::http::HeaderValue::from_str(v) {
                req = req.header(k, v);
            }
        }
        let s = status(&app, req.body(Body::empty()).unwrap());
        prop_assert!(client_error(s), "{s}");
    }

    #[test]
    fn any_path_or_query_is_a_client_error(seg in "[^/?#]{0,40}", query in ".{0,60}", forwarded in ".{0,40}") {
        let (app, _dir) = app();
        let seg = urlencode(&seg);
        for (method, path) in [
            ("GET", format!("/keys/{seg}")),
            ("GET", format!("/blob/{seg}")),
            ("DELETE", format!("/blob/{seg}")),
            ("GET", format!("/mailbox/{seg}")),
            ("POST", format!("/mailbox/{seg}")),
            ("GET", format!("/challenge?fpr={}", urlencode(&query))),
            ("GET", format!("/challenge?{}", urlencode(&query))),
        ] {
            let mut req = Request::builder().method(method).uri(&path);
            if let Ok(v) = axum::http::HeaderValue::from_str(&forwarded) {
                req = req.header("x-forwarded-for", v);
            }
            let s = status(&app, req.body(Body::from("x")).unwrap());
            prop_assert!(client_error(s), "{method} {path}: {s}");
        }
    }

    #[test]
    fn wire_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), text in ".{0,100}") {
        let _ = wire::parse_key_wire(&bytes);
        let _ = wire::parse_sig_wire(&bytes);
        let _ = wire::unb64(&text);
        let _ = wire::verify(&bytes, &bytes, &bytes);
        let _ = parse_key_body(&bytes);
        prop_assert!(!wire::valid_blob_id(&text) || text.len() == 24);
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
