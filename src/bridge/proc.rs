//! Process ancestry from /proc: which pane (or which external agent) a socket peer runs under.
//! The peer's pid comes from the kernel (SO_PEERCRED), not from anything the peer says.

/// The parent of `pid`, from /proc/PID/stat (the field after the parenthesised name, which
/// may itself hold spaces and parentheses).
pub fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and its ancestors, nearest first, up to (not including) pid 1.
pub fn lineage(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut current = pid;
    // A cycle cannot happen in a real process tree; the bound keeps a race from looping.
    while current > 1 && out.len() < 128 {
        out.push(current);
        match parent(current) {
            Some(p) => current = p,
            None => break,
        }
    }
    out
}

/// The working directory of a process, if it can be read.
pub fn cwd(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok().map(|p| p.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_descends_from_its_parent() {
        let me = std::process::id();
        let line = lineage(me);
        assert_eq!(line[0], me);
        assert_eq!(line.get(1).copied(), parent(me));
        assert!(!line.contains(&1));
    }
}
