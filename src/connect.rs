//! Reaching the server: connect to its socket (refusing one that is not the user's), starting
//! it in the background if needed, and one request and its answer.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::UnixStream;

use crate::protocol::Error;

type CliResult<T = ()> = Result<T, Error>;
use crate::config::paths::{ensure_private_dir, Paths};
use crate::protocol::{
    read_frame, write_frame, ClientMsg, Command, Hello, Reply, ServerMsg, UpgradeAnswer, UpgradeRequest,
    PROTOCOL_VERSION, UPGRADE_HELLO,
};

pub async fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    connect_saying(socket, PROTOCOL_VERSION).await
}

async fn connect_saying(socket: &Path, version: u32) -> std::io::Result<UnixStream> {
    // Only talk to a server of our own: another user's socket could feed our terminal anything.
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(socket)?);
    if owner != crate::config::paths::current_uid() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} belongs to uid {owner}, not to you", socket.display()),
        ));
    }
    let mut stream = UnixStream::connect(socket).await?;
    write_frame(&mut stream, &Hello { version }).await?;
    Ok(stream)
}

/// What `sbx upgrade` did.
pub struct Upgraded {
    pub message: String,
    pub panes: usize,
}

/// Ask the server on `socket` to hand over to `exe` (frozen frames, whatever protocol either
/// side speaks), then wait until it runs as `exe` and answers in this binary's protocol.
pub async fn upgrade(socket: &Path, exe: &Path) -> CliResult<Upgraded> {
    let mut stream = connect_saying(socket, UPGRADE_HELLO).await.map_err(|e| no_server(socket, e))?;
    let pid = stream.peer_cred().ok().and_then(|c| c.pid()).unwrap_or(0);
    let exe_text = exe.to_str().ok_or_else(|| {
        Error::new("bad_path", format!("{} is not UTF-8", exe.display()), "run sbx from a path that is UTF-8")
    })?;
    write_frame(&mut stream, &UpgradeRequest { exe: exe_text.to_string() }).await?;
    let too_old = || {
        Error::new(
            "cannot_upgrade",
            "this server cannot hand over in place (it predates sbx upgrade)",
            "restart it: sbx kill-server, then sbx restore brings the layout and agents back",
        )
    };
    let answer = match tokio::time::timeout(Duration::from_secs(60), read_frame::<_, UpgradeAnswer>(&mut stream)).await
    {
        Ok(Ok(Some(answer))) => answer,
        Ok(_) => return Err(too_old()),
        Err(_) => {
            return Err(Error::new("timeout", "the server did not answer the upgrade", "see its log (server.log)"))
        }
    };
    if !answer.ok {
        return Err(Error::new("upgrade_refused", answer.message, "nothing changed; the server runs as it did"));
    }
    // Same process, new binary: done once it is that binary and answers.
    let wanted = std::fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let became = std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|now| now == wanted);
        if became {
            if let Ok(stream) = connect(socket).await {
                if let Ok(Reply::List(sessions)) = request(stream, Command::List).await {
                    let panes = sessions.iter().flat_map(|s| &s.tabs).map(|t| t.panes.len()).sum();
                    return Ok(Upgraded { message: answer.message, panes });
                }
            }
        }
        if Instant::now() > deadline {
            return Err(Error::new(
                "upgrade_unfinished",
                "the server did not come back as the new binary",
                "see server.log in the runtime folder; `sbx restore` brings the layout back if it is gone",
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn no_server(socket: &Path, err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::PermissionDenied {
        return Error::new(
            "not_your_server",
            format!("refusing to use {}: {err}", socket.display()),
            "point SBX_SOCKET or SBX_HOME at a folder of yours",
        );
    }
    Error::new(
        "no_server",
        format!("no sbx server is running (socket {})", socket.display()),
        "start one with `sbx` (attach) or `sbx new -d` (in the background)",
    )
}

/// Connect to a running server; a missing server is an error with the next step.
pub async fn connect_existing(paths: &Paths) -> CliResult<UnixStream> {
    connect_to(&paths.socket()).await
}

/// Connect to the server on `socket`, which must be running.
pub async fn connect_to(socket: &Path) -> CliResult<UnixStream> {
    connect(socket).await.map_err(|e| no_server(socket, e))
}

/// Connect, starting a detached server first when none answers.
pub async fn connect_or_start(paths: &Paths) -> CliResult<UnixStream> {
    let socket = paths.socket();
    match connect(&socket).await {
        Ok(stream) => return Ok(stream),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(no_server(&socket, e)),
        Err(_) => {}
    }
    start_server(paths)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(stream) = connect(&socket).await {
            return Ok(stream);
        }
        if Instant::now() > deadline {
            return Err(Error::new(
                "server_not_started",
                "the sbx server did not start",
                format!("see {} for why", paths.runtime.join("server.log").display()),
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn start_server(paths: &Paths) -> CliResult {
    ensure_private_dir(&paths.runtime)?;
    // A socket folder the server would refuse is said here, not only in its log.
    let socket = paths.socket();
    if let Some(parent) = socket.parent().filter(|p| *p != paths.runtime && !p.as_os_str().is_empty()) {
        crate::config::paths::ensure_user_dir(parent, "the folder of $SBX_SOCKET").map_err(|e| {
            Error::new(
                "server_not_started",
                format!("{e:#}"),
                "point SBX_SOCKET at a folder only you can write, or unset it",
            )
        })?;
    }
    let log_path = paths.runtime.join("server.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).mode_0600().open(&log_path).map_err(|e| {
        Error::new("server_not_started", format!("cannot open {}: {e}", log_path.display()), "check the runtime folder")
    })?;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("server").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(log));
    // The server leads its own session: a closing terminal or a killed client never reaches it.
    // SAFETY: the hook only calls setsid, which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let _ = rustix::process::setsid();
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| {
        Error::new("server_not_started", format!("cannot start the server: {e}"), "check that the sbx binary is intact")
    })?;
    Ok(())
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// Send a command that needs a server, starting one when none runs. A server can accept and
/// then go without answering: its last session had just closed, and it exits then (`sbx kill`
/// of the last pane, then `sbx new` at once). The command never reached a session, so it is
/// sent again, to the server that takes the old one's place.
pub async fn request_starting(paths: &Paths, cmd: Command) -> CliResult<Reply> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stream = connect_or_start(paths).await?;
        match request(stream, cmd.clone()).await {
            Err(e) if e.code == "no_server" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answer => return answer,
        }
    }
}

/// Send one command and wait for its reply.
pub async fn request(mut stream: UnixStream, cmd: Command) -> CliResult<Reply> {
    let gone = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => exited(),
        _ => Error::from(e),
    };
    write_frame(&mut stream, &ClientMsg::Command(cmd)).await.map_err(gone)?;
    match read_frame::<_, ServerMsg>(&mut stream).await.map_err(gone)? {
        Some(ServerMsg::Reply(reply)) => Ok(reply),
        Some(ServerMsg::Error(e)) => Err(e),
        Some(_) => Err(Error::new(
            "bad_answer",
            "the server sent something that is not an answer",
            "run `sbx ls`; if it fails, `sbx kill-server` and start again",
        )),
        // The server went away between accepting and answering: its last session closed (it
        // exits then) or it was stopped. Either way there is no server now.
        None => Err(exited()),
    }
}

fn exited() -> Error {
    Error::new(
        "no_server",
        "no sbx server is running (it exited before answering)",
        "start one with `sbx` (attach) or `sbx new -d` (in the background)",
    )
}
