//! Finding and arranging panes as a tmux user would, through a real client inside tmux: the
//! chooser, renames, layout presets, swaps and moves, synchronized typing, and a read-only
//! client whose keys change nothing.

mod common;

use common::*;

/// The session a client shows (the one `sbx ls` counts it in).
fn client_session(sbx: &Sbx) -> Option<String> {
    sbx.ls().as_array()?.iter().find(|s| s["clients"] == 1).map(|s| s["name"].as_str().unwrap().to_string())
}

fn pane_line(sbx: &Sbx, pane: &str) -> serde_json::Value {
    sbx.panes().into_iter().find(|p| p["id"] == pane).expect("pane listed")
}

#[test]
fn the_chooser_finds_a_pane_by_part_of_its_label_previews_it_and_goes_there() {
    let sbx = Sbx::new();
    let work = sbx.ok(&["new", "-d", "-s", "work", "--size", "160x45"]).trim().to_string();
    sbx.ok(&["split", "-t", &work]);
    let bot = sbx.ok(&["new", "-d", "-s", "play", "--size", "160x45", "--label", "deploy-bot"]).trim().to_string();
    sbx.shell(&bot, "echo preview-$((6*7))");
    sbx.wait_capture(&bot, "preview-42");
    let tmux = Tmux::new("chooser");
    tmux.start("outer", 160, 45, &format!("{} {SBX} attach -t work", sbx.env_prefix()));
    tmux.wait_screen("outer", " work ");
    tmux.send("outer", &["C-b", "w"]);
    tmux.wait_screen("outer", "choose a session, tab or pane");
    tmux.send("outer", &["-l", "ploybo"]);
    // The match is highlighted, with where it is, and its screen below.
    let screen = tmux.wait_screen("outer", &format!("▸ play › 1:bash › {bot} deploy-bot"));
    assert!(screen.contains("preview-42"), "the preview shows the pane's screen:\n{screen}");
    assert!(!screen.contains("work › "), "the other panes do not match:\n{screen}");
    tmux.send("outer", &["Enter"]);
    wait_for("the client to show play", || (client_session(&sbx).as_deref() == Some("play")).then_some(()));
    assert_eq!(pane_line(&sbx, &bot)["active"], true);
    // Next and previous session chords go round by name.
    tmux.send("outer", &["C-b", "("]);
    wait_for("the client back on work", || (client_session(&sbx).as_deref() == Some("work")).then_some(()));
    tmux.send("outer", &["C-b", ")"]);
    wait_for("the client on play again", || (client_session(&sbx).as_deref() == Some("play")).then_some(()));
    // Sidebar rows are places: a click on one goes there.
    tmux.send("outer", &["C-b", "s"]);
    let screen = tmux.wait_screen("outer", "Sessions");
    let row =
        screen.lines().position(|l| l.contains(&format!("○ {work}")) || l.contains(&format!("● {work}"))).unwrap();
    // An SGR mouse press and release at column 5 of that row (1-based in the escape).
    let click = format!("\x1b[<0;5;{}M\x1b[<0;5;{}m", row + 1, row + 1);
    tmux.send("outer", &["-l", &click]);
    wait_for("a click on a sidebar row to go there", || {
        (client_session(&sbx).as_deref() == Some("work")).then_some(())
    });
    assert_eq!(pane_line(&sbx, &work)["active"], true);
    // And from the keyboard: sidebar mode, down to the last row (play's pane), Enter.
    tmux.send("outer", &["C-b", "Tab"]);
    tmux.wait_screen("outer", " SIDEBAR ");
    for _ in 0..6 {
        tmux.send("outer", &["Down"]);
    }
    tmux.send("outer", &["Enter"]);
    wait_for("the keyboard to go to play's pane", || (client_session(&sbx).as_deref() == Some("play")).then_some(()));
    assert_eq!(pane_line(&sbx, &bot)["active"], true);
}

#[test]
fn renames_presets_swaps_and_moves_show_in_ls() {
    let sbx = Sbx::new();
    let a = sbx.ok(&["new", "-d", "-s", "work", "--size", "121x40"]).trim().to_string();
    sbx.ok(&["split", "-t", &a]);
    let b = sbx.panes()[1]["id"].as_str().unwrap().to_string();
    sbx.ok(&["split", "-t", &b, "--down"]);
    let tmux = Tmux::new("arrange");
    tmux.start("outer", 121, 41, &format!("{} {SBX} attach -t work", sbx.env_prefix()));
    tmux.wait_screen("outer", " work ");
    // Chords: rename the session and the tab by typing the names.
    tmux.send("outer", &["C-b", "$"]);
    tmux.wait_screen("outer", "rename session work");
    tmux.send("outer", &["C-u"]);
    tmux.send("outer", &["-l", "build"]);
    // Enter and the next chord in one burst: the chord acts in the session as renamed.
    tmux.send("outer", &["Enter", "C-b", ","]);
    tmux.wait_screen("outer", "rename tab 1 of build");
    tmux.send("outer", &["C-u"]);
    tmux.send("outer", &["-l", "editor"]);
    tmux.send("outer", &["Enter"]);
    let ls = wait_for("the renames in ls", || {
        let ls = sbx.ls();
        (ls[0]["name"] == "build" && ls[0]["tabs"][0]["name"] == "editor").then_some(ls)
    });
    assert_eq!(ls[0]["clients"], 1, "the client followed its session's new name");
    tmux.wait_screen("outer", " build ");
    // A taken or unusable name is refused, with what to do.
    let out = sbx.run(&["rename-session", "-t", "build", "bad name"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("letters, digits"));
    sbx.ok(&["rename-tab", "-t", "build:1", "main"]);
    // A preset from the keyboard (M-5 tiled), and from the command line.
    tmux.send("outer", &["C-b", "M-5"]);
    wait_for("the tiled layout", || (sbx.ls()[0]["tabs"][0]["layout"] == "tiled").then_some(()));
    sbx.ok(&["layout", "-t", "build:main", "even-vertical"]);
    let tab = &sbx.ls()[0]["tabs"][0];
    assert_eq!(tab["layout"], "even-vertical");
    assert!(
        tab["panes"].as_array().unwrap().iter().all(|p| p["cols"] == 121),
        "stacked: every pane is as wide as the tab"
    );
    // Swap, then move a pane out into a tab of its own and back.
    let order = |sbx: &Sbx| -> Vec<String> {
        sbx.ls()[0]["tabs"][0]["panes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    let before = order(&sbx);
    sbx.ok(&["swap-pane", "-s", &before[0], "-t", &before[2]]);
    assert_eq!(order(&sbx), [before[2].clone(), before[1].clone(), before[0].clone()]);
    sbx.ok(&["move-pane", "-s", &before[1]]);
    let ls = sbx.ls();
    assert_eq!(ls[0]["tabs"].as_array().unwrap().len(), 2);
    assert_eq!(ls[0]["tabs"][1]["panes"][0]["id"], before[1].as_str());
    sbx.ok(&["move-pane", "-s", &before[1], "-t", &before[0], "--down"]);
    assert_eq!(sbx.ls()[0]["tabs"].as_array().unwrap().len(), 1);
    assert_eq!(order(&sbx), [before[2].clone(), before[0].clone(), before[1].clone()]);
    let out = sbx.run(&["layout", "-t", "build", "diagonal"]);
    assert!(!out.status.success(), "an unknown preset is refused");
}

#[test]
fn synchronized_typing_goes_to_the_marked_panes_and_shows_while_on() {
    let sbx = Sbx::new();
    let a = sbx.ok(&["new", "-d", "-s", "work", "--size", "150x40"]).trim().to_string();
    sbx.ok(&["split", "-t", &a]);
    sbx.ok(&["split", "-t", &a, "--down"]);
    let ids: Vec<String> = sbx.panes().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    let tmux = Tmux::new("sync");
    tmux.start("outer", 150, 41, &format!("{} {SBX} attach -t work", sbx.env_prefix()));
    tmux.wait_screen("outer", " work ");
    let focused = || sbx.panes().into_iter().find(|p| p["active"] == true).unwrap()["id"].as_str().unwrap().to_string();
    // Mark the focused pane and the next one; the third stays out.
    let first = focused();
    tmux.send("outer", &["C-b", "m"]);
    tmux.wait_screen("outer", "[marked]");
    tmux.send("outer", &["C-b", "o"]);
    wait_for("focus to move", || (focused() != first).then_some(()));
    let second = focused();
    tmux.send("outer", &["C-b", "m"]);
    let third = ids.iter().find(|p| **p != first && **p != second).unwrap().clone();
    tmux.send("outer", &["C-b", "M"]);
    let screen = tmux.wait_screen("outer", " SYNC ");
    assert!(screen.contains("2 panes"), "the status line says how many panes take the keys:\n{screen}");
    tmux.send("outer", &["-l", "echo sync-$((6*7))"]);
    tmux.send("outer", &["Enter"]);
    sbx.wait_capture(&first, "sync-42");
    sbx.wait_capture(&second, "sync-42");
    // Off again: the focused pane alone.
    tmux.send("outer", &["C-b", "M"]);
    wait_for("SYNC to go", || (!tmux.capture("outer").contains(" SYNC ")).then_some(()));
    tmux.send("outer", &["-l", "echo alone-$((5*5))"]);
    tmux.send("outer", &["Enter"]);
    sbx.wait_capture(&second, "alone-25");
    assert!(!sbx.capture(&first).contains("alone-25"), "typing went to the focused pane only");
    assert!(!sbx.capture(&third).contains("sync-42"), "an unmarked pane got nothing");
}

#[test]
fn a_read_only_client_watches_and_changes_nothing() {
    let sbx = Sbx::new();
    let pane = sbx.ok(&["new", "-d", "-s", "work", "--size", "120x40"]).trim().to_string();
    let tmux = Tmux::new("readonly");
    tmux.start("worker", 120, 41, &format!("{} {SBX} attach -t work", sbx.env_prefix()));
    tmux.start("watcher", 80, 20, &format!("{} {SBX} attach -r -t work", sbx.env_prefix()));
    let screen = tmux.wait_screen("watcher", "READ-ONLY");
    assert!(screen.contains(&pane), "{screen}");
    wait_for("both clients", || (sbx.ls()[0]["clients"] == 2).then_some(()));
    // The watcher's small terminal does not shrink the worker's panes.
    assert_eq!(pane_line(&sbx, &pane)["cols"], 120);
    tmux.send("watcher", &["-l", "echo typed-by-watcher"]);
    tmux.send("watcher", &["Enter"]);
    tmux.send("watcher", &["C-b", "%"]);
    tmux.send("watcher", &["C-b", "c"]);
    tmux.send("watcher", &["C-b", "$"]);
    tmux.wait_screen("watcher", "read-only: this client changes nothing");
    // What the worker types still goes in, and the watcher sees it.
    tmux.send("worker", &["-l", "echo typed-by-worker"]);
    tmux.send("worker", &["Enter"]);
    tmux.wait_screen("watcher", "typed-by-worker");
    let screen = sbx.capture(&pane);
    assert!(!screen.contains("typed-by-watcher"), "the watcher's keys reached the pane:\n{screen}");
    assert_eq!(sbx.panes().len(), 1, "no split, no tab");
    assert_eq!(sbx.ls()[0]["name"], "work", "no rename");
    // It can still leave.
    tmux.send("watcher", &["C-b", "d"]);
    wait_for("the watcher to detach", || (sbx.ls()[0]["clients"] == 1).then_some(()));
}
