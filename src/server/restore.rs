//! Rebuilding a server's structure from its snapshot (`model::snapshot`, `persist`): at start
//! when the last server did not stop cleanly (config `restore`), or on `sbx restore`.

use super::model::snapshot::{self, Snapshot};
use super::persist::{self, Found};
use super::Server;
use crate::protocol::{Error, Reply};

impl Server {
    /// At start: what the last server left. A crash (or SIGTERM) is rebuilt with
    /// `restore = "auto"`; a snapshot kept by `kill-server`, or one under "ask", waits for
    /// `sbx restore`; one that does not read is set aside.
    pub(super) fn restore_at_start(&mut self) {
        let pending = persist::pending_path(self.persist.path());
        // One that waited already, from an earlier start.
        if let Ok(Some(snap)) = persist::peek(&pending) {
            self.pending_restore = Some(snap);
        }
        match persist::read(self.persist.path()) {
            Found::None => {}
            Found::SetAside { why, moved_to } => {
                tracing::warn!("the snapshot did not read ({why}); moved to {}", moved_to.display());
                self.notice = Some(format!(
                    "the last server's snapshot did not read ({why}); it is kept at {}, and sbx started fresh",
                    moved_to.display()
                ));
            }
            Found::Snapshot(snap) if snap.kept || self.model.config.settings.restore != "auto" => {
                if !snap.kept && self.model.config.settings.restore == "ask" {
                    self.notice = Some(format!(
                        "the last server stopped unexpectedly; `sbx restore` brings back its {} panes",
                        snap.pane_count()
                    ));
                }
                // Out of the way of this server's own snapshot, until `sbx restore`.
                if let Err(e) = std::fs::rename(self.persist.path(), &pending) {
                    tracing::warn!("cannot keep the snapshot for sbx restore: {e}");
                }
                self.pending_restore = Some(snap);
            }
            Found::Snapshot(snap) => {
                let (sessions, panes) = self.rebuild(&snap);
                tracing::info!("restored {sessions} sessions, {panes} panes");
                self.notice = Some(format!("restored {sessions} session(s), {panes} pane(s) of the last server"));
            }
        }
    }

    /// `sbx restore`: the snapshot found at start and not rebuilt then.
    pub(super) fn restore_kept(&mut self) -> Result<Reply, Error> {
        let Some(snap) = self.pending_restore.take() else {
            return Err(Error::new(
                "nothing_to_restore",
                "there is no snapshot waiting to be restored",
                "a server keeps one when it stops (`sbx kill-server`) or dies; `sbx restore --list` shows it",
            ));
        };
        let (sessions, panes) = self.rebuild(&snap);
        let _ = std::fs::remove_file(persist::pending_path(self.persist.path()));
        Ok(Reply::Restored { sessions, panes })
    }

    fn rebuild(&mut self, snap: &Snapshot) -> (usize, usize) {
        let allowed = self.model.config.settings.restore_commands.clone();
        let before = self.model.sessions.len();
        let report = self.model.restore(snap, &|cmd| snapshot::command_allowed(cmd, &allowed));
        for (pane, how) in &report {
            if let snapshot::Restored::ShellInstead(cmd) = how {
                tracing::info!("restore: %{pane} was {cmd:?}; a shell instead (see restore_commands)");
            }
        }
        self.persist.stale();
        (self.model.sessions.len() - before, report.len())
    }
}
