//! Live upgrade (`sbx upgrade`): the running server becomes a new binary without losing a pane.
//! It is one process throughout — the server `exec`s the new binary — so every pane's child
//! stays its child (its exit status still comes here) and every descriptor it names survives:
//! the PTY masters, the listening socket (a client that connects meanwhile waits in its
//! backlog) and the lock. What the new binary must know arrives as text in a memfd (never on
//! disk: screens can hold secrets): the structure, each pane's engine as escapes, agents' state.
//!
//! Steps: the new binary is asked whether it reads this handoff format (`sbx server
//! --handoff-format`, a child with a deadline: a binary that cannot run is refused while
//! nothing has changed yet); every pane's reader stops once what it read is parsed (`Hold`);
//! attached clients are told to become the new binary and attach again (`Upgrading`); then
//! `exec`. The new server takes the panes over (`Model::adopt`) and reads on.

use std::collections::BTreeSet;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::model::handoff::HandedPane;
use super::{Internal, Server, Snapshot};
use crate::pane::PaneId;
use crate::protocol::ServerMsg;

/// Bumped when `Handoff` changes shape; the old server asks the new binary which it reads.
pub const HANDOFF_FORMAT: u32 = 1;
/// How long the new binary has to say which format it reads.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the readers have to parse what they hold. A reader still busy then (a parser
/// stuck on a pathological stream) loses at most what it holds: a bounded hand-off.
const HOLD_TIMEOUT: Duration = Duration::from_secs(3);
/// How long goodbyes (the requester's answer, the clients' `Upgrading`) may take to go out.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// What the new binary reads from the memfd it is given.
#[derive(Serialize, Deserialize)]
pub struct Handoff {
    pub format: u32,
    /// The listening socket's and the lock file's descriptors.
    pub listener: RawFd,
    pub lock: RawFd,
    pub snapshot: Snapshot,
    pub panes: Vec<HandedPane>,
}

pub use super::conn::UpgradeReply as Answer;

/// An upgrade in progress.
pub struct Upgrade {
    exe: PathBuf,
    answer: Option<Answer>,
    /// Panes whose readers have not yet stopped (while holding).
    waiting: BTreeSet<PaneId>,
    deadline: Option<Instant>,
    /// Every reader has stopped (or the deadline passed): hand over at the end of this turn.
    pub ready: bool,
}

/// The descriptors that must survive the exec besides the panes'.
#[derive(Clone, Copy)]
pub struct KeptFds {
    pub listener: RawFd,
    pub lock: RawFd,
}

impl Server {
    /// The panes a server before this one handed over, taken over as they were.
    pub(super) fn adopt(&mut self, handoff: Handoff) {
        let handed = handoff.panes.len();
        let kept = self.model.adopt(&handoff.snapshot, handoff.panes);
        tracing::info!("live upgrade: {kept} of {handed} panes taken over");
        self.notice = Some(match kept == handed {
            true => format!("upgraded in place: {kept} panes kept"),
            false => format!("upgraded in place: {kept} of {handed} panes kept (see server.log)"),
        });
    }

    /// `sbx upgrade` asks to hand over to `exe`.
    pub(super) fn begin_upgrade(&mut self, exe: PathBuf, answer: Answer) {
        if self.upgrade.is_some() {
            let _ = answer.send((Err("an upgrade is already under way".into()), oneshot::channel().0));
            return;
        }
        if let Err(why) = usable_binary(&exe) {
            let _ = answer.send((Err(why), oneshot::channel().0));
            return;
        }
        let internal = self.internal.clone();
        let check = exe.clone();
        tokio::spawn(async move {
            let _ = internal.send(Internal::UpgradeChecked(reads_our_format(&check).await));
        });
        self.upgrade =
            Some(Upgrade { exe, answer: Some(answer), waiting: BTreeSet::new(), deadline: None, ready: false });
    }

    /// The new binary answered whether it reads our handoff.
    pub(super) fn upgrade_checked(&mut self, result: Result<(), String>) {
        let Some(upgrade) = self.upgrade.as_mut() else { return };
        if let Err(why) = result {
            if let Some(answer) = self.upgrade.take().and_then(|u| u.answer) {
                let _ = answer.send((Err(why), oneshot::channel().0));
            }
            return;
        }
        upgrade.waiting = self.model.panes.iter().filter(|(_, p)| p.is_alive()).map(|(id, _)| *id).collect();
        upgrade.deadline = Some(Instant::now() + HOLD_TIMEOUT);
        upgrade.ready = upgrade.waiting.is_empty();
        self.hold.set(true);
    }

    /// A pane's reader stopped (or its child exited) during the hold.
    pub(super) fn upgrade_pane_quiet(&mut self, id: PaneId) {
        if let Some(upgrade) = self.upgrade.as_mut().filter(|u| u.deadline.is_some()) {
            upgrade.waiting.remove(&id);
            upgrade.ready |= upgrade.waiting.is_empty();
        }
    }

    pub(super) fn upgrade_deadline(&self) -> Option<Instant> {
        self.upgrade.as_ref().filter(|u| !u.ready).and_then(|u| u.deadline)
    }

    pub(super) fn upgrade_timer(&mut self) {
        if let Some(upgrade) = self.upgrade.as_mut() {
            if upgrade.deadline.is_some_and(|d| d <= Instant::now()) && !upgrade.ready {
                tracing::warn!("panes {:?} did not stop reading in time; handing over anyway", upgrade.waiting);
                upgrade.ready = true;
            }
        }
    }

    pub(super) fn upgrade_ready(&self) -> bool {
        self.upgrade.as_ref().is_some_and(|u| u.ready)
    }

    /// Hand everything to the new binary. Returns only if that failed (the server goes on,
    /// its readers let go again).
    pub(super) async fn hand_over(&mut self) {
        let Some(mut upgrade) = self.upgrade.take() else { return };
        // Whatever happens next, a crash from here on still restores.
        self.persist.tick_now(&self.model);
        self.persist.flush();
        let result = self.prepare_handoff();
        let (memfd, kept) = match result {
            Ok(prepared) => prepared,
            Err(why) => {
                tracing::error!("cannot prepare the upgrade: {why}");
                self.hold.set(false);
                if let Some(answer) = upgrade.answer.take() {
                    let _ = answer.send((Err(why), oneshot::channel().0));
                }
                return;
            }
        };
        let panes = self.model.panes.len();
        if let Some(answer) = upgrade.answer.take() {
            let (done_tx, done_rx) = oneshot::channel();
            let message = format!("handing {panes} panes over to {}", upgrade.exe.display());
            if answer.send((Ok(message), done_tx)).is_ok() {
                let _ = tokio::time::timeout(FLUSH_TIMEOUT, done_rx).await;
            }
        }
        let clients = std::mem::take(&mut self.front.clients);
        for client in clients.values() {
            client.send(ServerMsg::Upgrading { exe: upgrade.exe.clone(), session: client.session.clone() });
        }
        // Each client's writer ends after `Upgrading`; wait until all have delivered it.
        let flushed = Instant::now() + FLUSH_TIMEOUT;
        while clients.values().any(|c| !c.gone()) && Instant::now() < flushed {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(clients);
        let error = std::process::Command::new(&upgrade.exe)
            .arg("server")
            .arg("--adopt")
            .arg(memfd.as_raw_fd().to_string())
            .exec();
        // Still here: the exec failed. Nothing was lost but the clients, which reattach.
        tracing::error!("cannot run {}: {error}; this server carries on", upgrade.exe.display());
        for fd in kept {
            let _ = set_cloexec(fd, true);
        }
        self.hold.set(false);
    }

    /// The memfd holding the handoff, and every descriptor it names (made to survive exec).
    fn prepare_handoff(&mut self) -> Result<(OwnedFd, Vec<RawFd>), String> {
        let fds = self.kept_fds.ok_or("this server has no descriptors to hand over")?;
        let (snapshot, panes) = self.model.hand_off();
        let mut kept = vec![fds.listener, fds.lock];
        kept.extend(panes.iter().map(|p| p.fd));
        let handoff = Handoff { format: HANDOFF_FORMAT, listener: fds.listener, lock: fds.lock, snapshot, panes };
        let text = serde_json::to_vec(&handoff).map_err(|e| format!("cannot write the handoff: {e}"))?;
        let memfd = rustix::fs::memfd_create("sbx-handoff", rustix::fs::MemfdFlags::empty())
            .map_err(|e| format!("cannot make a memfd: {e}"))?;
        let mut file = std::fs::File::from(memfd);
        file.write_all(&text).and_then(|_| file.rewind()).map_err(|e| format!("cannot fill the memfd: {e}"))?;
        for &fd in &kept {
            set_cloexec(fd, false).map_err(|e| format!("cannot keep descriptor {fd} open: {e}"))?;
        }
        kept.push(file.as_raw_fd());
        Ok((file.into(), kept))
    }
}

fn set_cloexec(fd: RawFd, on: bool) -> rustix::io::Result<()> {
    // SAFETY: only descriptors this server holds open are named here, for the call's length.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = if on { rustix::io::FdFlags::CLOEXEC } else { rustix::io::FdFlags::empty() };
    rustix::io::fcntl_setfd(fd, flags)
}

/// What is wrong with `exe` as a binary to become, before anything is tried.
fn usable_binary(exe: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !exe.is_absolute() {
        return Err(format!("{} is not an absolute path", exe.display()));
    }
    let meta = std::fs::metadata(exe).map_err(|e| format!("cannot use {}: {e}", exe.display()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not an executable file", exe.display()));
    }
    // The server runs as this binary next, holding every pane: it must be as much the user's
    // as the server is (theirs or root's, and no one else can change it).
    if meta.uid() != rustix::process::getuid().as_raw() && meta.uid() != 0 {
        return Err(format!("{} belongs to another user", exe.display()));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(format!("{} is writable by other users (chmod go-w it first)", exe.display()));
    }
    Ok(())
}

/// Ask `exe` which handoff format it reads; it must be ours.
async fn reads_our_format(exe: &Path) -> Result<(), String> {
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["server", "--handoff-format"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = crate::proc::spawn_waited(&mut command).map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let pid = child.id();
    let answer = tokio::time::timeout(CHECK_TIMEOUT, child.wait_with_output()).await;
    if let Some(pid) = pid {
        crate::proc::waited(pid);
    }
    let output = match answer {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("cannot run {}: {e}", exe.display())),
        Err(_) => return Err(format!("{} did not answer within {CHECK_TIMEOUT:?}", exe.display())),
    };
    let said = String::from_utf8_lossy(&output.stdout);
    match said.trim().strip_prefix("sbx-handoff ").and_then(|v| v.parse::<u32>().ok()) {
        Some(HANDOFF_FORMAT) => Ok(()),
        Some(other) => Err(format!(
            "{} reads handoff format {other}, this server writes {HANDOFF_FORMAT}: restart instead (sbx kill-server, then sbx restore)",
            exe.display()
        )),
        None => Err(format!("{} is not an sbx that can take over a running server", exe.display())),
    }
}

/// The handoff in memfd `fd` (from `sbx server --adopt FD`).
pub fn read_handoff(fd: RawFd) -> anyhow::Result<Handoff> {
    // SAFETY: the server before this one passed this descriptor for exactly this.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut text = Vec::new();
    std::fs::File::from(memfd).read_to_end(&mut text)?;
    let handoff: Handoff = serde_json::from_slice(&text)?;
    anyhow::ensure!(handoff.format == HANDOFF_FORMAT, "handoff format {} is not {HANDOFF_FORMAT}", handoff.format);
    Ok(handoff)
}

/// Take back a descriptor the server before this one kept open, closing on exec again.
pub fn take_fd(fd: RawFd) -> OwnedFd {
    let _ = set_cloexec(fd, true);
    // SAFETY: named in the handoff as ours; nothing else in this process owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
