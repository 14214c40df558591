//! `sbx id`, `sbx friend`, `sbx sessions`, `sbx send`, `sbx inbox`, `sbx open`: sharing agent
//! sessions with friends through a relay, sealed end to end.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::output::{errln, outln, plain, print_json, write_err, CliResult, Error};
use crate::config::paths::Paths;
use crate::relay::client::{RelayClient, Signer};
use crate::relay::wire;
use crate::share::envelope::{self, Opened};
use crate::share::friends::Friends;
use crate::share::identity::{self, Identity};
use crate::share::inbox;
use crate::share::sessions::{self, Session, Tool};

pub(super) fn err(e: impl std::fmt::Display, next: &str) -> Error {
    Error::new("share_failed", e.to_string(), next)
}

use crate::share::{me, relay};

pub async fn id(key: Option<PathBuf>, json: bool, paths: &Paths) -> CliResult {
    let (me, created) = identity::load_or_create(paths, key.as_deref())
        .map_err(|e| err(format!("{e:#}"), "use an unencrypted ed25519 key (ssh-keygen -t ed25519 -N '')"))?;
    // Publishing is best effort: a relay that is down is a warning, not an error.
    let published = match relay(paths) {
        Ok(client) => match client.publish(&me).await {
            Ok(_) => Ok(client.url().to_string()),
            Err(e) => Err(format!("not published: {e}")),
        },
        Err(e) => Err(format!("not published: {}", e.message)),
    };
    if json {
        print_json(&json!({
            "echo_id": me.echo_id(), "fingerprint": me.fingerprint(), "public_key": me.public_line(),
            "key": me.path, "created": created, "published": published.as_ref().ok(), "warning": published.as_ref().err(),
        }));
    } else {
        outln!("echo-id:     {}", me.echo_id());
        outln!("fingerprint: {}", me.fingerprint());
        outln!("key:         {}{}", me.path.display(), if created { " (new)" } else { "" });
        match &published {
            Ok(url) => outln!("published:   {url}"),
            Err(w) => errln!("sbx: warning: {w}\n  next: start the relay or set SBX_RELAY, then run sbx id again"),
        }
        outln!("Friends add you with: sbx friend add <your name> {}", me.echo_id());
    }
    Ok(())
}

fn age_secs(t: i64) -> String {
    let d = (wire::now_secs() - t).max(0);
    match d {
        0..=59 => format!("{d}s ago"),
        60..=3599 => format!("{}m ago", d / 60),
        3600..=86399 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86400),
    }
}

pub fn list_sessions(tool: Option<Tool>, n: usize, json: bool) -> CliResult {
    let list: Vec<Session> = sessions::list(tool).into_iter().take(n).collect();
    if json {
        let v: Vec<serde_json::Value> = list
            .iter()
            .map(|s| json!({ "tool": s.tool, "id": s.id, "project": s.project, "title": s.title, "updated": wire::rfc3339(s.updated) }))
            .collect();
        print_json(&v);
        return Ok(());
    }
    if list.is_empty() {
        outln!(
            "no agent sessions found (Claude Code in {}, Codex in {})",
            sessions::claude_home().display(),
            sessions::codex_home().display()
        );
    }
    for s in &list {
        outln!(
            "{:<6} {}  {:<9} {:<30} {}",
            s.tool.name(),
            s.id,
            age_secs(s.updated),
            plain(&truncate(&s.project, 30)),
            plain(&s.title)
        );
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    format!("…{}", s.chars().skip(count - n + 1).collect::<String>())
}

/// The session to send: the one named (id or a unique prefix), else this pane's, else the newest
/// of this directory.
async fn pick_session(id: Option<String>, paths: &Paths) -> CliResult<Session> {
    let all = sessions::list(None);
    if let Some(id) = id {
        if !sessions::valid_session_id(&id) {
            return Err(err(format!("{id:?} is not a session id"), "list them: sbx sessions"));
        }
        let found: Vec<&Session> = all.iter().filter(|s| s.id.starts_with(&id)).collect();
        return match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(err(format!("no local session {id}"), "list them: sbx sessions")),
            many => Err(Error::choose(
                "ambiguous",
                format!(
                    "{id} fits {} sessions: {}",
                    many.len(),
                    many.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
                "give more of the id",
            )),
        };
    }
    if let Ok(pane) = std::env::var("SBX_PANE_ID") {
        if let Ok(crate::protocol::Reply::List(list)) = super::simple(paths, crate::protocol::Command::List).await {
            let agent_session = list
                .iter()
                .flat_map(|s| &s.tabs)
                .flat_map(|t| &t.panes)
                .find(|p| p.id == pane)
                .and_then(|p| p.agent.as_ref())
                .and_then(|a| a.session_id.clone());
            if let Some(sid) = agent_session {
                if let Some(s) = all.iter().find(|s| s.id == sid) {
                    return Ok(s.clone());
                }
            }
        }
    }
    let here = std::env::current_dir().ok().and_then(|d| std::fs::canonicalize(d).ok()).unwrap_or_default();
    if let Some(s) = all.iter().find(|s| !s.project.is_empty() && Path::new(&s.project) == here) {
        return Ok(s.clone());
    }
    let recent: Vec<String> = all.iter().take(5).map(|s| format!("{} {} ({})", s.tool.name(), s.id, s.title)).collect();
    Err(Error::choose(
        "ambiguous",
        format!(
            "no agent session ran in {}; recent ones: {}",
            here.display(),
            if recent.is_empty() { "none".into() } else { recent.join("; ") }
        ),
        "name one: sbx send FRIEND SESSION-ID (sbx sessions lists them)",
    ))
}

pub async fn send(friend: String, session: Option<String>, json: bool, paths: &Paths) -> CliResult {
    let session = pick_session(session, paths).await?;
    let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last = 0u64;
    let progress = move |done: u64, total: u64| {
        if show && total > 8 << 20 && done - last > total / 100 {
            last = done;
            write_err(
                format!("\rsealing {:>3}% ({} of {} MB)", done * 100 / total.max(1), done >> 20, total >> 20)
                    .as_bytes(),
            );
            if done >= total {
                errln!();
            }
        }
    };
    let sent = crate::share::send::send(paths, &friend, session, progress).await?;
    let m = &sent.manifest;
    if json {
        print_json(&json!({
            "to": friend, "blob": sent.blob, "tool": m.tool, "session_id": m.session_id,
            "title": m.title, "files": m.files.len(), "bytes": sent.bytes, "ttl": sent.ttl,
            "expires_at": sent.expires_at,
        }));
    } else {
        outln!(
            "sent {} session {} ({}, {} files, {} bytes sealed) to {friend}; it waits on the relay until {}",
            m.tool,
            m.session_id,
            if m.title.is_empty() { "untitled".into() } else { plain(&m.title) },
            m.files.len(),
            sent.bytes,
            sent.expires_at
        );
    }
    Ok(())
}

fn ensure(dir: &Path) -> CliResult<&Path> {
    crate::config::paths::ensure_private_dir(dir)?;
    Ok(dir)
}

/// A blob from the relay in the local cache (downloaded once), bounded by the listed size.
async fn cached(client: &RelayClient, me: &Identity, paths: &Paths, id: &str, size: u64) -> CliResult<PathBuf> {
    if !wire::valid_blob_id(id) {
        return Err(err(format!("{id:?} is not a blob id"), "see them: sbx inbox"));
    }
    ensure(&paths.data.join("inbox"))?;
    let path = inbox::cached_path(paths, id);
    if path.exists() {
        return Ok(path);
    }
    let bytes =
        client.fetch_all(me, id, size).await.map_err(|e| err(e, "try again; sbx inbox lists what is waiting"))?;
    crate::config::paths::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Open a cached envelope, checking the sender: a friend, or (allowed) a key from the relay
/// that hashes to the id the manifest claims. The signature is always verified. An envelope
/// refused by its checks leaves the cache (it can be fetched again while the relay has it).
async fn open_cached(
    path: PathBuf,
    me: &Identity,
    paths: &Paths,
    allow_unknown: bool,
) -> CliResult<(Opened, Option<String>)> {
    let friends = Friends::load(paths).map_err(|e| err(format!("{e:#}"), "fix friends.toml"))?;
    let client = relay(paths).ok();
    let age = me.age().map_err(|e| err(format!("{e:#}"), "check your identity: sbx id"))?;
    let staging = paths.data.join("staging");
    let handle = tokio::runtime::Handle::current();
    let cached = path.clone();
    let opened = tokio::task::spawn_blocking(move || -> anyhow::Result<(Opened, Option<String>)> {
        let file = std::fs::File::open(&path)?;
        let size = file.metadata()?.len();
        let mut from = None;
        let relay = client.as_ref().filter(|_| allow_unknown).map(|c| (c, handle));
        let opened = {
            let mut lookup = inbox::sender_key(&friends, relay, &mut from);
            envelope::open(std::io::BufReader::new(file), size, &age, &mut lookup, &staging, false)?
        };
        Ok((opened, from))
    })
    .await
    .map_err(|e| err(e, "try again"))?;
    match opened {
        Ok(opened) => Ok(opened),
        Err(e) => {
            let message = format!("{e:#}");
            if inbox::is_refusal(&message) {
                let _ = std::fs::remove_file(&cached);
            }
            let next = if message.contains("--allow-unknown") {
                "if you know the sender: sbx open ID --allow-unknown, or sbx friend add NAME ECHO-ID first"
            } else {
                "nothing was installed; ask the sender to send it again"
            };
            Err(err(message, next))
        }
    }
}

pub async fn inbox(json: bool, paths: &Paths) -> CliResult {
    let me = me(paths)?;
    let client = relay(paths)?;
    let friends = Friends::load(paths).map_err(|e| err(format!("{e:#}"), "fix friends.toml"))?;
    let waiting = inbox::waiting(&client, &me, &friends, paths)
        .await
        .map_err(|e| err(e, "check the relay (SBX_RELAY) and try again"))?;
    let mut rows = Vec::new();
    for w in &waiting {
        let blob = &w.blob;
        let row = match (&w.checked, &w.fetch_error) {
            (Some(Ok(h)), _) => json!({
                "id": blob.id, "size": blob.size, "received_at": blob.received_at,
                "from": friends.by_echo_id(&h.sender_echo_id).map(|(name, _)| name),
                "sender_echo_id": h.sender_echo_id, "verified": true, "tool": h.tool,
                "session_id": h.session_id, "title": h.title, "project": h.project,
            }),
            (Some(Err(why)), _) => {
                json!({ "id": blob.id, "size": blob.size, "received_at": blob.received_at, "verified": false, "error": why })
            }
            (None, why) => json!({ "id": blob.id, "size": blob.size, "verified": false, "error": why }),
        };
        rows.push(row);
    }
    if json {
        print_json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        outln!("nothing waiting");
    }
    // Everything below came from strangers: shown as text, never as terminal controls.
    for r in &rows {
        let s = |k: &str| plain(r.get(k).and_then(|v| v.as_str()).unwrap_or(""));
        if r["verified"] == true {
            let from = r["from"].as_str().map_or_else(|| format!("UNKNOWN {}", s("sender_echo_id")), plain);
            outln!("{}  from {from:<16} {:<6} {}  {}", s("id"), s("tool"), s("session_id"), s("title"));
        } else {
            outln!("{}  REFUSED: {}", s("id"), s("error"));
        }
    }
    Ok(())
}

pub async fn open(
    id: Option<String>,
    dir: Option<PathBuf>,
    allow_unknown: bool,
    resume: bool,
    force: bool,
    json: bool,
    paths: &Paths,
) -> CliResult {
    let me = me(paths)?;
    let client = relay(paths)?;
    let list = client.list(&me, None).await.map_err(|e| err(e, "check the relay (SBX_RELAY) and try again"))?;
    let blob = match &id {
        None => list.last().ok_or_else(|| err("nothing is waiting for you", "ask your friend to sbx send it"))?,
        Some(id) => {
            let found: Vec<_> = list.iter().filter(|b| b.id.starts_with(id.as_str())).collect();
            match found.as_slice() {
                [one] => *one,
                [] => return Err(err(format!("no blob {id} is waiting"), "see them: sbx inbox")),
                _ => {
                    return Err(Error::choose(
                        "ambiguous",
                        format!("{id} fits several blobs"),
                        "give more of the id (sbx inbox)",
                    ))
                }
            }
        }
    };
    let dir = match dir {
        Some(d) => std::fs::canonicalize(&d)
            .map_err(|e| err(format!("{}: {e}", d.display()), "pass an existing directory with --dir"))?,
        None => std::env::current_dir()?,
    };
    let path = cached(&client, &me, paths, &blob.id, blob.size).await?;
    let (opened, from) = open_cached(path.clone(), &me, paths, allow_unknown).await?;
    let installed = crate::share::install::install(&opened, &dir, force)
        .map_err(|e| err(format!("{e:#}"), "nothing was installed; see the message"))?;
    // Opened and installed: the relay's copy and ours can go.
    if let Err(e) = client.delete(&me, &blob.id).await {
        errln!("sbx: warning: the relay kept its copy ({e}); it expires on its own");
    }
    let _ = std::fs::remove_file(&path);
    let command =
        format!("cd {} && {}", crate::agents::shell_quote(&dir.display().to_string()), installed.resume.join(" "));
    if json {
        print_json(&json!({
            "blob": blob.id, "from": from, "sender_echo_id": opened.manifest.sender_echo_id, "tool": opened.manifest.tool,
            "session_id": opened.manifest.session_id, "files": installed.files, "resume": command,
        }));
    } else {
        let who = from.unwrap_or_else(|| format!("UNKNOWN {}", opened.manifest.sender_echo_id));
        // opencode's sessions are rows of its database, which its own import wrote.
        let how = match installed.files.len() {
            0 => "imported by the agent itself".to_string(),
            n => format!("{n} files"),
        };
        outln!("opened {} session {} from {who} ({how})", opened.manifest.tool, opened.manifest.session_id);
        outln!("resume it: {command}");
    }
    if resume {
        // Inside sbx: the server starts the agent as a tracked pane beside this one (no
        // `sbx init` needed for its state, bridge and sharing); this process then ends, so a
        // pane that ran only this (prefix O) gives its place to the agent.
        if let Ok(beside) = std::env::var("SBX_PANE_ID") {
            let kind = opened.tool.agent();
            let pane = crate::protocol::PaneSpec {
                cwd: Some(dir.clone()),
                agent: Some(kind),
                resume: Some(opened.manifest.session_id.clone()),
                ..Default::default()
            };
            let split = crate::protocol::Command::Split {
                target: Some(beside),
                direction: crate::protocol::SplitDirection::Right,
                pane,
            };
            let reply = super::simple(paths, split).await?;
            if let crate::protocol::Reply::Pane(info) = reply {
                if !json {
                    outln!("resumed in {}", info.id);
                }
            }
            return Ok(());
        }
        use std::os::unix::process::CommandExt;
        let e = std::process::Command::new(&installed.resume[0]).args(&installed.resume[1..]).current_dir(&dir).exec();
        return Err(err(
            format!("cannot run {}: {e}", installed.resume[0]),
            "install the agent CLI, then run the command above",
        ));
    }
    Ok(())
}
