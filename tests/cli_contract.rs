//! The CLI contract scripts and agents rely on: one JSON document per command whatever
//! happens, no panic on a closed pipe, help that tells the commands apart, completions and a
//! manual page, and reads that never start a server.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

/// Every JSON document on stdout: a command under --json must print exactly one.
fn documents(stdout: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(stdout)))
}

/// Run under --json and return the one document it printed, with the exit status.
fn one_document(sbx: &Sbx, args: &[&str]) -> (Value, i32) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = sbx.run(&all);
    let docs = documents(&out.stdout);
    assert_eq!(docs.len(), 1, "sbx {all:?} printed {} JSON documents: {docs:?}", docs.len());
    (docs.into_iter().next().unwrap(), out.status.code().expect("an exit status, not a signal"))
}

fn assert_error(doc: &Value, code: &str, exit: i32, status: i32) {
    assert_eq!(doc["code"], code, "{doc}");
    assert_eq!(doc["exit"], exit, "{doc}");
    assert_eq!(status, exit, "{doc}");
    assert!(doc["error"].as_str().is_some_and(|e| !e.is_empty()), "{doc}");
}

#[test]
fn a_reader_that_stops_early_gets_no_backtrace_and_the_command_exits_quietly() {
    let sbx = Sbx::new();
    sbx.ok(&["new", "-d", "--", "bash", "--norc", "-c", "seq 1 5000; exec sleep 1000"]);
    sbx.wait_capture("%1", "5000");
    for line in [
        "capture -t %1 --scrollback 3000 --json",
        "capture -t %1 --scrollback 3000",
        "ls --json",
        "--help",
        "man",
        "completions bash",
        "msg inbox --all --json",
    ] {
        let script = format!("set -o pipefail; {} {SBX} {line} | head -c 1 >/dev/null", sbx.env_prefix());
        let out = Command::new("bash").args(["-c", &script]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "sbx {line} | head: {err}");
        // 0, or the status a process killed by SIGPIPE has (141): never an error.
        assert!(matches!(out.status.code(), Some(0) | Some(141)), "sbx {line} | head: {:?} {err}", out.status);
    }
}

#[test]
fn under_json_every_outcome_is_one_document_with_a_stable_code() {
    let sbx = Sbx::new();
    // No server yet.
    let (doc, status) = one_document(&sbx, &["ls"]);
    assert_error(&doc, "no_server", 1, status);
    sbx.ok(&["new", "-d", "--", "sleep", "1000"]);
    // A timeout is one error object (it used to be the empty answer and then the error).
    let (doc, status) = one_document(&sbx, &["msg", "wait", "--timeout", "0.2"]);
    assert_error(&doc, "timeout", 1, status);
    assert!(doc["next"].as_str().unwrap().contains("sbx msg wait"), "{doc}");
    // An unknown target names the command that lists the right ones.
    let (doc, status) = one_document(&sbx, &["capture", "-t", "nope"]);
    assert_error(&doc, "unknown_target", 1, status);
    assert!(doc["next"].as_str().unwrap().contains("sbx ls"), "{doc}");
    // Usage errors too, pointing at the help of the command they are in.
    let (doc, status) = one_document(&sbx, &["new", "--frob"]);
    assert_error(&doc, "usage", 1, status);
    assert_eq!(doc["next"], "see the command's help: sbx new --help", "{doc}");
    let (doc, status) = one_document(&sbx, &["bogus"]);
    assert_error(&doc, "usage", 1, status);
    // A broken config is one document: the problem, not the settings and then the problem.
    let config = sbx.home().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "bogus = [").unwrap();
    let (doc, status) = one_document(&sbx, &["config", "check"]);
    assert_error(&doc, "bad_config", 1, status);
    std::fs::remove_file(config.join("config.toml")).unwrap();
    let (doc, status) = one_document(&sbx, &["config", "check"]);
    assert_eq!((status, doc["problems"].as_array().map(Vec::len)), (0, Some(0)), "{doc}");
    // Answers that succeed are one document as well; lists are arrays.
    let (doc, status) = one_document(&sbx, &["ls"]);
    assert!(status == 0 && doc.is_array(), "{doc}");
    let (doc, status) = one_document(&sbx, &["friend", "list"]);
    assert!(status == 0 && doc == serde_json::json!([]), "{doc}");
    let (doc, status) = one_document(&sbx, &["version"]);
    assert_eq!((status, doc["version"].as_str()), (0, Some(env!("CARGO_PKG_VERSION"))), "{doc}");
}

#[test]
fn artifact_get_under_json_writes_a_file_and_says_where() {
    let sbx = Sbx::new();
    sbx.ok(&["new", "-d", "--", "sleep", "1000"]);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("notes.md");
    std::fs::write(&file, b"the artifact's bytes\n").unwrap();
    let (put, _) = one_document(&sbx, &["artifact", "put", file.to_str().unwrap()]);
    let sha = put["sha256"].as_str().unwrap().to_string();
    let out_dir = tempfile::tempdir().unwrap();
    let get = |sbx: &Sbx| {
        let out = sbx.command().current_dir(out_dir.path()).args(["artifact", "get", &sha, "--json"]).output().unwrap();
        let docs = documents(&out.stdout);
        assert_eq!(docs.len(), 1, "{docs:?}");
        (docs[0].clone(), out.status.code().unwrap())
    };
    let (doc, status) = get(&sbx);
    assert_eq!(status, 0, "{doc}");
    assert_eq!((doc["sha256"].as_str(), doc["size"].as_u64()), (Some(sha.as_str()), Some(21)), "{doc}");
    assert_eq!(doc["path"], "notes.md", "named as it was stored: {doc}");
    assert_eq!(std::fs::read(out_dir.path().join("notes.md")).unwrap(), b"the artifact's bytes\n");
    // A second fetch does not overwrite what is there.
    std::fs::write(out_dir.path().join("notes.md"), b"edited since").unwrap();
    let (doc, status) = get(&sbx);
    assert_error(&doc, "exists", 1, status);
    assert!(doc["next"].as_str().unwrap().contains("-o"), "{doc}");
    assert_eq!(std::fs::read(out_dir.path().join("notes.md")).unwrap(), b"edited since");
    let names: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no temp file left behind: {names:?}");
}

#[test]
fn a_command_that_only_reads_never_starts_a_server() {
    let sbx = Sbx::new();
    let sha = "0".repeat(64);
    for args in [
        vec!["msg", "inbox"],
        vec!["msg", "read", "1"],
        vec!["msg", "thread", "1"],
        vec!["msg", "whoami"],
        vec!["msg", "sessions", "--all"],
        vec!["msg", "wait", "--timeout", "1"],
        vec!["channel", "list"],
        vec!["search", "anything"],
        vec!["artifact", "get", &sha],
        vec!["ls"],
        vec!["capture", "-t", "%1"],
    ] {
        let (doc, status) = one_document(&sbx, &args);
        assert_error(&doc, "no_server", 1, status);
        assert!(doc["next"].as_str().unwrap().contains("sbx new -d"), "{args:?}: {doc}");
        assert!(!sbx.home().join("run/default.sock").exists(), "sbx {args:?} started a server");
    }
    // A command that writes starts one, as before.
    sbx.ok(&["msg", "send", "user", "hello"]);
    assert!(sbx.home().join("run/default.sock").exists());
}

#[test]
fn listing_while_the_last_session_closes_is_an_empty_list_or_no_server() {
    for round in 0..5 {
        let sbx = Sbx::new();
        sbx.ok(&["new", "-d", "-s", "only", "--", "sleep", "1000"]);
        // Ask over and over while the session (and with it the server) goes away.
        let lister = {
            let env = sbx.home().to_path_buf();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                for _ in 0..40 {
                    let out = Command::new(SBX)
                        .args(["ls", "--json"])
                        .env("SBX_HOME", &env)
                        .env("HOME", &env)
                        .env_remove("SBX_SOCKET")
                        .env_remove("SBX_PANE_ID")
                        .stderr(Stdio::null())
                        .output()
                        .unwrap();
                    seen.push((documents(&out.stdout), out.status.code()));
                }
                seen
            })
        };
        sbx.ok(&["kill", "-t", "only"]);
        for (docs, status) in lister.join().unwrap() {
            assert_eq!(docs.len(), 1, "round {round}: {docs:?}");
            let doc = &docs[0];
            let fine = match status {
                Some(0) => doc.is_array(),
                Some(1) => doc["code"] == "no_server",
                _ => false,
            };
            assert!(fine, "round {round}: ls --json gave {status:?} {doc}");
        }
        let (doc, status) = one_document(&sbx, &["ls"]);
        assert!(
            (status == 0 && doc == serde_json::json!([])) || doc["code"] == "no_server",
            "after the last kill: {status} {doc}"
        );
    }
}

#[test]
fn help_groups_the_commands_and_tells_the_look_alikes_apart() {
    let sbx = Sbx::new();
    let help = sbx.ok(&["--help"]);
    for heading in [
        "Multiplexer:",
        "Agents in panes:",
        "Bridge:",
        "Sharing sessions with friends:",
        "Relay:",
        "Nouns that look alike:",
    ] {
        assert!(help.contains(heading), "no {heading:?} in:\n{help}");
    }
    for alike in ["sbx send FRIEND", "sbx msg send TO", "sbx send-keys", "sbx msg inbox", "sbx msg sessions", "sbx ls "]
    {
        assert!(help.contains(alike), "no {alike:?} in:\n{help}");
    }
    assert!(!help.contains("\n\n\n"), "no runs of blank lines:\n{help}");
    assert_eq!(sbx.ok(&["help"]), help, "`sbx help` is `sbx --help`");
    let msg_help = sbx.ok(&["help", "msg", "send"]);
    assert!(msg_help.contains("--artifact") && msg_help.contains("Who gets it"), "{msg_help}");
    assert_eq!(sbx.ok(&["version"]).trim(), format!("sbx {}", env!("CARGO_PKG_VERSION")));
    let friend_help = sbx.ok(&["friend", "--help"]);
    assert!(friend_help.contains("rm") && friend_help.contains("remove"), "{friend_help}");
    // `friend remove` is `friend rm`: with no such friend, the error is about the friend.
    let (doc, status) = one_document(&sbx, &["friend", "remove", "nobody"]);
    assert_eq!(status, 1, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("no friend named nobody"), "{doc}");
    // One name per idea: --dir (with its old name --cwd kept as an alias).
    let dir = tempfile::tempdir().unwrap();
    let new_help = sbx.ok(&["new", "--help"]);
    assert!(new_help.contains("--dir"), "{new_help}");
    let path = std::fs::canonicalize(dir.path()).unwrap();
    sbx.ok(&["new", "-d", "--cwd", path.to_str().unwrap(), "--", "sleep", "1000"]);
    sbx.ok(&["split", "--dir", path.to_str().unwrap(), "--", "sleep", "1000"]);
    let cwds: Vec<Value> = sbx.panes().iter().map(|p| p["cwd"].clone()).collect();
    assert_eq!(cwds, vec![Value::from(path.to_str().unwrap()); 2]);
}

#[test]
fn completions_and_the_manual_page_come_from_the_definitions() {
    let sbx = Sbx::new();
    let bash = sbx.ok(&["completions", "bash"]);
    assert!(bash.contains("send-keys") && bash.contains("--scrollback"), "bash completions know the commands");
    // The script is valid bash and, sourced, completes sbx.
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), &bash).unwrap();
    let check = format!("source {} && complete -p sbx", script.path().display());
    let out = Command::new("bash").args(["--norc", "-c", &check]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sbx"));
    for shell in ["zsh", "fish"] {
        let text = sbx.ok(&["completions", shell]);
        assert!(text.contains("send-keys"), "{shell} completions know the commands");
    }
    let out = sbx.run(&["completions", "tcsh-or-so"]);
    assert_eq!(out.status.code(), Some(1));
    let man = sbx.ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH sbx"), "roff: {}", &man[..man.len().min(200)]);
    assert!(man.contains("send\\-keys") || man.contains("send-keys"), "the manual lists the commands");
}

#[test]
fn the_relay_says_where_it_listens_in_one_json_line() {
    // The shared helper starts `sbx relay --json` and reads the `listening` field of its first
    // line; the address it names answers.
    let relay = common::relay::start(&[]);
    assert!(!relay.url.ends_with(":0"), "the real port, not the one asked for: {}", relay.url);
    let health: Value = reqwest::blocking::get(format!("{}/healthz", relay.url)).unwrap().json().unwrap();
    assert_eq!(health["ok"], true, "a relay answers there");
}

/// Killing the last pane ends the server; a `new` right after can reach it while it goes
/// (accepted, never answered). It starts the next server instead of failing.
#[test]
fn a_new_session_right_after_the_last_pane_is_killed_gets_a_server() {
    let sbx = Sbx::new();
    for round in 0..8 {
        let pane = sbx.ok(&["new", "-d", "--", "sleep", "1000"]).trim().to_string();
        let out = sbx.run(&["kill", "-t", &pane]);
        assert!(out.status.success(), "round {round}: kill: {}", String::from_utf8_lossy(&out.stderr));
    }
    sbx.ok(&["new", "-d", "--", "sleep", "1000"]);
    assert_eq!(sbx.panes().len(), 1);
}
