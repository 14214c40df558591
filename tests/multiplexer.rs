//! The multiplexer end to end: the real binary inside tmux as the user's terminal.

mod common;

use common::*;

fn start_attached(sbx: &Sbx, tmux: &Tmux, cols: u16, rows: u16) {
    tmux.start("outer", cols, rows, &format!("{} {}", sbx.env_prefix(), SBX));
    // The status line shows once the client is attached and drawn.
    tmux.wait_screen("outer", "C-b ? help");
}

#[test]
fn split_and_type_in_two_panes() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("split");
    start_attached(&sbx, &tmux, 120, 40);

    tmux.send("outer", &["echo left-$((20+22))", "Enter"]);
    tmux.wait_screen("outer", "left-42");
    tmux.send("outer", &["C-b", "%"]);
    wait_for("a second pane", || (sbx.panes().len() == 2).then_some(()));
    tmux.send("outer", &["echo right-$((50+5))", "Enter"]);
    let screen = tmux.wait_screen("outer", "right-55");
    assert!(screen.contains("left-42"), "the first pane is still shown:\n{screen}");

    let panes = sbx.panes();
    let (left, right) = (panes[0]["id"].as_str().unwrap(), panes[1]["id"].as_str().unwrap());
    assert!(sbx.capture(left).contains("left-42"));
    assert!(!sbx.capture(left).contains("right-55"), "typing went to the focused pane only");
    assert!(sbx.capture(right).contains("right-55"));
    // Side by side: the two panes split the width, less one separator column.
    let (lw, rw) = (panes[0]["cols"].as_u64().unwrap(), panes[1]["cols"].as_u64().unwrap());
    assert_eq!(lw + rw + 1, 120, "{panes:?}");

    // Focus back left with the keys, and the text goes there.
    tmux.send("outer", &["C-b", "Left"]);
    wait_for("focus moves left", || sbx.panes()[0]["active"].as_bool().unwrap().then_some(()));
    tmux.send("outer", &["echo again-$((1+1))", "Enter"]);
    sbx.wait_capture(left, "again-2");
}

#[test]
fn panes_survive_a_killed_client_and_a_closed_terminal() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("survive");
    start_attached(&sbx, &tmux, 100, 30);
    tmux.send("outer", &["sleep 7777 & echo bg=$! shell=$$", "Enter"]);
    // Wait for the output line, not the typed command (which says "shell=$$").
    let screen = wait_for("the pids", || {
        let s = tmux.capture("outer");
        s.rfind("shell=").and_then(|i| s[i + 6..].starts_with(|c: char| c.is_ascii_digit()).then_some(s.clone()))
    });
    let grab = |key: &str| -> u32 {
        let at = screen.rfind(key).unwrap() + key.len();
        screen[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    let (bg, shell) = (grab("bg="), grab("shell="));
    tmux.send("outer", &["echo marker-$((6*7))", "Enter"]);
    tmux.wait_screen("outer", "marker-42");

    // SIGKILL the client (it cannot clean up), then close the whole terminal.
    let client = tmux.program_pid("outer");
    unsafe { libc::kill(client as i32, libc::SIGKILL) };
    wait_for("the client to die", || (!process_alive(client)).then_some(()));
    tmux.ok(&["kill-server"]);

    assert!(process_alive(shell), "the pane's shell survived");
    assert!(process_alive(bg), "the shell's background job survived");
    assert_eq!(sbx.ls()[0]["clients"], 0);

    let tmux2 = Tmux::new("survive2");
    tmux2.start("again", 100, 30, &format!("{} {} attach", sbx.env_prefix(), SBX));
    let screen = tmux2.wait_screen("again", "marker-42");
    assert!(screen.contains("shell="), "{screen}");
    tmux2.send("again", &["echo still-$((2*3))", "Enter"]);
    tmux2.wait_screen("again", "still-6");
    unsafe { libc::kill(bg as i32, libc::SIGKILL) };
}

/// The client hands its terminal to the server, which reads the keys and writes the frames
/// itself (one process between a keystroke and its echo, as with tmux): with the client
/// stopped, typing still works. Once it detaches, the shell has its terminal back as it was.
#[test]
fn the_server_drives_the_terminal_the_client_handed_over() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("handover");
    // A shell to come back to after the client.
    tmux.start("outer", 100, 30, &format!("{} {}; exec sh", sbx.env_prefix(), SBX));
    tmux.wait_screen("outer", "C-b ? help");
    let client = tmux.program_pid("outer");
    unsafe { libc::kill(client as i32, libc::SIGSTOP) };
    tmux.send("outer", &["echo typed-while-stopped-$((40+2))", "Enter"]);
    tmux.wait_screen("outer", "typed-while-stopped-42");
    unsafe { libc::kill(client as i32, libc::SIGCONT) };

    // A pane started now does not inherit the user's terminal from the server.
    let outer_tty = tmux.ok(&["display-message", "-p", "-t", "outer", "#{pane_tty}"]).trim().to_string();
    tmux.send("outer", &["C-b", "%"]);
    wait_for("a second pane", || (sbx.panes().len() == 2).then_some(()));
    let fds = format!("echo inherited=$(ls -l /proc/$$/fd | grep -c '{outer_tty}$')");
    tmux.send("outer", &[&fds, "Enter"]);
    tmux.wait_screen("outer", "inherited=0");

    tmux.send("outer", &["C-b", "d"]);
    tmux.wait_screen("outer", "[detached]");
    wait_for("the client to exit", || (!process_alive(client)).then_some(()));
    // The outer shell reads its terminal again, and in blocking mode.
    let check = "import os,fcntl; print('blocking' if not fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK else 'nonblocking', 6*7)";
    tmux.send("outer", &[&format!("python3 -c \"{check}\""), "Enter"]);
    let screen = tmux.wait_screen("outer", " 42");
    assert!(screen.contains("blocking 42") && !screen.contains("nonblocking 42"), "{screen}");
    assert_eq!(sbx.ls()[0]["clients"], 0);
}

#[test]
fn two_clients_share_a_session() {
    let sbx = Sbx::new();
    sbx.ok(&["new", "-d", "-s", "shared", "--size", "100x30"]);
    let tmux = Tmux::new("two");
    tmux.start("a", 100, 30, &format!("{} {} attach -t shared", sbx.env_prefix(), SBX));
    tmux.start("b", 90, 26, &format!("{} {} attach -t shared", sbx.env_prefix(), SBX));
    tmux.wait_screen("a", "C-b ? help");
    tmux.wait_screen("b", "C-b ? help");
    wait_for("two clients", || (sbx.ls()[0]["clients"] == 2).then_some(()));

    tmux.send("a", &["echo from-a-$((3+4))", "Enter"]);
    tmux.wait_screen("b", "from-a-7");
    tmux.send("b", &["echo from-b-$((4+4))", "Enter"]);
    tmux.wait_screen("a", "from-b-8");

    // Sizes reconcile to the smaller client: 90 columns; 26 rows less status and title.
    let pane = &sbx.panes()[0];
    assert_eq!((pane["cols"].as_u64(), pane["rows"].as_u64()), (Some(90), Some(24)), "{pane}");
    // The larger client shows the smaller layout and fills the rest.
    let a = tmux.capture("a");
    assert!(a.contains('·'), "filler beyond the shared area:\n{a}");
}

#[test]
fn resize_follows_the_terminal() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("resize");
    start_attached(&sbx, &tmux, 100, 30);
    tmux.ok(&["resize-window", "-t", "outer", "-x", "130", "-y", "40"]);
    wait_for("the pane to grow", || {
        let p = &sbx.panes()[0];
        (p["cols"] == 130 && p["rows"] == 38).then_some(())
    });
    tmux.send("outer", &["stty size", "Enter"]);
    tmux.wait_screen("outer", "38 130");
    tmux.ok(&["resize-window", "-t", "outer", "-x", "70", "-y", "20"]);
    wait_for("the pane to shrink", || {
        let p = &sbx.panes()[0];
        (p["cols"] == 70 && p["rows"] == 18).then_some(())
    });
}

#[test]
fn a_flood_of_random_bytes_leaves_the_server_responsive() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("flood");
    let pane = sbx.ok(&[
        "new",
        "-d",
        "--size",
        "120x40",
        "--",
        "bash",
        "-c",
        "stty -echo; head -c 10000000 /dev/urandom; printf '\\033c'; echo flood-done; exec sleep 3600",
    ]);
    let pane = pane.trim().to_string();
    // An attached client makes the server render through the flood too.
    tmux.start("outer", 120, 40, &format!("{} {} attach", sbx.env_prefix(), SBX));
    sbx.wait_capture(&pane, "flood-done");
    // Still answering, and still creating panes.
    let split = sbx.ok(&["split", "-t", &pane, "--", "bash", "-c", "echo split-ok; exec sleep 3600"]);
    sbx.wait_capture(split.trim(), "split-ok");
    assert_eq!(sbx.panes().len(), 2);
}

#[test]
fn copy_mode_search_and_scrollback() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("copy");
    start_attached(&sbx, &tmux, 100, 20);
    tmux.send("outer", &["for i in $(seq 1 300); do echo line-$i; done", "Enter"]);
    tmux.wait_screen("outer", "line-300");
    let pane = sbx.panes()[0]["id"].as_str().unwrap().to_string();
    let history = sbx.ok(&["capture", "-t", &pane, "--scrollback", "1000"]);
    assert!(history.contains("line-1\n"), "history holds the first line");
    // Copy mode: search back for an old line; the view scrolls to it.
    tmux.send("outer", &["C-b", "["]);
    tmux.wait_screen("outer", "COPY");
    tmux.send("outer", &["?", "line-42", "Enter"]);
    tmux.wait_screen("outer", "line-42\n");
    let screen = tmux.capture("outer");
    assert!(!screen.contains("line-300"), "scrolled away from the bottom:\n{screen}");
    tmux.send("outer", &["q"]);
    tmux.wait_screen("outer", "line-300");
}

#[test]
fn help_lists_the_bindings_and_the_sidebar_lists_panes() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("help");
    start_attached(&sbx, &tmux, 120, 40);
    tmux.send("outer", &["C-b", "?"]);
    tmux.wait_screen("outer", "split the pane, new pane on the right");
    // More bindings than rows: the rest is a page down.
    wait_for("the detach binding, paging down", || {
        let screen = tmux.capture("outer");
        if screen.contains("detach this client") {
            return Some(());
        }
        tmux.send("outer", &["Space"]);
        None
    });
    tmux.send("outer", &["q"]);
    tmux.send("outer", &["C-b", "s"]);
    // A frame can reach the terminal in more than one write: wait for all of it.
    wait_for("the sidebar with sessions, inbox, friends and the pane", || {
        let screen = tmux.capture("outer");
        ["Sessions", "Inbox", "Friends", "%1"].iter().all(|w| screen.contains(w)).then_some(())
    });
}

#[test]
fn detach_by_chord_and_by_command() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("detach");
    start_attached(&sbx, &tmux, 100, 30);
    tmux.send("outer", &["C-b", "d"]);
    tmux.wait_screen("outer", "[detached]");
    assert_eq!(sbx.ls()[0]["clients"], 0);
    tmux.start("again", 100, 30, &format!("{} {} attach", sbx.env_prefix(), SBX));
    wait_for("reattached", || (sbx.ls()[0]["clients"] == 1).then_some(()));
    let out = sbx.ok(&["detach", "--json"]);
    assert!(out.contains("\"detached\": 1"), "{out}");
    tmux.wait_screen("again", "[detached]");
    assert_eq!(sbx.ls()[0]["clients"], 0);
}

#[test]
fn mouse_focuses_drags_borders_and_zoom_fills_the_tab() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("mouse");
    start_attached(&sbx, &tmux, 100, 30);
    tmux.send("outer", &["C-b", "%"]);
    wait_for("two panes", || (sbx.panes().len() == 2).then_some(()));
    assert_eq!(sbx.panes()[1]["active"], true);
    // A click (SGR mouse from the outer terminal) in the left pane focuses it.
    tmux.ok(&["send-keys", "-t", "outer", "-l", "\x1b[<0;10;10M\x1b[<0;10;10m"]);
    wait_for("click focus", || (sbx.panes()[0]["active"] == true).then_some(()));
    // Drag the border (column 51, 1-based) to column 30.
    tmux.ok(&["send-keys", "-t", "outer", "-l", "\x1b[<0;51;10M\x1b[<32;30;10M\x1b[<0;30;10m"]);
    wait_for("the border to move", || {
        let p = sbx.panes();
        (p[0]["cols"] == 29 && p[1]["cols"] == 70).then_some(())
    });
    // Zoom: the focused pane takes the whole tab; again: back to the split.
    tmux.send("outer", &["C-b", "z"]);
    wait_for("zoom", || (sbx.panes()[0]["cols"] == 100).then_some(()));
    tmux.wait_screen("outer", "[zoom]");
    tmux.send("outer", &["C-b", "z"]);
    wait_for("unzoom", || (sbx.panes()[0]["cols"] == 29).then_some(()));
}

#[test]
fn paste_and_mouse_reach_a_program_that_asked_for_them() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("modes");
    start_attached(&sbx, &tmux, 100, 30);
    let pane = sbx.panes()[0]["id"].as_str().unwrap().to_string();
    // The program turns on bracketed paste and SGR mouse reporting, then shows what arrives.
    tmux.send("outer", &["printf '\\033[?2004h\\033[?1000h\\033[?1006h'; stty -icanon; cat -v", "Enter"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    tmux.ok(&["send-keys", "-t", "outer", "-l", "\x1b[200~pasted-text\x1b[201~"]);
    sbx.wait_capture(&pane, "^[[200~pasted-text^[[201~");
    // A click at outer (20, 10) is pane cell (20, 9): row 1 is the pane's title bar.
    tmux.ok(&["send-keys", "-t", "outer", "-l", "\x1b[<0;20;10M"]);
    sbx.wait_capture(&pane, "^[[<0;20;9M");
    tmux.send("outer", &["C-c"]);
}

#[test]
fn copy_mode_copies_to_the_client_clipboard_with_osc52() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("osc52");
    // The outer tmux stores what an application copies with OSC 52 in its paste buffer.
    tmux.start("outer", 100, 20, &format!("{} {}", sbx.env_prefix(), SBX));
    tmux.ok(&["set-option", "-s", "set-clipboard", "on"]);
    tmux.wait_screen("outer", "C-b ? help");
    tmux.send("outer", &["clear; echo copy-me-$((40+2))", "Enter"]);
    tmux.wait_screen("outer", "copy-me-42");
    tmux.send("outer", &["C-b", "["]);
    tmux.wait_screen("outer", "COPY");
    // Search back to the output line, select to its end, copy.
    tmux.send("outer", &["?", "copy-me-4", "Enter"]);
    tmux.send("outer", &["v", "$", "y"]);
    tmux.wait_screen("outer", "copied 10 characters");
    let buffer = wait_for("the outer terminal's clipboard", || {
        let out = tmux.cmd(&["show-buffer"]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(buffer, "copy-me-42");
}

#[test]
fn scrollback_follows_the_config() {
    let sbx = Sbx::new();
    let config = sbx.home().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "scrollback = 50\n").unwrap();
    let pane =
        sbx.ok(&["new", "-d", "--size", "80x24", "--", "bash", "-c", "seq 1 500; echo seq-done; exec sleep 3600"]);
    let pane = pane.trim();
    sbx.wait_capture(pane, "seq-done");
    let out = sbx.ok(&["capture", "-t", pane, "--scrollback", "100000", "--json"]);
    let lines: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lines: Vec<&str> = lines["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    // 50 lines of history above a 22-row screen, ending with the newest output.
    assert_eq!(lines.len(), 50 + 22, "{lines:?}");
    // The screen holds 481..500, seq-done and the empty line under it; history 431..480.
    assert_eq!(lines[0], "431");
    assert!(lines.contains(&"seq-done"));
}

#[test]
fn a_program_copying_with_osc52_reaches_the_client_clipboard() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("osc52child");
    tmux.start("outer", 100, 20, &format!("{} {}", sbx.env_prefix(), SBX));
    tmux.ok(&["set-option", "-s", "set-clipboard", "on"]);
    tmux.wait_screen("outer", "C-b ? help");
    // base64("from-the-child") = ZnJvbS10aGUtY2hpbGQ=
    tmux.send("outer", &["printf '\\033]52;c;ZnJvbS10aGUtY2hpbGQ=\\a'", "Enter"]);
    let buffer = wait_for("the outer terminal's clipboard", || {
        let out = tmux.cmd(&["show-buffer"]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(buffer, "from-the-child");
}

#[test]
fn the_mouse_wheel_scrolls_the_history() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("wheel");
    start_attached(&sbx, &tmux, 100, 20);
    tmux.send("outer", &["seq 1 200", "Enter"]);
    // The last line of output alone: "200\n" would match the command line as it is echoed,
    // and a wheel during the output scrolls with it (what is read stays in place).
    tmux.wait_screen("outer", "\n200\n");
    // Two wheel-ups over the pane (3 lines each): copy mode, six lines up.
    tmux.ok(&["send-keys", "-t", "outer", "-l", "\x1b[<64;10;5M\x1b[<64;10;5M"]);
    // A frame can reach the terminal in more than one write: wait for all of it.
    let start = std::time::Instant::now();
    loop {
        let screen = tmux.capture("outer");
        if screen.contains("[copy 6/") && screen.contains("COPY") && !screen.contains("\n200\n") {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "copy mode six lines up never showed; the screen:\n{screen}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Wheel down to the bottom leaves copy mode.
    tmux.ok(&["send-keys", "-t", "outer", "-l", "\x1b[<65;10;5M\x1b[<65;10;5M"]);
    wait_for("back at the bottom", || (!tmux.capture("outer").contains("COPY")).then_some(()));
}

#[test]
fn programs_read_the_colours_of_the_users_terminal_and_those_they_set() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("colours");
    // The user's terminal has a light background (tmux answers OSC 10/11 with its window
    // style), set before sbx's client starts and asks.
    tmux.start("boot", 20, 5, "true");
    tmux.ok(&["set-option", "-g", "window-style", "bg=#fafafa,fg=#202020"]);
    start_attached(&sbx, &tmux, 120, 30);
    let pane = sbx.panes()[0]["id"].as_str().unwrap().to_string();
    let query = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/terminal_query.py");
    let query = query.display();

    // A theme picker asks for the background: it is told the light one, not black.
    sbx.shell(&pane, &format!("python3 {query} '\\e]11;?\\a' '\\e]10;?\\a'"));
    let screen = sbx.capture(&pane);
    assert!(screen.contains("ANSWER:ESC]11;rgb:fafa/fafa/fafaBELESC]10;rgb:2020/2020/2020BEL"), "{screen}");

    // A colour the program set is what it reads back.
    sbx.shell(&pane, "clear");
    sbx.shell(&pane, &format!("python3 {query} '\\e]10;rgb:f0/f0/f0\\a' '\\e]10;?\\a'"));
    let screen = sbx.capture(&pane);
    assert!(screen.contains("ANSWER:ESC]10;rgb:f0f0/f0f0/f0f0BEL"), "{screen}");
}

#[test]
fn a_client_that_cannot_keep_up_gets_frames_at_its_pace_not_the_whole_output() {
    use portable_pty::{native_pty_system, CommandBuilder, PtySize};
    use std::io::Read;

    let (cols, rows) = (200, 60);
    let sbx = Sbx::new();
    sbx.ok(&["new", "-d", "-s", "slow", "--size", &format!("{cols}x{rows}")]);
    let pane = sbx.panes()[0]["id"].as_str().unwrap().to_string();
    // The user's terminal: a PTY that nobody reads for now, as a terminal stuck behind a slow
    // link would be.
    let pty = native_pty_system().openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut attach = CommandBuilder::new(SBX);
    attach.args(["attach", "-t", "slow"]);
    attach.env("SBX_HOME", sbx.home());
    attach.env("HOME", sbx.home());
    attach.env_remove("SBX_SOCKET");
    attach.env_remove("SBX_PANE_ID");
    let mut client = pty.slave.spawn_command(attach).unwrap();
    wait_for("the client to attach", || (sbx.ls()[0]["clients"].as_u64() == Some(1)).then_some(()));

    // Output that changes the whole screen many times a second for several seconds (every
    // frame would be a new full screen), while the client's terminal takes nothing.
    let flood = sbx.home().join("flood.py");
    std::fs::write(
        &flood,
        "import time\nfor i in range(5000):\n    print(f'{i:08d} ' + 'abcdefghij' * 19, flush=True)\n    time.sleep(0.002)\n",
    )
    .unwrap();
    sbx.shell(&pane, &format!("python3 {}", flood.display()));
    assert!(sbx.capture(&pane).contains("00004999 abcdefghij"), "the flood ran");

    // The terminal comes back: the client catches up with the screen as it is now.
    let mut reader = pty.master.try_clone_reader().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    wait_for("the client to show the end of the flood", || {
        seen.extend(rx.try_iter().flatten());
        // The marker `sbx shell` waited for ("DONE-n.") is on the final screen.
        String::from_utf8_lossy(&seen).contains("DONE-").then_some(())
    });
    // Everything the terminal was sent since it stopped reading: what its buffer took
    // before it filled (a PTY holds a few KiB to 64 KiB), the first frame, and the frame
    // that catches up. Frames made at the output's pace instead, ~12 KB each, come to
    // more than a megabyte here.
    let total = seen.len();
    assert!(
        total < 500_000,
        "a stuck terminal was sent {total} bytes once it read again: frames must wait for it, not pile up"
    );
    client.kill().unwrap();
}

/// `sbx reload` rereads keymap.toml with the panes alive: a new binding works at once; a
/// broken file afterwards keeps the bindings it would have replaced and says what it ignored.
#[test]
fn reload_applies_a_new_keymap_and_a_broken_one_keeps_the_old() {
    let sbx = Sbx::new();
    let tmux = Tmux::new("reload");
    start_attached(&sbx, &tmux, 120, 40);
    let shell = sbx.panes()[0]["pid"].as_u64().unwrap();
    let config = sbx.home().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("keymap.toml"), "[prefix_keys]\n\"y\" = \"split-right\"\n").unwrap();
    let out = sbx.ok(&["reload"]);
    assert!(out.contains("reloaded"), "{out}");
    tmux.send("outer", &["C-b", "y"]);
    wait_for("the new binding to split", || (sbx.panes().len() == 2).then_some(()));
    assert_eq!(sbx.panes()[0]["pid"].as_u64(), Some(shell), "the pane lived through the reload");

    std::fs::write(config.join("keymap.toml"), "[prefix_keys]\n\"y\" = \"fly\"\n").unwrap();
    let out = sbx.run(&["reload"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("keymap.toml") && said.contains("fly"), "{said}");
    tmux.send("outer", &["C-b", "y"]);
    wait_for("the kept binding to split again", || (sbx.panes().len() == 3).then_some(()));
    // The chord reloads too, and says so.
    std::fs::write(config.join("keymap.toml"), "[prefix_keys]\n\"y\" = \"none\"\n").unwrap();
    tmux.send("outer", &["C-b", "r"]);
    tmux.wait_screen("outer", "config reloaded");
    tmux.send("outer", &["C-b", "y"]);
    tmux.send("outer", &["C-b", "%"]);
    // Keys are handled in order: once this line has run, so have the two chords.
    tmux.send("outer", &["echo synced-$((40+2))", "Enter"]);
    tmux.wait_screen("outer", "synced-42");
    assert_eq!(sbx.panes().len(), 4, "y is unbound now, % still splits");
}
