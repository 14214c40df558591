//! A server that stops takes nothing with it: its structure is kept on disk and rebuilt.

mod common;

use common::*;

fn snapshot_file(sbx: &Sbx) -> std::path::PathBuf {
    sbx.home().join("data/snapshots/default.json")
}

/// Sessions, tabs and panes as `ls` shows them: (session, [tab: [(cwd, label, cols, rows)]]).
type Shape = Vec<(String, Vec<Vec<(String, Option<String>, u64, u64)>>)>;

fn shape(sbx: &Sbx) -> Shape {
    sbx.ls()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let tabs = s["tabs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    t["panes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| {
                            (
                                p["cwd"].as_str().unwrap().to_string(),
                                p["label"].as_str().map(str::to_string),
                                p["cols"].as_u64().unwrap(),
                                p["rows"].as_u64().unwrap(),
                            )
                        })
                        .collect()
                })
                .collect();
            (s["name"].as_str().unwrap().to_string(), tabs)
        })
        .collect()
}

/// The zoomed tabs, as SESSION:TAB.
fn zoomed(sbx: &Sbx) -> Vec<String> {
    let mut out = Vec::new();
    for s in sbx.ls().as_array().unwrap() {
        for t in s["tabs"].as_array().unwrap() {
            if t["zoomed"] == true {
                out.push(format!("{}:{}", s["name"].as_str().unwrap(), t["index"]));
            }
        }
    }
    out
}

fn dirs(sbx: &Sbx, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let d = sbx.home().join("work").join(n);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::canonicalize(d).unwrap().display().to_string()
        })
        .collect()
}

/// Two sessions × two tabs of shells in their own directories, splits both ways, labels; a
/// shell that `cd`s after it started.
fn build(sbx: &Sbx) -> Shape {
    let d = dirs(sbx, &["a", "b", "c", "d", "e", "f", "moved"]);
    for (session, [first, second, third]) in [("one", [&d[0], &d[1], &d[2]]), ("two", [&d[3], &d[4], &d[5]])] {
        let pane = sbx.ok(&["new", "-d", "-s", session, "-c", first, "--size", "120x40"]).trim().to_string();
        sbx.ok(&["split", "-t", &pane, "-c", second, "--label", &format!("{session}-right")]);
        let tab = sbx.ok(&["new-tab", "-t", session, "-c", third]).trim().to_string();
        sbx.ok(&["split", "-t", &tab, "--down", "-c", third, "--label", &format!("{session}-low")]);
    }
    // A zoomed pane: its tab comes back zoomed on it (a zoomed pane is as large as its tab).
    sbx.ok(&["zoom", "-t", "two-low"]);
    wait_for("the zoom", || (zoomed(sbx) == ["two:2".to_string()]).then_some(()));
    // A shell that moved: the snapshot has where it is now.
    let first = sbx.panes()[0]["id"].as_str().unwrap().to_string();
    sbx.shell(&first, &format!("cd {}", d[6]));
    wait_for("ls to see the new directory", || (sbx.panes()[0]["cwd"] == d[6].as_str()).then_some(()));
    shape(sbx)
}

fn wait_snapshot_with(sbx: &Sbx, needle: &str) -> String {
    wait_for(&format!("the snapshot to hold {needle:?}"), || {
        std::fs::read_to_string(snapshot_file(sbx)).ok().filter(|t| t.contains(needle))
    })
}

#[test]
fn a_killed_server_comes_back_with_its_sessions_layouts_directories_and_labels() {
    let sbx = Sbx::new();
    let before = build(&sbx);
    // The directory a shell moved to is picked up by the periodic look or the next change.
    sbx.ok(&["label", "-t", "one-low", "one-low-2"]);
    let moved = sbx.home().join("work/moved");
    let text = wait_snapshot_with(&sbx, "one-low-2");
    assert!(text.contains(&*std::fs::canonicalize(moved).unwrap().to_string_lossy()), "{text}");
    let meta = std::fs::metadata(snapshot_file(&sbx)).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o600);
    assert!(!text.contains("SBX_SOCKET") && !text.contains("HOME="), "no environment in it:\n{text}");

    let server = sbx.server_pid();
    unsafe { libc::kill(server as i32, libc::SIGKILL) };
    wait_for("the server to die", || (!process_alive(server)).then_some(()));

    // What would come back, without starting anything.
    let list = sbx.ok(&["restore", "--list"]);
    assert!(list.contains("2 session(s), 8 pane(s)") && list.contains("[one-right]"), "{list}");
    // The next server rebuilds it by itself.
    sbx.ok(&["new", "-d", "-s", "fresh"]);
    let mut after = shape(&sbx);
    let fresh = after.iter().position(|(name, _)| name == "fresh").expect("the new session");
    after.remove(fresh);
    let rename = |label: &Option<String>| label.clone().map(|l| l.replace("one-low-2", "one-low"));
    let strip = |s: &Shape| -> Shape {
        s.iter()
            .map(|(n, tabs)| {
                (
                    n.clone(),
                    tabs.iter().map(|t| t.iter().map(|p| (p.0.clone(), rename(&p.1), p.2, p.3)).collect()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&after), strip(&before), "the same sessions, tabs, directories, labels and sizes");
    assert_eq!(zoomed(&sbx), ["two:2"], "the zoomed tab, zoomed");
    // And they are live shells.
    let right = "one-right";
    sbx.shell(right, "echo alive-$((6*7))");
    assert!(sbx.capture(right).contains("alive-42"));
}

#[test]
fn kill_server_keeps_the_snapshot_for_sbx_restore_and_forget_drops_it() {
    let sbx = Sbx::new();
    let before = build(&sbx);
    sbx.ok(&["kill-server"]);
    assert!(wait_snapshot_with(&sbx, "\"kept\": true").contains("two-low"));

    // A clean stop is not restored by itself...
    sbx.ok(&["new", "-d", "-s", "fresh"]);
    assert_eq!(shape(&sbx).len(), 1, "only the new session");
    // ...but on request, beside what runs.
    let out = sbx.ok(&["restore"]);
    assert!(out.contains("restored 2 session(s), 8 pane(s)"), "{out}");
    let after = shape(&sbx);
    assert_eq!(after.len(), 3);
    assert_eq!(after[1..], before[..], "the kept structure");
    let again = sbx.run(&["restore"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no snapshot waiting"));

    sbx.ok(&["kill-server", "--forget"]);
    wait_for("the snapshot to go", || (!snapshot_file(&sbx).exists()).then_some(()));
    assert!(sbx.ok(&["restore", "--list"]).contains("nothing to restore"));
}

#[test]
fn a_snapshot_that_does_not_read_is_set_aside_and_sbx_starts_fresh() {
    let sbx = Sbx::new();
    let file = snapshot_file(&sbx);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"{\"version\": 1, \"sessions\": [{\"name\": 7").unwrap();
    let listed = sbx.run(&["restore", "--list"]);
    assert_eq!(listed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&listed.stderr).contains("does not parse"));

    sbx.ok(&["new", "-d", "-s", "fresh"]);
    assert_eq!(shape(&sbx).len(), 1);
    let aside: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".bad-"))
        .collect();
    assert_eq!(aside.len(), 1, "the bad file is kept aside");
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), b"{\"version\": 1, \"sessions\": [{\"name\": 7");
    let log = std::fs::read_to_string(sbx.home().join("run/server.log")).unwrap();
    assert!(log.contains("did not read"), "{log}");
}

/// With `restore_history` a pane's text comes back with it (bounded); without it (the
/// default) none of it is on disk.
#[test]
fn history_comes_back_only_when_asked_for() {
    for keep in [false, true] {
        let sbx = Sbx::new();
        let config = sbx.home().join("config");
        std::fs::create_dir_all(&config).unwrap();
        if keep {
            std::fs::write(config.join("config.toml"), "restore_history = true\nrestore_history_bytes = 4096\n")
                .unwrap();
        }
        let pane = sbx.ok(&["new", "-d", "-s", "h", "--size", "100x30"]).trim().to_string();
        sbx.shell(&pane, "seq 1 3000 | sed 's/^/old-line-/'; echo remember-$((6*7))");
        sbx.ok(&["label", "-t", &pane, "kept"]);
        let text = wait_snapshot_with(&sbx, "kept");
        assert_eq!(text.contains("remember-42"), keep, "history in the snapshot only when asked for");
        assert!(text.len() < 4096 + 2048, "bounded: {} bytes", text.len());
        let server = sbx.server_pid();
        unsafe { libc::kill(server as i32, libc::SIGKILL) };
        wait_for("the server to die", || (!process_alive(server)).then_some(()));
        sbx.ok(&["new", "-d", "-s", "fresh"]);
        let shown = sbx.ok(&["capture", "-t", "kept", "--scrollback", "10000"]);
        assert_eq!(shown.contains("remember-42"), keep, "{shown}");
        assert!(!shown.contains("old-line-1\n"), "only the end of it");
    }
}

/// The last pane ending decides: a shell that exits leaves nothing to restore; one that is
/// killed (a shutdown reaching the panes before the server) is restored like a crash.
#[test]
fn a_last_pane_killed_is_restored_and_one_that_exits_is_not() {
    for killed in [true, false] {
        let sbx = Sbx::new();
        let d = dirs(&sbx, &["here"]);
        let pane = sbx.ok(&["new", "-d", "-s", "only", "-c", &d[0]]).trim().to_string();
        sbx.ok(&["label", "-t", &pane, "lonely"]);
        wait_snapshot_with(&sbx, "lonely");
        let server = sbx.server_pid();
        if killed {
            let shell = sbx.panes()[0]["pid"].as_u64().unwrap() as i32;
            unsafe { libc::kill(shell, libc::SIGKILL) };
        } else {
            sbx.ok(&["send-keys", "-t", &pane, "exit", "--enter"]);
        }
        wait_for("the server to end with its last pane", || (!process_alive(server)).then_some(()));
        assert_eq!(snapshot_file(&sbx).exists(), killed, "killed {killed}");
        sbx.ok(&["new", "-d", "-s", "next"]);
        let names: Vec<String> = shape(&sbx).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.contains(&"only".to_string()), killed, "{names:?}");
    }
}
