//! `sbx id`, `sbx friend`, `sbx sessions`, `sbx send`, `sbx inbox`, `sbx open`: sharing agent
//! sessions with friends through a relay, sealed end to end.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use super::output::{print_json, CliError, CliResult};
use crate::config::paths::Paths;
use crate::relay::client::{RelayClient, Signer};
use crate::relay::wire;
use crate::share::envelope::{self, Opened};
use crate::share::friends::{valid_name, Friend, Friends};
use crate::share::identity::{self, Identity};
use crate::share::sessions::{self, Session, Tool};

#[derive(Subcommand)]
pub enum FriendCmd {
    /// Add a friend by echo-id (their key is fetched from the relay and checked against the id).
    Add {
        name: String,
        echo_id: String,
    },
    List,
    Rm {
        name: String,
    },
}

fn err(e: impl std::fmt::Display, next: &str) -> CliError {
    CliError::new(e.to_string(), next)
}

fn relay(paths: &Paths) -> CliResult<RelayClient> {
    let config = crate::config::Config::load(&paths.config);
    match RelayClient::configured(&config.settings.relay) {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(err(e, "set SBX_RELAY (or relay in config.toml) to the relay's http(s) URL")),
        None => Err(err("no relay is configured", "set SBX_RELAY=https://… (or relay = \"…\" in config.toml)")),
    }
}

fn me(paths: &Paths) -> CliResult<Identity> {
    match identity::load(paths) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(err("you have no identity yet", "create one: sbx id")),
        Err(e) => Err(err(format!("{e:#}"), "fix the key file, or choose another: sbx id --key PATH")),
    }
}

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
        println!("echo-id:     {}", me.echo_id());
        println!("fingerprint: {}", me.fingerprint());
        println!("key:         {}{}", me.path.display(), if created { " (new)" } else { "" });
        match &published {
            Ok(url) => println!("published:   {url}"),
            Err(w) => eprintln!("sbx: warning: {w}\n  next: start the relay or set SBX_RELAY, then run sbx id again"),
        }
        println!("Friends add you with: sbx friend add <your name> {}", me.echo_id());
    }
    Ok(())
}

pub async fn friend(cmd: FriendCmd, json: bool, paths: &Paths) -> CliResult {
    let mut friends = Friends::load(paths).map_err(|e| err(format!("{e:#}"), "fix friends.toml"))?;
    match cmd {
        FriendCmd::Add { name, echo_id } => {
            if !valid_name(&name) {
                return Err(err(
                    format!("{name:?} is not a usable name"),
                    "letters, digits, '-', '_', '.', at most 64",
                ));
            }
            if !wire::valid_echo_id(&echo_id) {
                return Err(err(
                    format!("{echo_id:?} is not an echo-id"),
                    "an echo-id is 20 lower-case hex characters (sbx id shows yours)",
                ));
            }
            if let Some(f) = friends.friends.get(&name).filter(|f| f.echo_id != echo_id) {
                return Err(err(
                    format!("{name} is already a friend (echo-id {})", f.echo_id),
                    "remove them first: sbx friend rm NAME",
                ));
            }
            let key = relay(paths)?.fetch_key(&echo_id).await.map_err(|e| {
                err(e, "check the echo-id with your friend, and that they ran sbx id against this relay")
            })?;
            let friend = Friend {
                echo_id: echo_id.clone(),
                public_key: identity::public_line(&key),
                added: wire::rfc3339(wire::now_secs()),
            };
            friends.friends.insert(name.clone(), friend);
            friends.save(paths)?;
            if json {
                print_json(&json!({ "name": name, "echo_id": echo_id, "fingerprint": wire::fingerprint(&key) }));
            } else {
                println!("added {name} ({echo_id}), key fingerprint {}", wire::fingerprint(&key));
            }
        }
        FriendCmd::List => {
            if json {
                print_json(&friends.friends);
            } else if friends.friends.is_empty() {
                println!("no friends yet: sbx friend add NAME ECHO-ID");
            } else {
                for (name, f) in &friends.friends {
                    println!("{name:<20} {}  added {}", f.echo_id, f.added);
                }
            }
        }
        FriendCmd::Rm { name } => {
            if friends.friends.remove(&name).is_none() {
                return Err(err(format!("no friend named {name}"), "see them: sbx friend list"));
            }
            friends.save(paths)?;
            if json {
                print_json(&json!({ "removed": name }));
            } else {
                println!("removed {name}");
            }
        }
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
        println!(
            "no agent sessions found (Claude Code in {}, Codex in {})",
            sessions::claude_home().display(),
            sessions::codex_home().display()
        );
    }
    for s in &list {
        println!(
            "{:<6} {}  {:<9} {:<30} {}",
            s.tool.name(),
            s.id,
            age_secs(s.updated),
            truncate(&s.project, 30),
            s.title
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
            many => Err(CliError {
                code: 2,
                message: format!(
                    "{id} fits {} sessions: {}",
                    many.len(),
                    many.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
                hint: Some("give more of the id".into()),
            }),
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
    Err(CliError {
        code: 2,
        message: format!(
            "no agent session ran in {}; recent ones: {}",
            here.display(),
            if recent.is_empty() { "none".into() } else { recent.join("; ") }
        ),
        hint: Some("name one: sbx send FRIEND SESSION-ID (sbx sessions lists them)".into()),
    })
}

pub async fn send(friend: String, session: Option<String>, json: bool, paths: &Paths) -> CliResult {
    let me = me(paths)?;
    let friends = Friends::load(paths).map_err(|e| err(format!("{e:#}"), "fix friends.toml"))?;
    let Some(f) = friends.friends.get(&friend) else {
        return Err(err(format!("{friend} is not a friend"), "add them: sbx friend add NAME ECHO-ID"));
    };
    let Some((_, key)) = friends.by_echo_id(&f.echo_id) else {
        return Err(err(
            format!("the key stored for {friend} does not hash to their echo-id"),
            "re-add them: sbx friend rm, then sbx friend add",
        ));
    };
    let client = relay(paths)?;
    let session = pick_session(session, paths).await?;
    let total: u64 =
        session.files.iter().filter_map(|f| std::fs::metadata(session.root.join(f)).ok()).map(|m| m.len()).sum();
    let spool = tempfile::Builder::new().prefix("send-").tempfile_in(ensure(&paths.data.join("outbox"))?)?;
    let out = spool.reopen()?;
    let show = total > 8 << 20 && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (manifest, out) = tokio::task::spawn_blocking(move || {
        let mut done = 0u64;
        let mut last = 0u64;
        let mut progress = |n: u64| {
            done += n;
            if show && done - last > total / 100 {
                last = done;
                eprint!("\rsealing {:>3}% ({} of {} MB)", done * 100 / total.max(1), done >> 20, total >> 20);
            }
        };
        let result = envelope::seal(&session, &me, &key, std::io::BufWriter::new(out), &mut progress);
        if show {
            eprintln!();
        }
        result
    })
    .await
    .map_err(|e| err(e, "try again"))?
    .map_err(|e| err(format!("{e:#}"), "check the session's files, then send again"))?;
    let file = out.into_inner().map_err(|e| err(e.error(), "check the disk"))?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    let body = reqwest::Body::wrap_stream(tokio_util_stream(tokio::fs::File::open(spool.path()).await?));
    let posted = client.post(&f.echo_id, body).await.map_err(|e| {
        // A relay refuses a blob over its limit as soon as it sees the length, often by
        // closing the connection mid-upload: say how large this one was.
        err(
            format!("{e} (the sealed session is {size} bytes)"),
            "check the relay and its --max-blob-size, then send again; nothing was delivered",
        )
    })?;
    if json {
        print_json(&json!({
            "to": friend, "blob": posted.id, "tool": manifest.tool, "session_id": manifest.session_id,
            "title": manifest.title, "files": manifest.files.len(), "bytes": size, "ttl": posted.ttl,
            "expires_at": posted.expires_at,
        }));
    } else {
        println!(
            "sent {} session {} ({}, {} files, {} bytes sealed) to {friend}; it waits on the relay until {}",
            manifest.tool,
            manifest.session_id,
            if manifest.title.is_empty() { "untitled" } else { &manifest.title },
            manifest.files.len(),
            size,
            posted.expires_at
        );
    }
    Ok(())
}

/// A file as a stream of chunks, for an upload that never holds the whole envelope in memory.
fn tokio_util_stream(file: tokio::fs::File) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> {
    futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
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
    let dir = paths.data.join("inbox");
    ensure(&dir)?;
    let path = dir.join(format!("{id}.echo"));
    if path.exists() {
        return Ok(path);
    }
    let bytes =
        client.fetch_all(me, id, size).await.map_err(|e| err(e, "try again; sbx inbox lists what is waiting"))?;
    crate::config::paths::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Open a cached envelope, checking the sender: a friend, or (allowed) a key from the relay
/// that hashes to the id the manifest claims. The signature is always verified.
async fn open_cached(
    path: PathBuf,
    me: &Identity,
    paths: &Paths,
    allow_unknown: bool,
    header_only: bool,
) -> CliResult<(Opened, Option<String>)> {
    let friends = Friends::load(paths).map_err(|e| err(format!("{e:#}"), "fix friends.toml"))?;
    let client = relay(paths).ok();
    let age = me.age().map_err(|e| err(format!("{e:#}"), "check your identity: sbx id"))?;
    let staging = paths.data.join("staging");
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> anyhow::Result<(Opened, Option<String>)> {
        let file = std::fs::File::open(&path)?;
        let size = file.metadata()?.len();
        let mut from = None;
        let mut lookup = |m: &envelope::Manifest| -> anyhow::Result<Vec<u8>> {
            if let Some((name, key)) = friends.by_echo_id(&m.sender_echo_id) {
                from = Some(name.to_string());
                return Ok(key);
            }
            if !allow_unknown {
                anyhow::bail!(
                    "refused: the sender {} is not a friend (open with --allow-unknown to accept it anyway)",
                    m.sender_echo_id
                );
            }
            let Some(client) = &client else { anyhow::bail!("no relay to fetch the sender's key from") };
            handle.block_on(client.fetch_key(&m.sender_echo_id)).map_err(|e| anyhow::anyhow!("{e}"))
        };
        let opened = envelope::open(std::io::BufReader::new(file), size, &age, &mut lookup, &staging, header_only)?;
        Ok((opened, from))
    })
    .await
    .map_err(|e| err(e, "try again"))?
    .map_err(|e| err(format!("{e:#}"), "nothing was installed; ask the sender to send it again"))
}

pub async fn inbox(json: bool, paths: &Paths) -> CliResult {
    let me = me(paths)?;
    let client = relay(paths)?;
    let list = client.list(&me, None).await.map_err(|e| err(e, "check the relay (SBX_RELAY) and try again"))?;
    let mut rows = Vec::new();
    for blob in &list {
        let row = match cached(&client, &me, paths, &blob.id, blob.size).await {
            Ok(path) => match open_cached(path, &me, paths, true, true).await {
                Ok((o, from)) => json!({
                    "id": blob.id, "size": blob.size, "received_at": blob.received_at, "from": from,
                    "sender_echo_id": o.manifest.sender_echo_id, "verified": true, "tool": o.manifest.tool,
                    "session_id": o.manifest.session_id, "title": o.manifest.title, "project": o.manifest.project,
                }),
                Err(e) => {
                    json!({ "id": blob.id, "size": blob.size, "received_at": blob.received_at, "verified": false, "error": e.message })
                }
            },
            Err(e) => json!({ "id": blob.id, "size": blob.size, "verified": false, "error": e.message }),
        };
        rows.push(row);
    }
    if json {
        print_json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        println!("nothing waiting");
    }
    for r in &rows {
        let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        if r["verified"] == true {
            let from = r["from"].as_str().map_or_else(|| format!("UNKNOWN {}", s("sender_echo_id")), str::to_string);
            println!("{}  from {from:<16} {:<6} {}  {}", s("id"), s("tool"), s("session_id"), s("title"));
        } else {
            println!("{}  REFUSED: {}", s("id"), s("error"));
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
                    return Err(CliError {
                        code: 2,
                        message: format!("{id} fits several blobs"),
                        hint: Some("give more of the id (sbx inbox)".into()),
                    })
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
    let (opened, from) = open_cached(path.clone(), &me, paths, allow_unknown, false).await?;
    let installed = crate::share::install::install(&opened, &dir, force)
        .map_err(|e| err(format!("{e:#}"), "nothing was installed; see the message"))?;
    // Opened and installed: the relay's copy and ours can go.
    if let Err(e) = client.delete(&me, &blob.id).await {
        eprintln!("sbx: warning: the relay kept its copy ({e}); it expires on its own");
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
        println!(
            "opened {} session {} from {who} ({} files)",
            opened.manifest.tool,
            opened.manifest.session_id,
            installed.files.len()
        );
        println!("resume it: {command}");
    }
    if resume {
        use std::os::unix::process::CommandExt;
        let e = std::process::Command::new(&installed.resume[0]).args(&installed.resume[1..]).current_dir(&dir).exec();
        return Err(err(
            format!("cannot run {}: {e}", installed.resume[0]),
            "install the agent CLI, then run the command above",
        ));
    }
    Ok(())
}
