//! Text output for people.

use super::output::{outln, plain};
use crate::protocol::SessionInfo;

pub fn print_tree(sessions: &[SessionInfo]) {
    for s in sessions {
        let attached = match s.clients {
            0 => String::new(),
            1 => " (attached)".into(),
            n => format!(" ({n} clients)"),
        };
        outln!("{}: {} tab{}{attached}", s.name, s.tabs.len(), if s.tabs.len() == 1 { "" } else { "s" });
        for t in &s.tabs {
            let zoomed = if t.zoomed { " (zoomed)" } else { "" };
            outln!("  {}:{}{}{zoomed}", t.index, plain(&t.name), if t.active { " *" } else { "" });
            for p in &t.panes {
                let label = p.label.as_deref().map(|l| format!(" [{l}]")).unwrap_or_default();
                outln!(
                    "    {}{label} {}x{} pid {} {} {}{}{}",
                    p.id,
                    p.cols,
                    p.rows,
                    p.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    plain(&p.command.join(" ")),
                    plain(&p.cwd),
                    if p.active { " *" } else { "" },
                    if p.alive { "" } else { " (exited)" }
                );
            }
        }
    }
}

/// `sbx restore --list`: what a restore would bring back.
pub fn print_snapshot(snap: Option<&crate::server::Snapshot>, json: bool) {
    if json {
        crate::cli::output::print_json(&serde_json::json!({ "snapshot": snap }));
        return;
    }
    let Some(snap) = snap else {
        outln!("no snapshot is kept; nothing to restore");
        return;
    };
    let state = if snap.kept { "kept by kill-server" } else { "left by a server that stopped unexpectedly" };
    outln!("{} session(s), {} pane(s), {state}:", snap.sessions.len(), snap.pane_count());
    for s in &snap.sessions {
        outln!("{}: {} tab{}", plain(&s.name), s.tabs.len(), if s.tabs.len() == 1 { "" } else { "s" });
        for (ti, t) in s.tabs.iter().enumerate() {
            outln!("  {ti}:{}{}", plain(&t.name), if t.zoomed { " (zoomed)" } else { "" });
            for p in t.layout.panes() {
                let label = p.label.as_deref().map(|l| format!(" [{}]", plain(l))).unwrap_or_default();
                let what = match &p.agent {
                    Some(a) => match &a.session_id {
                        Some(id) => format!("{} resumed ({})", a.kind.name(), plain(id)),
                        None => format!("{} (new session)", a.kind.name()),
                    },
                    None if p.command.is_empty() => "shell".to_string(),
                    None => plain(&p.command.join(" ")),
                };
                outln!("    {what}{label} in {}", plain(&p.cwd.display().to_string()));
            }
        }
    }
}
