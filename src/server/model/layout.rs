//! A tab's layout: a binary tree of splits with panes at the leaves, and the geometry
//! it gives an area. Each pane's rectangle includes its one-row title bar; panes side by
//! side are divided by a one-column separator; panes stacked are divided by the lower
//! pane's title bar.

use ratatui::layout::Rect;

use crate::keymap::Direction;
use crate::pane::PaneId;
use crate::protocol::{LayoutPreset, SplitDirection};

/// Smallest pane rectangle: a title row plus one content row, two content columns.
const MIN_W: u16 = 2;
const MIN_H: u16 = 2;

#[derive(Debug, Clone)]
pub enum Layout {
    Pane(PaneId),
    Split { dir: SplitDirection, ratio: f32, first: Box<Layout>, second: Box<Layout> },
}

/// A place where the mouse can grab a border: which split (by path) and its area.
#[derive(Debug, Clone, PartialEq)]
pub struct Border {
    pub path: Vec<bool>,
    pub dir: SplitDirection,
    /// The cells the border occupies.
    pub line: Rect,
    /// The whole area the split divides.
    pub area: Rect,
}

impl Layout {
    pub fn panes(&self) -> Vec<PaneId> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<PaneId>) {
        match self {
            Layout::Pane(id) => out.push(*id),
            Layout::Split { first, second, .. } => {
                first.collect(out);
                second.collect(out);
            }
        }
    }

    /// The panes laid out as `preset` says, `main` the large one of the main layouts; the
    /// panes keep their order.
    pub fn preset(panes: &[PaneId], main: PaneId, preset: LayoutPreset) -> Option<Layout> {
        // Equal shares: each split gives its first part 1/n of what is left.
        fn chain(panes: &[PaneId], dir: SplitDirection) -> Option<Layout> {
            let (first, rest) = panes.split_first()?;
            if rest.is_empty() {
                return Some(Layout::Pane(*first));
            }
            let ratio = 1.0 / panes.len() as f32;
            Some(Layout::Split {
                dir,
                ratio,
                first: Box::new(Layout::Pane(*first)),
                second: Box::new(chain(rest, dir)?),
            })
        }
        fn rows(lines: &[Layout]) -> Option<Layout> {
            let (first, rest) = lines.split_first()?;
            if rest.is_empty() {
                return Some(first.clone());
            }
            let ratio = 1.0 / lines.len() as f32;
            let (first, second) = (Box::new(first.clone()), Box::new(rows(rest)?));
            Some(Layout::Split { dir: SplitDirection::Down, ratio, first, second })
        }
        let main_with = |dir: SplitDirection, rest_dir: SplitDirection| {
            let rest: Vec<PaneId> = panes.iter().copied().filter(|p| *p != main).collect();
            match chain(&rest, rest_dir) {
                None => Some(Layout::Pane(main)),
                Some(rest) => {
                    Some(Layout::Split { dir, ratio: 0.6, first: Box::new(Layout::Pane(main)), second: Box::new(rest) })
                }
            }
        };
        match preset {
            LayoutPreset::EvenHorizontal => chain(panes, SplitDirection::Right),
            LayoutPreset::EvenVertical => chain(panes, SplitDirection::Down),
            LayoutPreset::MainVertical => main_with(SplitDirection::Right, SplitDirection::Down),
            LayoutPreset::MainHorizontal => main_with(SplitDirection::Down, SplitDirection::Right),
            LayoutPreset::Tiled => {
                let cols = (panes.len() as f32).sqrt().ceil().max(1.0) as usize;
                let lines: Option<Vec<Layout>> = panes.chunks(cols).map(|c| chain(c, SplitDirection::Right)).collect();
                rows(&lines?)
            }
        }
    }

    /// Swap two panes' places (each pane found in this layout takes the other's place).
    pub fn swap(&mut self, a: PaneId, b: PaneId) {
        match self {
            Layout::Pane(id) if *id == a => *id = b,
            Layout::Pane(id) if *id == b => *id = a,
            Layout::Pane(_) => {}
            Layout::Split { first, second, .. } => {
                first.swap(a, b);
                second.swap(a, b);
            }
        }
    }

    pub fn contains(&self, pane: PaneId) -> bool {
        match self {
            Layout::Pane(id) => *id == pane,
            Layout::Split { first, second, .. } => first.contains(pane) || second.contains(pane),
        }
    }

    /// Put `new` beside `target`; false when `target` is not in this layout.
    pub fn split(&mut self, target: PaneId, new: PaneId, dir: SplitDirection) -> bool {
        match self {
            Layout::Pane(id) if *id == target => {
                *self = Layout::Split {
                    dir,
                    ratio: 0.5,
                    first: Box::new(Layout::Pane(target)),
                    second: Box::new(Layout::Pane(new)),
                };
                true
            }
            Layout::Pane(_) => false,
            Layout::Split { first, second, .. } => first.split(target, new, dir) || second.split(target, new, dir),
        }
    }

    /// Remove a pane; its sibling takes the split's place. Returns false if it was the
    /// only pane (the caller closes the tab) or absent.
    pub fn remove(&mut self, pane: PaneId) -> bool {
        match self {
            Layout::Pane(_) => false,
            Layout::Split { first, second, .. } => {
                if matches!(**first, Layout::Pane(id) if id == pane) {
                    *self = (**second).clone();
                    return true;
                }
                if matches!(**second, Layout::Pane(id) if id == pane) {
                    *self = (**first).clone();
                    return true;
                }
                first.remove(pane) || second.remove(pane)
            }
        }
    }

    fn min_size(&self) -> (u16, u16) {
        match self {
            Layout::Pane(_) => (MIN_W, MIN_H),
            Layout::Split { dir, first, second, .. } => {
                let (aw, ah) = first.min_size();
                let (bw, bh) = second.min_size();
                match dir {
                    SplitDirection::Right => (aw + 1 + bw, ah.max(bh)),
                    SplitDirection::Down => (aw.max(bw), ah + bh),
                }
            }
        }
    }

    /// The two areas of a split and the border between them.
    fn divide(dir: SplitDirection, ratio: f32, first: &Layout, second: &Layout, area: Rect) -> (Rect, Rect, Rect) {
        let (amin, bmin) = (first.min_size(), second.min_size());
        match dir {
            SplitDirection::Right => {
                let avail = area.width.saturating_sub(1);
                let want = (avail as f32 * ratio).round() as u16;
                let hi = avail.saturating_sub(bmin.0).max(1);
                let a = want.clamp(amin.0.min(hi), hi);
                let b = avail.saturating_sub(a);
                (
                    Rect { width: a, ..area },
                    Rect { x: area.x + a + 1, width: b, ..area },
                    Rect { x: area.x + a, width: 1.min(area.width), ..area },
                )
            }
            SplitDirection::Down => {
                let avail = area.height;
                let want = (avail as f32 * ratio).round() as u16;
                let hi = avail.saturating_sub(bmin.1).max(1);
                let a = want.clamp(amin.1.min(hi), hi);
                let b = avail.saturating_sub(a);
                (
                    Rect { height: a, ..area },
                    Rect { y: area.y + a, height: b, ..area },
                    Rect { y: area.y + a, height: 1.min(b), ..area },
                )
            }
        }
    }

    /// Each pane's rectangle (title row included) within `area`.
    pub fn geometry(&self, area: Rect) -> Vec<(PaneId, Rect)> {
        let mut out = Vec::new();
        self.walk(area, &mut Vec::new(), &mut |node, rect, _| {
            if let Layout::Pane(id) = node {
                out.push((*id, rect));
            }
        });
        out
    }

    /// Every border, for drawing separators and for mouse drags.
    pub fn borders(&self, area: Rect) -> Vec<Border> {
        let mut out = Vec::new();
        self.walk(area, &mut Vec::new(), &mut |node, rect, path| {
            if let Layout::Split { dir, ratio, first, second } = node {
                let (_, _, line) = Layout::divide(*dir, *ratio, first, second, rect);
                out.push(Border { path: path.to_vec(), dir: *dir, line, area: rect });
            }
        });
        out
    }

    fn walk(&self, area: Rect, path: &mut Vec<bool>, f: &mut dyn FnMut(&Layout, Rect, &[bool])) {
        f(self, area, path);
        if let Layout::Split { dir, ratio, first, second } = self {
            let (a, b, _) = Layout::divide(*dir, *ratio, first, second, area);
            path.push(false);
            first.walk(a, path, f);
            path.pop();
            path.push(true);
            second.walk(b, path, f);
            path.pop();
        }
    }

    fn node_mut(&mut self, path: &[bool]) -> Option<&mut Layout> {
        match (path.split_first(), self) {
            (None, node) => Some(node),
            (Some((side, rest)), Layout::Split { first, second, .. }) => {
                if *side {
                    second.node_mut(rest)
                } else {
                    first.node_mut(rest)
                }
            }
            _ => None,
        }
    }

    /// Move a border so that it sits at `pos` (a column for side-by-side, a row for stacked).
    pub fn drag_border(&mut self, border: &Border, pos: u16) {
        if let Some(Layout::Split { dir, ratio, .. }) = self.node_mut(&border.path) {
            let (start, len) = match dir {
                SplitDirection::Right => (border.area.x, border.area.width.saturating_sub(1)),
                SplitDirection::Down => (border.area.y, border.area.height),
            };
            if len > 0 {
                *ratio = (pos.saturating_sub(start) as f32 / len as f32).clamp(0.05, 0.95);
            }
        }
    }

    /// Move the nearest border of `pane` that runs across `dir` by `cells`.
    pub fn resize(&mut self, pane: PaneId, dir: Direction, cells: u16, area: Rect) -> bool {
        let axis = match dir {
            Direction::Left | Direction::Right => SplitDirection::Right,
            Direction::Up | Direction::Down => SplitDirection::Down,
        };
        // The deepest split of the right axis that holds the pane.
        let mut found: Option<Border> = None;
        for border in self.borders(area) {
            if border.dir == axis && self.node_at(&border.path).is_some_and(|n| n.contains(pane)) {
                let deeper = found.as_ref().is_none_or(|f| border.path.len() > f.path.len());
                if deeper {
                    found = Some(border);
                }
            }
        }
        let Some(border) = found else { return false };
        let current = match axis {
            SplitDirection::Right => border.line.x,
            SplitDirection::Down => border.line.y,
        };
        let pos = match dir {
            Direction::Left | Direction::Up => current.saturating_sub(cells),
            Direction::Right | Direction::Down => current.saturating_add(cells),
        };
        self.drag_border(&border, pos);
        true
    }

    fn node_at(&self, path: &[bool]) -> Option<&Layout> {
        match (path.split_first(), self) {
            (None, node) => Some(node),
            (Some((side, rest)), Layout::Split { first, second, .. }) => {
                if *side {
                    second.node_at(rest)
                } else {
                    first.node_at(rest)
                }
            }
            _ => None,
        }
    }
}

/// The pane next to `from` in `dir`: adjacent rectangles, the one overlapping most.
pub fn neighbour(rects: &[(PaneId, Rect)], from: PaneId, dir: Direction) -> Option<PaneId> {
    let (_, r) = rects.iter().find(|(id, _)| *id == from)?;
    let overlap = |a0: u16, a1: u16, b0: u16, b1: u16| a1.min(b1).saturating_sub(a0.max(b0));
    rects
        .iter()
        .filter(|(id, _)| *id != from)
        .filter_map(|(id, o)| {
            let adjacent = match dir {
                Direction::Left => o.right() + 1 == r.x || o.right() == r.x,
                Direction::Right => r.right() + 1 == o.x || r.right() == o.x,
                Direction::Up => o.bottom() == r.y,
                Direction::Down => r.bottom() == o.y,
            };
            let shared = match dir {
                Direction::Left | Direction::Right => overlap(r.y, r.bottom(), o.y, o.bottom()),
                Direction::Up | Direction::Down => overlap(r.x, r.right(), o.x, o.right()),
            };
            (adjacent && shared > 0).then_some((shared, *id))
        })
        .max_by_key(|(shared, id)| (*shared, u32::MAX - id))
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area() -> Rect {
        Rect::new(0, 0, 81, 24)
    }

    #[test]
    fn split_right_leaves_a_separator_column() {
        let mut l = Layout::Pane(1);
        assert!(l.split(1, 2, SplitDirection::Right));
        let g = l.geometry(area());
        assert_eq!(g, vec![(1, Rect::new(0, 0, 40, 24)), (2, Rect::new(41, 0, 40, 24))]);
        assert_eq!(l.borders(area())[0].line, Rect::new(40, 0, 1, 24));
    }

    #[test]
    fn split_down_shares_the_title_row_as_border() {
        let mut l = Layout::Pane(1);
        l.split(1, 2, SplitDirection::Down);
        let g = l.geometry(area());
        assert_eq!(g, vec![(1, Rect::new(0, 0, 81, 12)), (2, Rect::new(0, 12, 81, 12))]);
    }

    #[test]
    fn remove_promotes_the_sibling() {
        let mut l = Layout::Pane(1);
        l.split(1, 2, SplitDirection::Right);
        l.split(2, 3, SplitDirection::Down);
        assert!(l.remove(2));
        assert_eq!(l.panes(), vec![1, 3]);
        assert!(l.remove(3));
        assert!(!l.remove(1));
    }

    #[test]
    fn neighbours_and_resize() {
        let mut l = Layout::Pane(1);
        l.split(1, 2, SplitDirection::Right);
        l.split(2, 3, SplitDirection::Down);
        let g = l.geometry(area());
        assert_eq!(neighbour(&g, 1, Direction::Right), Some(2));
        assert_eq!(neighbour(&g, 3, Direction::Up), Some(2));
        assert_eq!(neighbour(&g, 3, Direction::Left), Some(1));
        assert_eq!(neighbour(&g, 1, Direction::Left), None);
        assert!(l.resize(1, Direction::Right, 10, area()));
        let g2 = l.geometry(area());
        assert_eq!(g2[0].1.width, 50);
    }

    #[test]
    fn tiny_areas_never_underflow() {
        let mut l = Layout::Pane(1);
        for i in 2..20 {
            l.split(i - 1, i, if i % 2 == 0 { SplitDirection::Right } else { SplitDirection::Down });
        }
        for (w, h) in [(1, 1), (0, 0), (3, 2), (10, 5)] {
            let g = l.geometry(Rect::new(0, 0, w, h));
            assert_eq!(g.len(), 19);
            for (_, r) in g {
                assert!(r.right() <= w.max(r.x) + 1 && r.bottom() <= h.max(r.y) + 1);
            }
        }
    }
}
