//! `sbx msg`, `sbx channel`, `sbx search`, `sbx artifact`: the bridge for people and scripts.
//! Inside a pane they speak for that pane; `--as` acts as another one from outside panes.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use super::output::{outln, plain, print_json, sanitize, CliResult, Error};
use crate::bridge::client::Link;
use crate::bridge::BridgeOp;
use crate::config::paths::Paths;

#[derive(Subcommand)]
pub enum MsgCmd {
    /// Send a message: TO is a pane id, label, directory, session id (prefix), #channel or `user`.
    Send {
        /// Who gets it: pane id, label, directory, session id (prefix), #channel or `user`.
        to: String,
        /// The message's one-line subject.
        subject: String,
        /// The message's text, when the subject is not all of it.
        #[arg(long)]
        body: Option<String>,
        /// Attach a file (repeatable); it is stored as an artifact and sent by its sha256.
        #[arg(long = "artifact")]
        artifacts: Vec<PathBuf>,
        /// Answer this message (same thread).
        #[arg(long)]
        reply_to: Option<i64>,
    },
    /// List unread messages (--all: read ones too).
    Inbox {
        /// Read messages too, not only unread ones.
        #[arg(long)]
        all: bool,
        /// At most this many messages, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show a message in full and mark it read.
    Read {
        /// The message's id (as `sbx msg inbox` lists it).
        id: i64,
    },
    /// Mark messages read.
    MarkRead {
        /// The messages' ids.
        ids: Vec<i64>,
    },
    /// Show the thread a message belongs to.
    Thread {
        /// Any message of the thread.
        id: i64,
    },
    /// Send TEXT to every online session; it expires after --ttl seconds (default 3600).
    Broadcast {
        /// What to tell every session.
        text: String,
        /// Seconds until it expires (default 3600).
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Who you are to the bridge (this pane, --as, or `user`), with your unread count.
    Whoami,
    /// Agent sessions on this machine (--all: offline ones and plain panes too).
    Sessions {
        /// Offline sessions and plain panes too.
        #[arg(long)]
        all: bool,
    },
    /// Wait for a message (prints it), up to --timeout seconds.
    Wait {
        /// Give up after this many seconds (exit 1).
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
}

#[derive(Subcommand)]
pub enum ChannelCmd {
    /// Join a channel (it is created on first join); its posts reach you from then on.
    Join {
        /// The channel's name, with or without the leading #.
        channel: String,
    },
    /// Leave a channel.
    Leave {
        /// The channel's name, with or without the leading #.
        channel: String,
    },
    /// The channels you are in.
    List,
    /// Post to a channel you are in.
    Post {
        /// The channel's name, with or without the leading #.
        channel: String,
        /// The post's one-line subject.
        subject: String,
        /// The post's text, when the subject is not all of it.
        #[arg(long)]
        body: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ArtifactCmd {
    /// Store a file; prints its sha256.
    Put {
        /// The file to store.
        file: PathBuf,
    },
    /// Fetch an artifact to a file (-o), or to stdout.
    Get {
        /// The artifact's sha256 (as `artifact put` or a message prints it).
        sha: String,
        /// Write it to this file (refused if it exists); without -o, stdout (--json: a new file in this directory).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
}

/// Largest file `--artifact` will read: the socket's frame limit (the server applies its own,
/// usually smaller, limit).
const MAX_UPLOAD: u64 = (crate::protocol::MAX_FRAME - 1024 * 1024) as u64;

/// Whether a command may start a server: one that only reads never does (with no server
/// there is nothing to read, and saying so beats a server appearing behind the user's back).
#[derive(Clone, Copy, PartialEq)]
enum Access {
    Reads,
    Writes,
}

fn link(paths: &Paths, as_pane: Option<String>, access: Access) -> Link {
    let claim = as_pane.or_else(|| std::env::var("SBX_PANE_ID").ok().filter(|p| !p.is_empty()));
    match access {
        Access::Writes => Link::new(paths.clone(), claim),
        Access::Reads => Link::existing(paths.socket(), claim, crate::protocol::Via::Cli),
    }
}

async fn call(link: &Link, op: BridgeOp) -> CliResult<Value> {
    let json = link.call(op).await?;
    serde_json::from_str(&json)
        .map_err(|e| Error::new("bad_answer", format!("bad answer from the server: {e}"), "sbx kill-server"))
}

/// A relative directory address means the caller's directory, which only the caller knows.
fn absolute_address(to: &str) -> String {
    if to.starts_with('.') {
        if let Ok(path) = std::fs::canonicalize(to) {
            return path.display().to_string();
        }
    }
    to.to_string()
}

fn read_upload(path: &PathBuf) -> CliResult<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::new("bad_file", format!("cannot read {}: {e}", path.display()), "check the path"))?;
    if !meta.is_file() {
        return Err(Error::new("bad_file", format!("{} is not a file", path.display()), "attach a regular file"));
    }
    if meta.len() > MAX_UPLOAD {
        return Err(Error::new(
            "bad_file",
            format!("{} is {} bytes, more than sbx carries in one artifact", path.display(), meta.len()),
            "split it or compress it",
        ));
    }
    std::fs::read(path)
        .map_err(|e| Error::new("bad_file", format!("cannot read {}: {e}", path.display()), "check the file"))
}

/// A field of a bridge answer as one line of plain text: names, subjects and paths come from
/// agents, and none of them may drive the user's terminal.
fn s(v: &Value, k: &str) -> String {
    plain(v.get(k).and_then(Value::as_str).unwrap_or(""))
}

fn print_list(v: &Value) {
    let list = v.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    if list.is_empty() {
        outln!("no messages");
    }
    for m in &list {
        let unread = if m.get("read") == Some(&Value::Bool(false)) { " [unread]" } else { "" };
        outln!("{:>6}  {:<16} {}{unread}", m["id"], s(m, "from"), s(m, "subject"));
    }
}

fn print_message(m: &Value) {
    outln!("id:      {}", m["id"]);
    outln!("from:    {}", s(m, "from"));
    outln!("to:      {}", s(m, "to"));
    outln!("subject: {}", s(m, "subject"));
    outln!("thread:  {}", m["thread"]);
    if let Some(a) = m.get("artifacts").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        let list: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
        outln!("artifacts: {}", list.join(", "));
    }
    outln!();
    // Indented, as git shows a commit message: no line of a body can pass for a header.
    let body = sanitize(m.get("body").and_then(Value::as_str).unwrap_or(""), true);
    for line in body.lines() {
        outln!("    {line}");
    }
}

fn print_sent(v: &Value) {
    // To a friend's machine: queued here, posted and delivered later (`msg read` shows which).
    if v["status"] == "queued" {
        outln!("queued #{} for {} (sealed; sbx msg read {} shows when it is delivered)", v["id"], s(v, "to"), v["id"]);
        return;
    }
    let to: Vec<&str> = v
        .get("delivered_to")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let to: Vec<String> = to.into_iter().map(plain).collect();
    outln!("sent #{} to {}", v["id"], if to.is_empty() { "nobody yet".to_string() } else { to.join(", ") });
    if let Some(off) = v.get("offline").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        let off: Vec<String> = off.iter().filter_map(Value::as_str).map(plain).collect();
        outln!("offline (they get it when they come back): {}", off.join(", "));
    }
}

fn out(v: &Value, json: bool, text: impl FnOnce(&Value)) -> CliResult {
    if json {
        print_json(v);
    } else {
        text(v);
    }
    Ok(())
}

pub async fn msg(cmd: MsgCmd, as_pane: Option<String>, json: bool, paths: &Paths) -> CliResult {
    let access = match cmd {
        MsgCmd::Send { .. } | MsgCmd::MarkRead { .. } | MsgCmd::Broadcast { .. } => Access::Writes,
        MsgCmd::Inbox { .. }
        | MsgCmd::Read { .. }
        | MsgCmd::Thread { .. }
        | MsgCmd::Whoami
        | MsgCmd::Sessions { .. }
        | MsgCmd::Wait { .. } => Access::Reads,
    };
    let link = link(paths, as_pane, access);
    match cmd {
        MsgCmd::Send { to, subject, body, artifacts, reply_to } => {
            let mut shas = Vec::new();
            for file in &artifacts {
                let data = read_upload(file)?;
                let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
                let v = call(&link, BridgeOp::PutArtifact { name, data }).await?;
                shas.push(s(&v, "sha256"));
            }
            let op = BridgeOp::Send {
                to: absolute_address(&to),
                subject,
                body: body.unwrap_or_default(),
                artifacts: shas,
                reply_to,
            };
            out(&call(&link, op).await?, json, print_sent)
        }
        MsgCmd::Inbox { all, limit } => out(&call(&link, BridgeOp::ListInbox { all, limit }).await?, json, print_list),
        MsgCmd::Read { id } => out(&call(&link, BridgeOp::Read { id }).await?, json, print_message),
        MsgCmd::MarkRead { ids } => {
            out(&call(&link, BridgeOp::MarkRead { ids }).await?, json, |v| outln!("marked {} read", v["marked"]))
        }
        MsgCmd::Thread { id } => out(&call(&link, BridgeOp::Thread { id }).await?, json, |v| {
            for m in v.get("messages").and_then(Value::as_array).cloned().unwrap_or_default() {
                print_message(&m);
                outln!("---");
            }
        }),
        MsgCmd::Broadcast { text, ttl } => {
            let first = text.lines().next().unwrap_or("").trim();
            let mut subject: String = first.chars().take(80).collect();
            if subject.len() < first.len() {
                subject.push('…');
            }
            let op = BridgeOp::Broadcast { subject, body: text, ttl_secs: ttl };
            out(&call(&link, op).await?, json, print_sent)
        }
        MsgCmd::Whoami => out(&call(&link, BridgeOp::WhoAmI).await?, json, |v| {
            outln!("{} ({}), {} unread", s(v, "name"), s(v, "id"), v["unread"]);
        }),
        MsgCmd::Sessions { all } => out(&call(&link, BridgeOp::ListSessions { all }).await?, json, |v| {
            for e in v.get("sessions").and_then(Value::as_array).cloned().unwrap_or_default() {
                let online = if e.get("online") == Some(&Value::Bool(true)) { "" } else { " (offline)" };
                let field = |k: &str| e.get(k).and_then(Value::as_str).map(plain);
                let session = field("session_id").unwrap_or_else(|| s(&e, "id"));
                outln!(
                    "{:<14} {:<7} {:<9} {}  {}{online}",
                    s(&e, "name"),
                    field("agent").unwrap_or_else(|| "-".into()),
                    field("state").unwrap_or_else(|| "-".into()),
                    session,
                    s(&e, "cwd")
                );
            }
        }),
        MsgCmd::Wait { timeout } => {
            if !(0.0..=600.0).contains(&timeout) {
                return Err(Error::new(
                    "usage",
                    "--timeout must be between 0 and 600 seconds",
                    "wait again after that",
                ));
            }
            let op = BridgeOp::Wait { timeout_ms: (timeout * 1000.0) as u64, after: None };
            let v = call(&link, op).await?;
            // A timeout is an error, printed once as one (under --json: the error object only).
            if v.get("timed_out") == Some(&Value::Bool(true)) {
                return Err(Error::new("timeout", "no message came", "wait again: sbx msg wait --timeout S"));
            }
            out(&v, json, print_list)
        }
    }
}

pub async fn channel(cmd: ChannelCmd, as_pane: Option<String>, json: bool, paths: &Paths) -> CliResult {
    let access = match cmd {
        ChannelCmd::List => Access::Reads,
        ChannelCmd::Join { .. } | ChannelCmd::Leave { .. } | ChannelCmd::Post { .. } => Access::Writes,
    };
    let link = link(paths, as_pane, access);
    match cmd {
        ChannelCmd::Join { channel } => out(&call(&link, BridgeOp::Join { channel }).await?, json, |v| {
            outln!("in {} with {}", s(v, "channel"), members(v))
        }),
        ChannelCmd::Leave { channel } => {
            out(&call(&link, BridgeOp::Leave { channel }).await?, json, |v| outln!("left {}", s(v, "channel")))
        }
        ChannelCmd::List => out(&call(&link, BridgeOp::ListChannels).await?, json, |v| {
            let list = v.get("channels").and_then(Value::as_array).cloned().unwrap_or_default();
            if list.is_empty() {
                outln!("no channels");
            }
            for c in list {
                let mark = if c.get("member") == Some(&Value::Bool(true)) { "*" } else { " " };
                outln!("{mark} {:<20} {}", s(&c, "channel"), members(&c));
            }
        }),
        ChannelCmd::Post { channel, subject, body } => {
            let to = if channel.starts_with('#') { channel } else { format!("#{channel}") };
            let op = BridgeOp::Send { to, subject, body: body.unwrap_or_default(), artifacts: vec![], reply_to: None };
            out(&call(&link, op).await?, json, print_sent)
        }
    }
}

fn members(v: &Value) -> String {
    v.get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(plain).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

pub async fn search(query: String, limit: u32, as_pane: Option<String>, json: bool, paths: &Paths) -> CliResult {
    let link = link(paths, as_pane, Access::Reads);
    out(&call(&link, BridgeOp::Search { query, limit }).await?, json, print_list)
}

pub async fn artifact(cmd: ArtifactCmd, as_pane: Option<String>, json: bool, paths: &Paths) -> CliResult {
    let access = match cmd {
        ArtifactCmd::Put { .. } => Access::Writes,
        ArtifactCmd::Get { .. } => Access::Reads,
    };
    let link = link(paths, as_pane, access);
    match cmd {
        ArtifactCmd::Put { file } => {
            let data = read_upload(&file)?;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            out(&call(&link, BridgeOp::PutArtifact { name, data }).await?, json, |v| outln!("{}", s(v, "sha256")))
        }
        ArtifactCmd::Get { sha, output } => {
            let v = call(&link, BridgeOp::GetArtifact { sha }).await?;
            use base64::Engine;
            let data = base64::engine::general_purpose::STANDARD
                .decode(s(&v, "base64"))
                .map_err(|e| Error::new("bad_answer", format!("bad artifact data: {e}"), "sbx kill-server"))?;
            match output {
                Some(path) => {
                    crate::config::paths::write_atomic(&path, &data).map_err(|e| {
                        Error::new(
                            "write_failed",
                            format!("cannot write {}: {e:#}", path.display()),
                            "choose another -o path",
                        )
                    })?;
                    wrote(&v, data.len(), &path, json);
                }
                // One JSON document on stdout leaves no room for the bytes: they go to a new
                // file in this directory, named as the sender named it when that name is safe.
                None if json => {
                    let path = PathBuf::from(artifact_file_name(&s(&v, "name"), &s(&v, "sha256")));
                    crate::config::paths::write_new(&path, &data).map_err(|e| {
                        let (code, next) = match e.kind() {
                            std::io::ErrorKind::AlreadyExists => ("exists", "choose a path with -o PATH"),
                            _ => ("write_failed", "choose a path with -o PATH"),
                        };
                        Error::new(code, format!("cannot write {}: {e}", path.display()), next)
                    })?;
                    wrote(&v, data.len(), &path, json);
                }
                None => super::output::write_out(&data),
            }
            Ok(())
        }
    }
}

fn wrote(v: &Value, size: usize, path: &std::path::Path, json: bool) {
    if json {
        print_json(&serde_json::json!({ "sha256": v["sha256"], "size": size, "path": path }));
    } else {
        outln!("wrote {size} bytes to {}", path.display());
    }
}

/// The file name an artifact is saved under without -o: the name it was stored with when that
/// is a plain, visible file name (text from another agent is never a path), else its sha256.
fn artifact_file_name(name: &str, sha: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_alphanumeric() || "-_.+ ".contains(c));
    if plain {
        name.to_string()
    } else {
        sha.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::artifact_file_name;

    #[test]
    fn an_artifact_name_from_outside_is_never_a_path() {
        let sha = "ab".repeat(32);
        assert_eq!(artifact_file_name("notes.md", &sha), "notes.md");
        for hostile in ["../x", "/etc/passwd", ".bashrc", "a/b", "x\u{1b}[2J", "", ".."] {
            assert_eq!(artifact_file_name(hostile, &sha), sha, "{hostile:?}");
        }
    }
}
