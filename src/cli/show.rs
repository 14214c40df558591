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
            outln!("  {}:{}{}", t.index, plain(&t.name), if t.active { " *" } else { "" });
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
