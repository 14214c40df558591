//! The timing of pane output on the loop: a flooding pane's output notices are paused (the
//! reader need not wake the loop for every read of a flood), a quiet pane gives back the
//! memory its engine keeps for scrolling, and a synchronized update the child never finished
//! is ended at its deadline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::front::FLOOD_FRAME;
use super::model::Model;
use crate::pane::engine::lock;
use crate::pane::PaneId;

/// A pane quiet this long gives back the memory its engine keeps for scrolling.
const TRIM_AFTER: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Pacing {
    /// Panes that had output and have not been trimmed since: when each went quiet.
    quiet_since: BTreeMap<PaneId, Instant>,
    /// Flooding panes whose output notices are paused (re-armed after FLOOD_FRAME).
    held: BTreeMap<PaneId, Instant>,
}

impl Pacing {
    /// A pane had output: pause its notices if it floods, else take the next one at once.
    pub fn output(&mut self, pane: PaneId, model: &Model) {
        let Some(p) = model.panes.get(&pane) else { return };
        let now = Instant::now();
        if p.flooding() {
            self.held.entry(pane).or_insert(now);
        } else {
            p.acknowledge_output();
        }
        self.quiet_since.insert(pane, now);
    }

    pub fn forget(&mut self, pane: PaneId) {
        self.quiet_since.remove(&pane);
        self.held.remove(&pane);
    }

    /// The earliest moment something here is due.
    pub fn next_deadline(&self, model: &Model) -> Option<Instant> {
        let trim = self.quiet_since.values().min().map(|t| *t + TRIM_AFTER);
        let held = self.held.values().min().map(|t| *t + FLOOD_FRAME);
        let sync = model.panes.values().filter_map(|p| lock(&p.engine).sync_deadline()).min();
        [trim, held, sync].into_iter().flatten().min()
    }

    /// Do what is due; returns the panes to draw again.
    pub fn tick(&mut self, model: &Model) -> Vec<PaneId> {
        let now = Instant::now();
        let mut redraw = Vec::new();
        for pane in model.panes.values() {
            if lock(&pane.engine).end_expired_sync() {
                redraw.push(pane.id);
            }
        }
        let due: Vec<PaneId> = self.held.iter().filter(|(_, t)| **t + FLOOD_FRAME <= now).map(|(p, _)| *p).collect();
        for id in due {
            self.held.remove(&id);
            if let Some(pane) = model.panes.get(&id) {
                pane.acknowledge_output();
            }
            // What arrived during the pause is on screen at the next frame.
            redraw.push(id);
        }
        let quiet: Vec<PaneId> =
            self.quiet_since.iter().filter(|(_, t)| **t + TRIM_AFTER <= now).map(|(p, _)| *p).collect();
        for id in &quiet {
            self.quiet_since.remove(id);
            if let Some(pane) = model.panes.get(id) {
                lock(&pane.engine).trim();
            }
        }
        if !quiet.is_empty() {
            // The freed rows are small blocks glibc keeps unless asked to return them.
            // SAFETY: malloc_trim only walks the allocator's own free lists.
            unsafe {
                libc::malloc_trim(0);
            }
        }
        redraw
    }
}
