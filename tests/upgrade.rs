//! `sbx upgrade`: the server becomes another binary in place, and nothing the user sees or
//! runs is lost — processes, screens, scrollback, output written during the hand-over, and an
//! attached client, which follows by itself.

mod common;

use common::*;

fn exe_of(pid: u32) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

/// Every `tick N` line in the pane's text, history included.
fn ticks(sbx: &Sbx, pane: &str) -> Vec<u64> {
    sbx.ok(&["capture", "-t", pane, "--scrollback", "100000"])
        .lines()
        .filter_map(|l| l.strip_prefix("tick ").and_then(|n| n.trim().parse().ok()))
        .collect()
}

fn pids(sbx: &Sbx) -> Vec<(String, u64)> {
    sbx.panes().iter().map(|p| (p["id"].as_str().unwrap().to_string(), p["pid"].as_u64().unwrap())).collect()
}

#[test]
fn an_upgrade_keeps_every_pane_its_process_screen_and_scrollback_and_the_client_follows() {
    let sbx = Sbx::new();
    let file = sbx.home().join("notes.txt");
    std::fs::write(&file, "first line of the file\nsecond line\n").unwrap();
    let counter = sbx
        .ok(&[
            "new",
            "-d",
            "-s",
            "work",
            "--size",
            "160x40",
            "--",
            "bash",
            "--norc",
            "-c",
            "i=0; while :; do echo \"tick $i\"; i=$((i+1)); sleep 0.01; done",
        ])
        .trim()
        .to_string();
    let vim = sbx
        .ok(&["split", "-t", &counter, "--label", "editor", "--", "vim", "-u", "NONE", "-N", file.to_str().unwrap()])
        .trim()
        .to_string();
    // The last split is the focused pane: what the user types goes to it.
    let shell = sbx.ok(&["split", "-t", &counter, "--down"]).trim().to_string();
    sbx.shell(&shell, "for i in $(seq 1 300); do echo \"history line $i\"; done");
    sbx.wait_capture(&vim, "second line");

    let tmux = Tmux::new("upgrade");
    tmux.start("t", 160, 40, &format!("{} {SBX} attach -t work", sbx.env_prefix()));
    tmux.wait_screen("t", "first line of the file");
    let client = tmux.program_pid("t");

    let server = sbx.server_pid();
    let before_pids = pids(&sbx);
    let vim_screen = sbx.capture(&vim);
    let shell_text = sbx.ok(&["capture", "-t", &shell, "--scrollback", "1000"]);
    wait_for("some ticks", || (ticks(&sbx, &counter).len() > 50).then_some(()));

    let next = sbx.next_binary();
    let out = sbx.ok(&["upgrade", "--to", next.to_str().unwrap()]);
    assert!(out.contains("3 panes kept"), "{out}");

    // The same process, now the new binary; the same panes on the same processes.
    assert_eq!(sbx.server_pid(), server);
    assert_eq!(exe_of(server), next);
    assert_eq!(pids(&sbx), before_pids, "every pane keeps its process");
    let editor = sbx.panes().into_iter().find(|p| p["id"] == vim.as_str()).expect("vim's pane");
    assert_eq!(editor["label"], "editor");
    // Screens and scrollback as they were.
    assert_eq!(sbx.capture(&vim), vim_screen, "vim's screen");
    assert_eq!(sbx.ok(&["capture", "-t", &shell, "--scrollback", "1000"]), shell_text, "the shell's history");
    // Nothing the counter wrote was lost, not even during the hand-over: every tick from the
    // first, in order, and it goes on.
    let count = ticks(&sbx, &counter).len() as u64;
    let after = wait_for("ticks after the upgrade", || {
        let t = ticks(&sbx, &counter);
        (t.len() as u64 > count + 20).then_some(t)
    });
    assert_eq!(after, (0..after.len() as u64).collect::<Vec<_>>(), "ticks lost or out of order");

    // The attached client became the new binary by itself and drives the panes: what is
    // typed in tmux reaches the focused shell, and its screen shows in tmux.
    wait_for("the client to become the new binary", || (exe_of(client) == next).then_some(()));
    tmux.send("t", &["echo typed after the", " upgrade", "Enter"]);
    sbx.wait_capture(&shell, "typed after the upgrade");
    tmux.wait_screen("t", "typed after the upgrade");
    assert!(process_alive(client));

    // And the new server can hand over again (back to the first binary).
    let out = sbx.ok(&["upgrade", "--to", SBX]);
    assert!(out.contains("3 panes kept"), "{out}");
    assert_eq!(pids(&sbx), before_pids);
    assert_eq!(sbx.capture(&vim), vim_screen, "vim's screen, after a second upgrade");
}

#[test]
fn an_upgrade_to_what_cannot_take_over_is_refused_and_changes_nothing() {
    let sbx = Sbx::new();
    let pane = sbx.ok(&["new", "-d", "-s", "work"]).trim().to_string();
    sbx.shell(&pane, "echo still here");
    let server = sbx.server_pid();
    let exe = exe_of(server);
    let before = pids(&sbx);
    let text = sbx.home().join("notes.txt");
    std::fs::write(&text, "not a program\n").unwrap();
    let text = text.to_str().unwrap();
    let open_to_all = sbx.next_binary();
    std::fs::set_permissions(&open_to_all, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let open_to_all = open_to_all.to_str().unwrap();
    for (binary, said) in
        [("/bin/true", "not an sbx"), (text, "not an executable"), (open_to_all, "writable by other users")]
    {
        let out = sbx.run(&["upgrade", "--to", binary]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{binary}: {stderr}");
        assert!(stderr.contains("nothing changed"), "{binary}: {stderr}");
    }
    assert_eq!(exe_of(server), exe);
    assert_eq!(pids(&sbx), before);
    // The panes still read: the hold was never set, or was let go.
    sbx.shell(&pane, "echo and still reading");
}
