//! Errors a user or script meets: clear message, the next command, the right exit code.

mod common;

use common::*;

#[test]
fn a_dead_server_says_how_to_start_one() {
    let sbx = Sbx::new();
    let out = sbx.run(&["ls"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no sbx server is running") && err.contains("sbx new -d"), "{err}");
    let out = sbx.run(&["ls", "--json"]);
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // One JSON error object: the reason as a stable code, the exit status, the next step.
    assert_eq!((body["code"].as_str(), body["exit"].as_u64()), (Some("no_server"), Some(1)), "{body}");
    assert_eq!(out.status.code(), Some(1));
    assert!(body["next"].as_str().unwrap().contains("sbx"));
}

#[test]
fn unknown_and_ambiguous_targets() {
    let sbx = Sbx::new();
    sbx.ok(&["new", "-d", "-s", "work"]);
    let out = sbx.run(&["capture", "-t", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sbx ls"));
    let out = sbx.run(&["kill", "-t", "%999"]);
    assert_eq!(out.status.code(), Some(1));

    // A label that is a session name is refused, so build the ambiguity the other way.
    let out = sbx.run(&["label", "-t", "work", "work"]);
    assert_eq!(out.status.code(), Some(1), "a label may not shadow a session");
    sbx.ok(&["label", "-t", "work", "agent"]);
    let out = sbx.run(&["new", "-d", "-s", "agent"]);
    assert_eq!(out.status.code(), Some(1), "a session may not shadow a label");
    assert_eq!(sbx.panes()[0]["label"], "agent");
    // Duplicate labels are refused.
    let pane = sbx.ok(&["split", "-t", "work", "--", "sleep", "100"]);
    let out = sbx.run(&["label", "-t", pane.trim(), "agent"]);
    assert_eq!(out.status.code(), Some(1));
    // Two tabs with the same name: naming the tab is ambiguous (exit 2, candidates listed).
    sbx.ok(&["new-tab", "-t", "work", "--", "sleep", "100"]);
    sbx.ok(&["new-tab", "-t", "work", "--", "sleep", "100"]);
    let out = sbx.run(&["capture", "-t", "work:sleep"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("work:2") && err.contains("work:3"), "{err}");
    sbx.ok(&["capture", "-t", "work:2"]);
}

#[test]
fn a_missing_directory_or_program_is_a_clear_error() {
    let sbx = Sbx::new();
    let out = sbx.run(&["new", "-d", "-c", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
    let out = sbx.run(&["new", "-d", "--", "/no/such/program-xyz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("program-xyz"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_broken_config_is_reported_and_sbx_still_starts() {
    let sbx = Sbx::new();
    let config = sbx.home().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("keymap.toml"), "[prefix_keys]\n\"d\" = \"launch-rockets\"\n").unwrap();
    std::fs::write(config.join("theme.toml"), "[colors]\nborder = \"#zzzzzz\"\n").unwrap();
    let out = sbx.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("launch-rockets") && err.contains("#zzzzzz"), "{err}");

    let tmux = Tmux::new("badcfg");
    tmux.start("outer", 160, 30, &format!("{} {}", sbx.env_prefix(), SBX));
    tmux.wait_screen("outer", "config: 2 problems ignored, presets used; see `sbx config check`");
    // The preset still works: C-b d detaches.
    tmux.send("outer", &["C-b", "d"]);
    tmux.wait_screen("outer", "[detached]");
}

#[test]
fn the_socket_is_private_and_refuses_other_users() {
    let sbx = Sbx::new();
    sbx.ok(&["new", "-d"]);
    let run = sbx.home().join("run");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&run).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let sock = run.join("default.sock");
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);

    // Only root can pretend to be someone else; skip the rest elsewhere.
    if unsafe { libc::getuid() } != 0 {
        return;
    }
    // Open the folder and socket up, as a misconfiguration would, and connect as nobody:
    // the peer-uid check must still refuse.
    std::fs::set_permissions(sbx.home(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    let nobody = |program: &str, args: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", program])
            .args(args)
            .env("SBX_SOCKET", &sock)
            .env("SBX_HOME", "/tmp/sbx-nobody-home")
            .output()
            .unwrap()
    };
    // The sbx client refuses a socket that is not its user's.
    let out = nobody(SBX, &["ls"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not to you"), "{err}");
    // A hand-made client gets past that; the server's peer-uid check refuses it. The child
    // becomes nobody, sends a hello frame and exits 0 only if it reads the refusal.
    let mut stream_path = sock.clone().into_os_string().into_encoded_bytes();
    stream_path.push(0);
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                libc::_exit(3);
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let mut addr: libc::sockaddr_un = std::mem::zeroed();
            addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (i, b) in stream_path.iter().enumerate() {
                addr.sun_path[i] = *b as libc::c_char;
            }
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            if libc::connect(fd, &addr as *const _ as *const libc::sockaddr, len) != 0 {
                libc::_exit(4);
            }
            let hello = [0u8, 0, 0, 1, 1];
            libc::write(fd, hello.as_ptr() as *const libc::c_void, hello.len());
            let mut buf = [0u8; 512];
            let mut got = 0usize;
            loop {
                let n = libc::read(fd, buf[got..].as_mut_ptr() as *mut libc::c_void, buf.len() - got);
                if n <= 0 {
                    break;
                }
                got += n as usize;
            }
            let needle = b"belongs to another user";
            let found = buf[..got].windows(needle.len()).any(|w| w == needle);
            libc::_exit(if found { 0 } else { 1 });
        }
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the server did not refuse: {status}");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn closing_a_pane_hangs_up_its_processes() {
    let sbx = Sbx::new();
    sbx.ok(&["new", "-d", "-s", "hup"]);
    let pane = sbx.ok(&["split", "-t", "hup", "--", "bash", "-c", "sleep 8888 & echo bg=$!; wait"]);
    let pane = pane.trim();
    let text = sbx.wait_capture(pane, "bg=");
    let bg: u32 = text.split("bg=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let shell = sbx.panes().iter().find(|p| p["id"] == pane).unwrap()["pid"].as_u64().unwrap() as u32;
    assert!(process_alive(bg) && process_alive(shell));
    sbx.ok(&["kill", "-t", pane]);
    wait_for("the pane's processes to end", || (!process_alive(bg) && !process_alive(shell)).then_some(()));
    assert_eq!(sbx.panes().len(), 1);
}

#[test]
fn a_client_of_another_protocol_version_is_told_to_restart() {
    use std::io::{Read, Write};
    let sbx = Sbx::new();
    sbx.ok(&["new", "-d"]);
    let mut stream = std::os::unix::net::UnixStream::connect(sbx.home().join("run/default.sock")).unwrap();
    // Hello { version: 999 }: a u32 length, then postcard's varint 999.
    stream.write_all(&[0, 0, 0, 2, 0xe7, 0x07]).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.contains("speaks protocol") && reply.contains("sbx kill-server"), "{reply}");
    // A garbage frame closes that connection only; the server goes on.
    let mut stream = std::os::unix::net::UnixStream::connect(sbx.home().join("run/default.sock")).unwrap();
    stream.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
    let _ = stream.read_to_end(&mut Vec::new());
    sbx.ok(&["ls"]);
}
