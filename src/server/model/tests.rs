//! The model without an OS: panes are detached (no child, no PTY), fed output by hand, and
//! what sbx writes to them is recorded.

use std::path::PathBuf;

use super::*;
use crate::agents::AgentState;
use crate::protocol::{HookEvent, LayoutPreset, NewSpec, PaneSpec, SplitDirection};

fn model() -> (Model, Detached) {
    let spawner = Detached::default();
    let recorders = Detached { recorders: spawner.recorders.clone() };
    let config = Config::load(std::path::Path::new("/nonexistent/sbx-test-config"));
    (Model::new(config, PathBuf::from("/tmp/test.sock"), Box::new(spawner)), recorders)
}

fn here() -> Option<PathBuf> {
    Some(std::env::temp_dir())
}

fn new(m: &mut Model, name: &str) -> PaneId {
    let spec = NewSpec {
        name: Some(name.into()),
        pane: PaneSpec { cwd: here(), ..Default::default() },
        cols: 120,
        rows: 40,
        ..Default::default()
    };
    m.create_session(spec).unwrap().1
}

fn split(m: &mut Model, from: PaneId, dir: SplitDirection) -> PaneId {
    m.split(Some(from), dir, PaneSpec { cwd: here(), ..Default::default() }).unwrap()
}

fn written(d: &Detached, pane: PaneId) -> String {
    let rec = d.recorders.borrow()[&pane].clone();
    let bytes = rec.written.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn targets_name_sessions_tabs_panes_and_labels_or_say_why_not() {
    let (mut m, _) = model();
    let first = new(&mut m, "work");
    let tab2 = m.new_tab(0, PaneSpec { cwd: here(), label: Some("docs".into()), ..Default::default() }).unwrap();
    m.sessions[0].tabs[1].name = "edit".into();
    assert_eq!(m.resolve("work").unwrap(), Target::Session(0));
    assert_eq!(m.resolve("work:2").unwrap(), Target::Tab(0, 1));
    assert_eq!(m.resolve("work:edit").unwrap(), Target::Tab(0, 1));
    assert_eq!(m.resolve(&crate::pane::pane_name(first)).unwrap(), Target::Pane(first));
    assert_eq!(m.resolve("docs").unwrap(), Target::Pane(tab2));
    assert_eq!(m.resolve_pane("work").unwrap(), tab2, "a session means its active tab's active pane");
    let e = m.resolve("nope").unwrap_err();
    assert_eq!((e.code.as_str(), e.exit), ("unknown_target", 1));
    assert_eq!(m.resolve("%99").unwrap_err().code, "unknown_target");
    // Two tabs of one name: a choice, with the numbers to choose by.
    m.sessions[0].tabs[0].name = "edit".into();
    let e = m.resolve("work:edit").unwrap_err();
    assert_eq!((e.code.as_str(), e.exit), ("ambiguous", 2));
    assert!(e.next.unwrap().contains("-t work:1 or -t work:2"));
    // A label may not be a session name, nor taken twice, nor a name outside sbx has.
    assert_eq!(m.set_label(first, Some("work".into()), &[]).unwrap_err().code, "name_taken");
    assert_eq!(m.set_label(first, Some("docs".into()), &[]).unwrap_err().code, "label_taken");
    assert_eq!(m.set_label(first, Some("ext".into()), &["ext".into()]).unwrap_err().code, "label_taken");
    assert_eq!(m.set_label(first, Some("%x".into()), &[]).unwrap_err().code, "bad_name");
    m.set_label(first, Some("main-pane".into()), &[]).unwrap();
    assert!(m.take_changes().panes, "the bridge hears of labels");
}

#[test]
fn splits_closes_and_the_geometry_of_a_tab() {
    let (mut m, _) = model();
    let a = new(&mut m, "work");
    let b = split(&mut m, a, SplitDirection::Right);
    let c = split(&mut m, b, SplitDirection::Down);
    let changes = m.take_changes();
    assert!(changes.reshaped.contains("work") && changes.panes);
    assert_eq!(m.sessions[0].tab().active, c, "the new pane is focused");
    m.apply_area("work", (101, 40));
    let (wa, wb, wc) = (m.panes[&a].size(), m.panes[&b].size(), m.panes[&c].size());
    assert_eq!(wa.cols + wb.cols + 1, 101, "side by side, one separator column");
    assert_eq!(wb.cols, wc.cols);
    // Each pane loses a row to its title bar; stacked panes share the height.
    assert_eq!(wb.rows + wc.rows + 2, 40);
    m.close_pane(c);
    let changes = m.take_changes();
    assert_eq!(changes.removed, vec![c]);
    assert!(changes.reshaped.contains("work") && !changes.empty);
    assert_eq!(m.sessions[0].tab().layout.panes(), vec![a, b], "the sibling takes the split's place");
    assert_eq!(m.sessions[0].tab().active, a, "focus moves to a pane still there");
    // The last pane of the last tab ends the session, and with it the server.
    m.close_pane(a);
    m.close_pane(b);
    let changes = m.take_changes();
    assert_eq!(changes.ended, vec!["work".to_string()]);
    assert!(changes.empty && m.sessions.is_empty() && m.panes.is_empty());
}

#[test]
fn new_sessions_take_fresh_names_and_refuse_taken_ones() {
    let (mut m, _) = model();
    let spec = |name: Option<&str>| NewSpec {
        name: name.map(Into::into),
        pane: PaneSpec { cwd: here(), ..Default::default() },
        ..Default::default()
    };
    assert_eq!(m.create_session(spec(None)).unwrap().0, "main");
    assert_eq!(m.create_session(spec(None)).unwrap().0, "2");
    assert_eq!(m.create_session(spec(Some("main"))).unwrap_err().code, "name_taken");
    assert_eq!(m.create_session(spec(Some("a b"))).unwrap_err().code, "bad_name");
    let missing = NewSpec { pane: PaneSpec { cwd: Some("/no/such/dir".into()), ..Default::default() }, ..spec(None) };
    assert_eq!(m.create_session(missing).unwrap_err().code, "not_a_directory");
    // A terminal of any size gives a session at most what sbx draws.
    let huge = NewSpec { cols: 65535, rows: 65535, ..spec(Some("huge")) };
    m.create_session(huge).unwrap();
    assert_eq!(m.sessions[2].detached_size.0, crate::pane::engine::MAX_COLS);
    assert_eq!(m.default_session(), Some(2), "the newest is the one used last");
}

#[test]
fn focus_moves_and_the_panes_hear_it_when_they_asked() {
    let (mut m, d) = model();
    let a = new(&mut m, "work");
    let b = split(&mut m, a, SplitDirection::Right);
    // Both programs ask for focus events (?1004).
    m.panes[&a].feed(b"\x1b[?1004h");
    m.panes[&b].feed(b"\x1b[?1004h");
    m.focus_pane(a);
    assert_eq!(m.sessions[0].tab().active, a);
    assert!(written(&d, a).ends_with("\x1b[I") && written(&d, b).ends_with("\x1b[O"));
    assert!(m.take_changes().redraw.contains("work"));
    m.focus_pane(a);
    assert!(m.take_changes().redraw.is_empty(), "focusing the focused pane changes nothing");
}

fn hook(m: &mut Model, pane: PaneId, event: &str, session: Option<&str>) -> Option<String> {
    let h = HookEvent { event: event.into(), session_id: session.map(Into::into), ..Default::default() };
    m.on_hook(pane, "claude", h, std::process::id())
}

#[test]
fn a_finished_turn_is_done_until_looked_at_and_the_needy_come_waiting_first_then_oldest() {
    let (mut m, _) = model();
    let (a, b, c) = (new(&mut m, "a"), new(&mut m, "b"), new(&mut m, "c"));
    for p in [a, b, c] {
        hook(&mut m, p, "SessionStart", None);
        hook(&mut m, p, "UserPromptSubmit", None);
    }
    m.take_changes();
    hook(&mut m, a, "Stop", None);
    hook(&mut m, b, "Stop", None);
    let waiting = HookEvent { event: "PermissionRequest".into(), tool_name: Some("Bash".into()), ..Default::default() };
    m.on_hook(c, "claude", waiting, std::process::id());
    let events: Vec<_> = m.take_changes().attention.iter().map(|x| (x.pane, x.event)).collect();
    assert_eq!(events, [(a, NeedEvent::Done), (b, NeedEvent::Done), (c, NeedEvent::Waiting)]);
    assert_eq!(m.agents[&a].shown_state(), "done");
    assert_eq!(m.agents[&a].info().state, "done", "ls shows it");
    assert_eq!(m.agents[&a].state, AgentState::Idle, "done is idle underneath: a prompt can be typed");
    assert_eq!(m.needing(), [c, a, b], "waiting first, then done, oldest first");
    m.looked_at(a);
    assert_eq!(m.agents[&a].shown_state(), "idle");
    assert!(m.take_changes().panes, "ls and the bridge hear it");
    assert_eq!(m.needing(), [c, b]);
    // A new turn is not done; nor is an agent that never worked.
    hook(&mut m, b, "UserPromptSubmit", None);
    assert_eq!(m.agents[&b].shown_state(), "working");
    assert_eq!(m.needing(), [c]);
}

#[test]
fn hooks_make_an_agent_pane_and_move_its_state() {
    let (mut m, _) = model();
    let a = new(&mut m, "work");
    assert!(m.agents.is_empty());
    hook(&mut m, a, "SessionStart", Some("aaaaaaaa-0000-4000-8000-000000000001"));
    assert_eq!(m.agents[&a].state, AgentState::Idle, "a hook makes a shell pane an agent pane");
    let mut h = HookEvent { event: "PreToolUse".into(), tool_name: Some("Bash".into()), ..Default::default() };
    m.on_hook(a, "claude", h.clone(), std::process::id());
    assert_eq!(m.agents[&a].state, AgentState::Working { tool: Some("Bash".into()), input: None });
    h.event = "PermissionRequest".into();
    m.on_hook(a, "claude", h, std::process::id());
    let changes = m.take_changes();
    assert!(changes.agents && changes.panes);
    assert_eq!(changes.attention.len(), 1);
    assert_eq!(changes.attention[0].reason, "permission (Bash)", "{:?}", changes.attention);
    // A prompt queued while it works is typed at the next idle, one at a time.
    m.agents.get_mut(&a).unwrap().queued = vec!["one".into(), "two".into()];
    hook(&mut m, a, "Stop", None);
    assert_eq!(m.agents[&a].state, AgentState::Idle);
    assert_eq!(m.take_changes().prompts, vec![(a, "one".to_string())]);
    assert_eq!(m.agents[&a].queued, vec!["two".to_string()]);
    // The pane's exit is the agent's.
    m.remove_pane(a);
    assert!(!m.agents.contains_key(&a));
}

#[test]
fn a_claimed_session_is_taken_only_when_no_agent_runs_it_for_sure() {
    let (mut m, _) = model();
    let a = new(&mut m, "work");
    let b = split(&mut m, a, SplitDirection::Right);
    let sid = "aaaaaaaa-0000-4000-8000-000000000002";
    // sbx chose this session id when it launched the agent in `a`: it is `a`'s for sure.
    m.agents.insert(a, PaneAgent::new(crate::protocol::AgentKind::Claude, Some(sid.into())));
    assert_eq!(hook(&mut m, b, "SessionStart", Some(sid)), None);
    assert_ne!(m.agents[&b].session_id.as_deref(), Some(sid), "another pane cannot take it");
    // A claim nobody vouches for is shown but blocks no one.
    let other = "aaaaaaaa-0000-4000-8000-000000000003";
    assert_eq!(hook(&mut m, b, "SessionStart", Some(other)), None, "not vouched: nothing to resume");
    assert_eq!(m.agents[&b].session_id.as_deref(), Some(other));
    assert!(!m.agents[&b].vouched);
    m.agents.get_mut(&a).unwrap().session_id = None;
    m.agents.get_mut(&a).unwrap().vouched = false;
    hook(&mut m, a, "SessionStart", Some(other));
    assert_eq!(m.agents[&a].session_id.as_deref(), Some(other), "an unvouched holder keeps no one out");
}

#[test]
fn zoom_gives_one_pane_the_whole_tab() {
    let (mut m, _) = model();
    let a = new(&mut m, "work");
    let b = split(&mut m, a, SplitDirection::Right);
    m.apply_area("work", (100, 30));
    assert!(m.panes[&b].size().cols < 100);
    m.toggle_zoom(0);
    assert!(m.take_changes().reshaped.contains("work"));
    m.apply_area("work", (100, 30));
    assert_eq!(m.panes[&b].size().cols, 100, "the active pane has all of it");
    m.close_pane(a);
    m.toggle_zoom(0);
    assert!(!m.sessions[0].tab().zoomed, "one pane does not zoom");
}

/// A snapshot rebuilt is the same structure: sessions, tabs, the split tree with its
/// proportions, the active pane, zoom, labels and commands (the allowed ones run again, the
/// others come back as shells); a hostile snapshot cannot start more than MAX_PANES panes.
#[test]
fn a_snapshot_comes_back_as_the_same_structure() {
    use super::layout::Layout;
    use super::snapshot::{self, Restored};
    let (mut m, _d) = model();
    let a = new(&mut m, "one");
    let b = split(&mut m, a, SplitDirection::Right);
    let c = split(&mut m, b, SplitDirection::Down);
    m.set_label(c, Some("low".into()), &[]).unwrap();
    if let Layout::Split { ratio, .. } = &mut m.sessions[0].tabs[0].layout {
        *ratio = 0.3;
    }
    m.focus_pane(b);
    m.toggle_zoom(0);
    let spec = PaneSpec { cwd: here(), command: vec!["htop".into()], ..Default::default() };
    m.new_tab(0, spec).unwrap();
    let spec = PaneSpec { cwd: here(), command: vec!["/usr/bin/vim".into(), "notes".into()], ..Default::default() };
    let x = new(&mut m, "two");
    m.split(Some(x), SplitDirection::Down, spec).unwrap();
    let snap = m.snapshot();
    assert_eq!(snap.pane_count(), 6);

    let (mut fresh, _d2) = model();
    let allowed = vec!["vim".to_string()];
    let report = fresh.restore(&snap, &|cmd| snapshot::command_allowed(cmd, &allowed));
    assert_eq!(fresh.snapshot().sessions.len(), 2);
    let hows: Vec<Restored> = report.into_iter().map(|(_, how)| how).collect();
    assert_eq!(hows.iter().filter(|h| **h == Restored::Shell).count(), 4);
    assert!(hows.contains(&Restored::ShellInstead(vec!["htop".into()])), "{hows:?}");
    assert!(hows.contains(&Restored::Command), "{hows:?}");
    // The same again, but for htop, which came back as a shell.
    let mut expected = snap.clone();
    if let snapshot::LayoutSnap::Pane(p) = &mut expected.sessions[0].tabs[1].layout {
        p.command.clear();
    }
    assert_eq!(fresh.snapshot(), expected);

    // A snapshot naming more panes than a restore starts is refused whole.
    let pane = snapshot::LayoutSnap::Pane(snapshot::PaneSnap {
        cwd: std::env::temp_dir(),
        command: Vec::new(),
        label: None,
        agent: None,
        history: None,
    });
    let mut huge = snap.clone();
    let tab = snapshot::TabSnap { name: "t".into(), zoomed: false, active: 0, layout: pane };
    huge.sessions[0].tabs = vec![tab; snapshot::MAX_PANES + 1];
    let text = serde_json::to_string(&huge).unwrap();
    let e = snapshot::parse(&text).unwrap_err();
    assert!(e.message.contains("more than the"), "{}", e.message);
    assert!(snapshot::parse(&serde_json::to_string(&snap).unwrap()).is_ok());
}

#[test]
fn presets_lay_out_every_pane_and_keep_the_focused_one_main() {
    let (mut m, _) = model();
    let a = new(&mut m, "work");
    let b = split(&mut m, a, SplitDirection::Right);
    let c = split(&mut m, b, SplitDirection::Down);
    let d = split(&mut m, c, SplitDirection::Right);
    m.focus_pane(b);
    let area = Rect::new(0, 0, 121, 40);
    let rects = |m: &Model| m.sessions[0].tab().layout.geometry(area);
    m.apply_preset(Target::Session(0), LayoutPreset::EvenHorizontal).unwrap();
    let g = rects(&m);
    assert_eq!(g.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [a, b, c, d], "the order is kept");
    assert!(g.iter().all(|(_, r)| r.height == 40 && (29..=30).contains(&r.width)), "{g:?}");
    m.apply_preset(Target::Session(0), LayoutPreset::EvenVertical).unwrap();
    assert!(rects(&m).iter().all(|(_, r)| r.width == 121 && r.height == 10), "{:?}", rects(&m));
    m.apply_preset(Target::Session(0), LayoutPreset::MainVertical).unwrap();
    let g = rects(&m);
    assert_eq!(g[0].0, b, "the focused pane is the main one");
    assert_eq!((g[0].1.x, g[0].1.height), (0, 40));
    assert!(g[0].1.width > 60 && g[1..].iter().all(|(_, r)| r.x > 60), "{g:?}");
    m.apply_preset(Target::Session(0), LayoutPreset::Tiled).unwrap();
    let g = rects(&m);
    assert!(g.iter().all(|(_, r)| r.width == 60 && r.height == 20), "a 2×2 grid: {g:?}");
    assert_eq!(m.list(|_| 0)[0].tabs[0].layout.as_deref(), Some("tiled"));
}

#[test]
fn swaps_and_moves_keep_every_pane_running_and_focus_where_it_belongs() {
    let (mut m, _) = model();
    let a = new(&mut m, "work");
    let b = split(&mut m, a, SplitDirection::Right);
    let other = new(&mut m, "other");
    m.swap_panes(a, b).unwrap();
    assert_eq!(m.sessions[0].tab().layout.panes(), [b, a]);
    // Across sessions: each takes the other's place, and each tab's focus follows its place.
    m.swap_panes(a, other).unwrap();
    assert_eq!(m.sessions[0].tab().layout.panes(), [b, other]);
    assert_eq!(m.sessions[1].tab().layout.panes(), [a]);
    assert_eq!(m.sessions[1].tab().active, a);
    // Break a pane out into a tab of its own, then move it back beside another.
    m.move_pane(other, None, SplitDirection::Right).unwrap();
    assert_eq!(m.sessions[0].tabs.len(), 2);
    assert_eq!(m.sessions[0].tabs[1].layout.panes(), [other]);
    assert_eq!(m.move_pane(other, None, SplitDirection::Right).unwrap_err().code, "alone");
    m.move_pane(other, Some(b), SplitDirection::Down).unwrap();
    assert_eq!(m.sessions[0].tabs.len(), 1, "its emptied tab closed");
    assert_eq!(m.sessions[0].tab().layout.panes(), [b, other]);
    // Moving the last pane of a session ends that session, not the pane.
    m.move_pane(a, Some(b), SplitDirection::Right).unwrap();
    assert_eq!(m.sessions.len(), 1);
    assert_eq!(m.take_changes().ended, ["other"]);
    assert_eq!(m.panes.len(), 3, "no pane was stopped");
}

#[test]
fn renames_check_the_name_and_say_which_session_it_was() {
    let (mut m, _) = model();
    new(&mut m, "work");
    new(&mut m, "play");
    assert_eq!(m.rename_session(0, "play").unwrap_err().code, "name_taken");
    assert_eq!(m.rename_session(0, "bad name").unwrap_err().code, "bad_name");
    m.take_changes();
    m.rename_session(0, "build").unwrap();
    assert_eq!(m.take_changes().renamed, [("work".to_string(), "build".to_string())]);
    m.rename_tab(0, 0, "editor").unwrap();
    assert_eq!(m.resolve("build:editor").unwrap(), Target::Tab(0, 0));
    assert_eq!(m.rename_tab(0, 0, "%x").unwrap_err().code, "bad_name");
}

/// A screen-read agent (Grok: no hooks) keeps its question through a half-drawn frame that
/// lost it, and takes the change only once the screen has held it for a moment.
#[test]
fn a_change_read_from_a_screen_counts_once_it_holds() {
    let (mut m, _) = model();
    let a = new(&mut m, "work");
    let mut agent = PaneAgent::new(crate::protocol::AgentKind::Grok, None);
    agent.state = AgentState::Waiting { reason: "permission".into(), tool: None, input: None };
    m.agents.insert(a, agent);
    m.panes[&a].feed(b"\x1b[2J\x1b[H(3s \xc2\xb7 esc to interrupt)\r\nDo you want to proceed with this operation?");
    m.check_agent_screen(a);
    assert!(m.next_screen_check().is_none(), "nothing to change");
    // Half a frame: the question erased, the rest not yet drawn.
    m.panes[&a].feed(b"\x1b[2;1H\x1b[K");
    m.check_agent_screen(a);
    assert!(matches!(m.agents[&a].state, AgentState::Waiting { .. }), "not believed at once");
    assert!(m.next_screen_check().is_some(), "read again once it has held");
    // The rest of the frame puts it back: the change is forgotten.
    m.panes[&a].feed(b"Do you want to proceed with this operation?");
    m.check_agent_screen(a);
    assert!(m.next_screen_check().is_none(), "taken back");
    // Answered for real: working, once the screen has shown it for SCREEN_SETTLE.
    m.panes[&a].feed(b"\x1b[2;1H\x1b[K");
    m.check_agent_screen(a);
    let due = m.next_screen_check().expect("a change to confirm");
    while std::time::Instant::now() < due {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    m.check_settled_screens();
    assert!(matches!(m.agents[&a].state, AgentState::Working { .. }));
    assert_eq!(m.agents[&a].turns, 0, "a question answered is the same turn");
}
