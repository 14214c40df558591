//! Arranging what exists: renaming sessions and tabs, swapping and moving panes, laying a
//! tab out afresh. No pane is started or stopped here.

use super::{Layout, Model, Tab, Target};
use crate::pane::PaneId;
use crate::protocol::{validate_session_name, Error, LayoutPreset, SplitDirection};

fn gone() -> Error {
    Error::new("no_pane", "that pane is gone", "sbx ls")
}

impl Model {
    pub fn rename_session(&mut self, si: usize, name: &str) -> Result<(), Error> {
        validate_session_name(name)?;
        if self.sessions[si].name == name {
            return Ok(());
        }
        if self.session_index(name).is_some() {
            return Err(Error::new(
                "name_taken",
                format!("a session is named {name:?} already"),
                "choose another name (sbx ls shows them)",
            ));
        }
        let old = std::mem::replace(&mut self.sessions[si].name, name.to_string());
        // Its clients follow it under the new name (the front matches them by name).
        self.changes.renamed.push((old, name.to_string()));
        self.changes.panes = true;
        self.changes.redraw.insert(name.to_string());
        Ok(())
    }

    pub fn rename_tab(&mut self, si: usize, ti: usize, name: &str) -> Result<(), Error> {
        crate::protocol::validate_tab_name(name)?;
        let tab =
            self.sessions[si].tabs.get_mut(ti).ok_or_else(|| Error::new("no_tab", "that tab is gone", "sbx ls"))?;
        tab.name = name.to_string();
        self.changes.panes = true;
        self.changes.redraw.insert(self.sessions[si].name.clone());
        Ok(())
    }

    /// Something shown about a pane changed (`ls`, the sidebar, its title bar).
    pub fn mark_panes_changed(&mut self, pane: PaneId) {
        self.changes.panes = true;
        if let Some(name) = self.session_name_of(pane) {
            self.changes.redraw.insert(name);
        }
    }

    /// Two panes change places; each tab's focus stays on the place it was.
    pub fn swap_panes(&mut self, a: PaneId, b: PaneId) -> Result<(), Error> {
        let (la, lb) = (self.locate(a).ok_or_else(gone)?, self.locate(b).ok_or_else(gone)?);
        if a == b {
            return Ok(());
        }
        let places = if la == lb { vec![la] } else { vec![la, lb] };
        for (si, ti) in places {
            let tab = &mut self.sessions[si].tabs[ti];
            tab.layout.swap(a, b);
            if la != lb {
                // The pane that was focused here went; the one that came is.
                tab.active = if tab.active == a {
                    b
                } else if tab.active == b {
                    a
                } else {
                    tab.active
                };
            }
        }
        for (si, _) in [la, lb] {
            self.changes.reshaped.insert(self.sessions[si].name.clone());
        }
        self.changes.panes = true;
        Ok(())
    }

    /// Take a pane out of its tab (which closes if it held only this pane, and its session
    /// with it), leaving the pane running (`remove_pane` uses it for a pane that is gone).
    pub(super) fn take_out(&mut self, pane: PaneId) -> Result<(), Error> {
        let (si, ti) = self.locate(pane).ok_or_else(gone)?;
        let session = &mut self.sessions[si];
        let tab = &mut session.tabs[ti];
        if tab.layout.remove(pane) {
            if tab.active == pane {
                tab.active = tab.layout.panes()[0];
            }
            tab.zoomed = false;
        } else {
            session.tabs.remove(ti);
            // The tab shown stays shown: those after the removed one move down a place.
            if ti < session.active_tab {
                session.active_tab -= 1;
            }
            session.active_tab = session.active_tab.min(session.tabs.len().saturating_sub(1));
        }
        let name = session.name.clone();
        if session.tabs.is_empty() {
            self.sessions.remove(si);
            self.changes.ended.push(name);
        } else {
            self.changes.reshaped.insert(name);
        }
        Ok(())
    }

    /// Put `pane` beside `target` (into `target`'s tab, focused), or with no target into a
    /// new tab of its own session.
    pub fn move_pane(&mut self, pane: PaneId, target: Option<PaneId>, dir: SplitDirection) -> Result<(), Error> {
        let (si, ti) = self.locate(pane).ok_or_else(gone)?;
        match target {
            Some(target) => {
                if target == pane {
                    return Err(Error::new("same_pane", "a pane cannot move beside itself", "name another target"));
                }
                self.locate(target).ok_or_else(gone)?;
                self.take_out(pane)?;
                let (tsi, tti) = self.locate(target).ok_or_else(gone)?;
                let tab = &mut self.sessions[tsi].tabs[tti];
                tab.layout.split(target, pane, dir);
                tab.active = pane;
                tab.zoomed = false;
                self.sessions[tsi].active_tab = tti;
                self.changes.reshaped.insert(self.sessions[tsi].name.clone());
            }
            None => {
                if self.sessions[si].tabs[ti].layout.panes().len() == 1 {
                    return Err(Error::new(
                        "alone",
                        "the pane is alone in its tab already",
                        "move it beside another pane: sbx move-pane -s PANE -t OTHER",
                    ));
                }
                let session = self.sessions[si].name.clone();
                self.take_out(pane)?;
                let si = self.session_index(&session).ok_or_else(gone)?;
                let tab = Tab { layout: Layout::Pane(pane), ..Tab::of(&self.panes[&pane]) };
                let s = &mut self.sessions[si];
                s.tabs.push(tab);
                s.active_tab = s.tabs.len() - 1;
                self.changes.reshaped.insert(session);
            }
        }
        self.changes.panes = true;
        self.changes.switched.extend(self.sessions.iter().map(|s| s.name.clone()));
        Ok(())
    }

    /// Lay a tab's panes out as `preset` says, its focused pane the main one.
    pub fn apply_preset(&mut self, target: Target, preset: LayoutPreset) -> Result<(), Error> {
        let (si, ti) = match target {
            Target::Session(si) => (si, self.sessions[si].active_tab),
            Target::Tab(si, ti) => (si, ti),
            Target::Pane(p) => self.locate(p).ok_or_else(gone)?,
        };
        let tab = &mut self.sessions[si].tabs[ti];
        let panes = tab.layout.panes();
        if let Some(layout) = Layout::preset(&panes, tab.active, preset) {
            tab.layout = layout;
            tab.zoomed = false;
            tab.preset = Some(preset);
        }
        self.changes.reshaped.insert(self.sessions[si].name.clone());
        self.changes.panes = true;
        Ok(())
    }
}
