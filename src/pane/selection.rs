//! What is selected in a pane's text for copying (copy mode or a mouse drag).

/// A point in a pane's text: `line` 0 is the top of the screen, negative lines are history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct VPoint {
    pub line: i32,
    pub col: usize,
}

/// A selection for copying: from `anchor` to `cursor`, by characters or by whole lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub anchor: VPoint,
    pub cursor: VPoint,
    pub lines: bool,
}

impl Selection {
    pub fn ordered(&self) -> (VPoint, VPoint) {
        if self.anchor <= self.cursor {
            (self.anchor, self.cursor)
        } else {
            (self.cursor, self.anchor)
        }
    }

    pub fn contains(&self, p: VPoint) -> bool {
        let (a, b) = self.ordered();
        if self.lines {
            return (a.line..=b.line).contains(&p.line);
        }
        (a.line, a.col) <= (p.line, p.col) && (p.line, p.col) <= (b.line, b.col)
    }
}
