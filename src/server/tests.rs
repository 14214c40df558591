//! The server without sockets or PTYs: commands and a client's input handed to it as the loop
//! would, panes detached (their input recorded), the bridge real (its own thread and store).

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::*;
use crate::protocol::{AttachRequest, Command, NewSpec, PaneSpec, Reply, SplitDirection};

struct Lab {
    server: Server,
    recorders: model::Detached,
    _dir: tempfile::TempDir,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let paths =
        Paths { config: dir.path().join("config"), data: dir.path().join("data"), runtime: dir.path().join("run") };
    let config = Config::load(&paths.config);
    let (notices, _) = unbounded_channel();
    let bridge =
        crate::bridge::spawn(paths.data.clone(), paths.config.clone(), config.settings.bridge.clone(), notices);
    let (internal, _) = unbounded_channel();
    let (terminals, _) = unbounded_channel();
    let spawner = model::Detached::default();
    let recorders = model::Detached { recorders: spawner.recorders.clone() };
    let server =
        Server::new(config, dir.path().join("run/s.sock"), Box::new(spawner), bridge, paths, internal, terminals);
    Lab { server, recorders, _dir: dir }
}

impl Lab {
    /// Run a command as the loop does; its answer.
    fn command(&mut self, cmd: Command) -> ServerMsg {
        let (out, mut answers) = unbounded_channel();
        self.server.command(cmd, out, std::process::id());
        self.server.settle();
        answers.try_recv().expect("an answer at once")
    }

    fn ok(&mut self, cmd: Command) -> Reply {
        match self.command(cmd) {
            ServerMsg::Reply(r) => r,
            other => panic!("not a reply: {other:?}"),
        }
    }

    fn error(&mut self, cmd: Command) -> crate::protocol::Error {
        match self.command(cmd) {
            ServerMsg::Error(e) => e,
            other => panic!("not an error: {other:?}"),
        }
    }

    fn written(&self, pane: u32) -> String {
        let rec = self.recorders.recorders.borrow()[&pane].clone();
        let bytes = rec.written.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Attach client `id` of `cols`×`rows` to `session`; what it is sent.
    fn attach(&mut self, id: ClientId, session: &str, cols: u16, rows: u16) -> UnboundedReceiver<Vec<u8>> {
        let (out, _) = unbounded_channel();
        let (frames_tx, frames) = unbounded_channel();
        let req = AttachRequest {
            target: Some(session.into()),
            create: None,
            cols,
            rows,
            colors: Default::default(),
            read_only: false,
        };
        self.server.attach(id, req, front::terminal::Outlet::Channel(frames_tx), out);
        self.server.settle();
        frames
    }

    fn key(&mut self, id: ClientId, code: KeyCode, mods: KeyModifiers) {
        self.server.on_terminal(TerminalEvent::Input(id, vec![Event::Key(KeyEvent::new(code, mods))]));
        self.server.settle();
    }
}

fn shell(cwd: &std::path::Path) -> PaneSpec {
    PaneSpec { cwd: Some(cwd.to_path_buf()), command: vec!["sh".into()], ..Default::default() }
}

fn new_session(lab: &mut Lab, name: &str) -> u32 {
    let spec = NewSpec {
        name: Some(name.into()),
        pane: shell(&std::env::temp_dir()),
        cols: 100,
        rows: 30,
        ..Default::default()
    };
    match lab.ok(Command::New(spec)) {
        Reply::Created { pane, .. } => pane.trim_start_matches('%').parse().unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn commands_are_dispatched_and_answered() {
    let mut lab = lab();
    let a = new_session(&mut lab, "work");
    let pane = |id: u32| crate::pane::pane_name(id);
    let Reply::Pane(info) = lab.ok(Command::Split {
        target: Some(pane(a)),
        direction: SplitDirection::Right,
        pane: shell(&std::env::temp_dir()),
    }) else {
        panic!()
    };
    assert_eq!(info.session, "work");
    let Reply::List(list) = lab.ok(Command::List) else { panic!() };
    assert_eq!(list[0].tabs[0].panes.len(), 2);
    // Typed text, then named keys, then Enter: as keystrokes, never bracketed.
    lab.server.model.panes[&a].feed(b"\x1b[?2004h");
    let keys = vec!["C-c".to_string(), "Up".into()];
    lab.ok(Command::SendKeys { target: pane(a), text: "ls\nx".into(), keys, enter: true });
    assert_eq!(lab.written(a), "ls\rx\x03\x1b[A\r");
    // A bad key name sends nothing at all.
    let e =
        lab.error(Command::SendKeys { target: pane(a), text: "more".into(), keys: vec!["Nope".into()], enter: true });
    assert_eq!(e.code, "bad_key");
    assert_eq!(lab.written(a), "ls\rx\x03\x1b[A\r");
    lab.server.model.panes[&a].feed(b"hello from the pane\r\n");
    let Reply::Capture(lines) = lab.ok(Command::Capture { target: pane(a), scrollback: 0 }) else { panic!() };
    assert_eq!(lines[0], "hello from the pane");
    lab.ok(Command::Label { target: pane(a), label: "left".into() });
    assert_eq!(lab.error(Command::Label { target: info.id.clone(), label: "left".into() }).code, "label_taken");
    assert_eq!(lab.error(Command::Capture { target: "nope".into(), scrollback: 0 }).code, "unknown_target");
    // Agent commands on a pane that runs no agent.
    let (out, mut answers) = unbounded_channel();
    lab.server.command(Command::AgentWait { target: pane(a), until: "idle".into(), timeout_ms: 10 }, out, 1);
    let ServerMsg::Error(e) = answers.try_recv().unwrap() else { panic!() };
    assert_eq!(e.code, "not_an_agent");
    // Killing the session ends it; killing the server says so.
    lab.ok(Command::Kill { target: "work".into() });
    assert!(lab.server.model.sessions.is_empty() && lab.server.exiting, "the last session took the server");
}

#[test]
fn a_hook_from_another_process_is_refused() {
    let mut lab = lab();
    let a = new_session(&mut lab, "work");
    let hook = crate::protocol::HookEvent { event: "SessionStart".into(), ..Default::default() };
    // This test process is no pane's: the hook does not run in %a.
    let e = lab.error(Command::Hook { pane: Some(crate::pane::pane_name(a)), agent: "claude".into(), hook });
    assert_eq!(e.code, "identity_refused");
    assert!(lab.server.model.agents.is_empty(), "a refused hook makes no agent pane");
}

#[test]
fn a_client_sizes_its_session_types_into_its_pane_and_binds_keys() {
    let mut lab = lab();
    let a = new_session(&mut lab, "work");
    let mut frames = lab.attach(7, "work", 81, 25);
    // The tab area is the terminal less the status row; the pane loses a row to its title.
    assert_eq!(lab.server.model.panes[&a].size().cols, 81);
    assert_eq!(lab.server.model.panes[&a].size().rows, 23);
    lab.key(7, KeyCode::Char('x'), KeyModifiers::NONE);
    assert_eq!(lab.written(a), "x");
    // Prefix, then % (split right) — the default keymap's.
    lab.key(7, KeyCode::Char('b'), KeyModifiers::CONTROL);
    lab.key(7, KeyCode::Char('%'), KeyModifiers::NONE);
    let panes = lab.server.model.sessions[0].tab().layout.panes();
    assert_eq!(panes.len(), 2, "the binding split the pane");
    assert_eq!(lab.written(a), "x", "the prefix and the binding never reached the pane");
    // The client gets a frame once something is drawn.
    let shown = front::Shown { overview: &lab.server.bridge.overview, shared: &lab.server.share.view };
    lab.server.front.render_ready(&lab.server.model, &shown);
    let bytes = frames.try_recv().expect("a frame");
    assert!(String::from_utf8_lossy(&bytes).contains("work"), "the status line names the session");
    // A second, smaller client shrinks the session for both.
    let _small = lab.attach(8, "work", 61, 20);
    let total: u16 = panes.iter().map(|p| lab.server.model.panes[p].size().cols).sum();
    assert_eq!(total + 1, 61);
    // Detaching every client leaves the size it had.
    let Reply::Detached(n) = lab.ok(Command::Detach { target: Some("work".into()) }) else { panic!() };
    assert_eq!(n, 2);
    assert!(lab.server.front.clients.is_empty());
}
