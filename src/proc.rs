//! Processes as /proc shows them: ancestry, session, command line, open files, cwd — what
//! tells which pane (or which external agent) a socket peer runs under. The peer's pid comes
//! from the kernel (SO_PEERCRED), not from anything the peer says.

/// The parent of `pid`, from /proc/PID/stat (the field after the parenthesised name, which
/// may itself hold spaces and parentheses).
pub fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The fields of /proc/PID/stat after the parenthesised name: state, ppid, pgrp, session, …
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().take(4).map(str::to_owned).collect())
}

/// The state letter and parent of `pid` (from /proc/PID/stat).
fn state_and_parent(pid: u32) -> Option<(char, u32)> {
    let fields = stat_fields(pid)?;
    Some((fields.first()?.chars().next()?, fields.get(1)?.parse().ok()?))
}

/// Make this process the one orphans of its descendants are given to (instead of init), so a
/// process that left its pane with a double fork still has the server above it.
pub fn become_subreaper() {
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        tracing::warn!("cannot become a subreaper ({e}): a process that leaves its pane looks like one outside sbx");
    }
}

/// Children this process started itself and waits for (besides panes): the reaper leaves them.
/// Held across spawn and across a reaping pass, so a child that exits at once is never reaped
/// before it is named here.
static WAITED_FOR: std::sync::Mutex<std::collections::BTreeSet<u32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Spawn `command` as a child that its caller waits for: `reap_children` will not take it.
/// Call `waited(pid)` once it has been waited for.
pub fn spawn_waited(command: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let mut own = WAITED_FOR.lock().unwrap_or_else(|e| e.into_inner());
    let child = command.spawn()?;
    own.extend(child.id());
    Ok(child)
}

/// `pid` (from `spawn_waited`) has been waited for.
pub fn waited(pid: u32) {
    WAITED_FOR.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid);
}

/// Reap this process's children that have exited, except those `keep` names and those started
/// with `spawn_waited` (whoever started them waits for them). A subreaper is given every orphan
/// below it: without this they would stay zombies. Returns how many were reaped.
pub fn reap_children(keep: impl Fn(u32) -> bool) -> usize {
    let own = WAITED_FOR.lock().unwrap_or_else(|e| e.into_inner());
    let keep = |pid| own.contains(&pid) || keep(pid);
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let mut reaped = 0;
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if !matches!(state_and_parent(pid), Some(('Z', parent)) if parent == me) || keep(pid) {
            continue;
        }
        let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else { continue };
        if let Ok(Some(_)) = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
            reaped += 1;
        }
    }
    reaped
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

/// Where a process runs, as far as sbx is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin<T> {
    /// Inside a pane: a descendant of its first process, or a member of its terminal session.
    Pane(T),
    /// Started inside a pane but no longer under it nor in its session (a double fork with
    /// `setsid`): it was adopted by the server (a subreaper), so it came from some pane, and
    /// which one cannot be told.
    LeftPane,
    Outside,
}

/// Where `pid` runs. `pane` answers for a pane's first process. Three anchors, each of which
/// a process inherits and cannot shed on its own: its ancestry; its session (the pane's first
/// process leads one, and a fork keeps it even once its parent is gone); and, for one that
/// left both with `setsid` and a double fork, the server as its adoptive parent.
pub fn origin<T>(pid: u32, pane: impl Fn(u32) -> Option<T>) -> Origin<T> {
    let lineage = lineage(pid);
    if let Some(found) = lineage.iter().find_map(|p| pane(*p)) {
        return Origin::Pane(found);
    }
    if let Some(found) = session(pid).and_then(&pane) {
        return Origin::Pane(found);
    }
    if lineage.contains(&std::process::id()) {
        return Origin::LeftPane;
    }
    Origin::Outside
}

/// The session (its leader's pid) a process belongs to. None when the leader lives outside
/// this pid namespace: the kernel then reports 0 (a container started without its own session
/// leader), which is why this reads /proc rather than calling getsid (rustix panics on a 0).
pub fn session(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(3)?.parse().ok().filter(|sid| *sid > 0)
}

/// The command line of a process, one argument per entry.
pub fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The files a process holds open (what its descriptors point at).
pub fn open_files(pid: u32) -> Vec<std::path::PathBuf> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    dir.flatten().filter_map(|fd| std::fs::read_link(fd.path()).ok()).collect()
}

/// A variable from the environment a process was started with (what /proc shows: the
/// process's own later changes are not there).
pub fn env_var(pid: u32, name: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    bytes.split(|b| *b == 0).find_map(|kv| {
        kv.strip_prefix(prefix.as_bytes()).map(|v| String::from_utf8_lossy(v).into_owned()).filter(|v| !v.is_empty())
    })
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

    /// A child that leads a session of its own, as a pane's first process does.
    fn session_leader() -> std::process::Child {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new("sleep");
        command.arg("30");
        // SAFETY: setsid is async-signal-safe and touches nothing of the parent's.
        unsafe { command.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into)) };
        command.spawn().unwrap()
    }

    #[test]
    fn a_session_is_read_even_where_its_leader_is_outside_the_namespace() {
        let mut leader = session_leader();
        assert_eq!(session(leader.id()), Some(leader.id()));
        // The test's own session may be led from outside the container (the kernel says 0):
        // that is "no session sbx can name", never a panic.
        assert_ne!(session(std::process::id()), Some(0));
        assert_eq!(session(u32::MAX), None);
        leader.kill().unwrap();
        leader.wait().unwrap();
    }

    #[test]
    fn a_process_is_found_by_its_ancestry_or_its_session() {
        let me = std::process::id();
        let mut leader = session_leader();
        let sid = session(leader.id()).unwrap();
        assert_eq!(origin(leader.id(), |p| (p == sid).then_some(1)), Origin::Pane(1));
        leader.kill().unwrap();
        leader.wait().unwrap();
        assert_eq!(origin(me, |p| (p == me).then_some(7)), Origin::Pane(7));
        // Here the test process plays the server: anything under it that no pane claims left one.
        assert_eq!(origin(me, |_| None::<u8>), Origin::LeftPane);
        assert!(cmdline(me).iter().any(|a| a.contains("sbx")), "{:?}", cmdline(me));
    }
}
