//! Logging for the long-running processes (the server, the relay): `tracing` with levels, to a
//! writer that never panics and never blocks the caller.
//!
//! Records are handed to a worker thread over a bounded channel (lossy: when the disk is slow
//! the newest records are dropped, the loop never waits). The worker writes to fd 2; a write
//! that fails (a full disk, a closed stream) loses that record and nothing else — `eprintln!`
//! would panic instead, taking down the thread that logged. The server's fd 2 is
//! `server.log`, which the worker rotates once it passes a size (one old copy is kept), so
//! the log stays bounded however long the server runs.
//!
//! Levels: `$SBX_LOG` (`error`, `warn`, `info`, `debug`, `trace`, or per target as in
//! `sbx=debug`), else the config's `log_level`, else `info`.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// server.log is rotated to server.log.1 once it passes this size.
pub const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

/// Records waiting for the worker thread. tracing-appender's default (128,000) allocates and
/// touches a slot for each up front, about 4 MiB of the server's memory for a log that is
/// mostly quiet; a burst beyond this many is dropped (lossy), never waited for.
const BUFFERED_LINES: usize = 4096;

/// Keeps the worker thread alive; dropping it flushes what is queued.
pub struct LogGuard {
    _worker: tracing_appender::non_blocking::WorkerGuard,
}

/// Where fd 2 goes and whether the worker may rotate it.
struct Stderr {
    /// The log file fd 2 was opened on (rotated when it grows), if it is one.
    file: Option<PathBuf>,
    written: u64,
    max: u64,
}

impl Stderr {
    fn new(file: Option<PathBuf>, max: u64) -> Stderr {
        // Only rotate what fd 2 really is: `sbx server` run by hand logs to a terminal.
        let file = file.filter(|path| same_file_as_stderr(path));
        let written = rustix::fs::fstat(rustix::stdio::stderr()).map_or(0, |s| s.st_size.max(0) as u64);
        Stderr { file, written, max }
    }

    /// Move the full log aside and point fd 2 at a fresh one. Any failure keeps the old one.
    fn rotate(&mut self) {
        let Some(path) = &self.file else { return };
        let old = path.with_extension("log.1");
        if std::fs::rename(path, &old).is_err() {
            return;
        }
        let opened = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path);
        if let Ok(file) = opened {
            if rustix::stdio::dup2_stderr(&file).is_ok() {
                self.written = 0;
            }
        }
    }
}

fn same_file_as_stderr(path: &std::path::Path) -> bool {
    let (Ok(ours), Ok(file)) = (rustix::fs::fstat(rustix::stdio::stderr()), std::fs::metadata(path)) else {
        return false;
    };
    ours.st_dev == file.dev() && ours.st_ino == file.ino()
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.file.is_some() && self.written + buf.len() as u64 > self.max {
            self.rotate();
        }
        // A record that cannot be written is lost; the caller is never told (it could only
        // panic or log the failure, which would fail the same way).
        if rustix::io::write(rustix::stdio::stderr(), buf).is_ok() {
            self.written += buf.len() as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The filter: `$SBX_LOG`, else `configured`, else info. A filter that does not parse is info.
fn filter(configured: &str) -> Targets {
    let wanted = std::env::var("SBX_LOG").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| configured.into());
    let level = |l: &str| l.trim().parse::<tracing_subscriber::filter::LevelFilter>().is_ok();
    // Each directive is a level, or TARGET=LEVEL; anything else means the value is a typo.
    let valid = wanted.split(',').all(|d| match d.split_once('=') {
        Some((target, l)) => !target.trim().is_empty() && level(l),
        None => level(d),
    });
    let fallback = || Targets::new().with_default(tracing::Level::INFO);
    if !valid {
        return fallback();
    }
    wanted.trim().parse::<Targets>().unwrap_or_else(|_| fallback())
}

/// Start logging to fd 2. `rotated`: the file fd 2 is appended to (the server's server.log),
/// to be kept under MAX_LOG_BYTES.
pub fn init(configured_level: &str, rotated: Option<PathBuf>) -> LogGuard {
    init_with(configured_level, Stderr::new(rotated, MAX_LOG_BYTES))
}

fn init_with(configured_level: &str, out: Stderr) -> LogGuard {
    let (writer, worker) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .finish(out);
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false).with_target(false);
    let _ = tracing_subscriber::registry().with(layer.with_filter(filter(configured_level))).try_init();
    // A panic anywhere is a record like any other (the default hook writes to stderr with
    // no care for a full disk).
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        tracing::error!("panic in thread {}: {info}", thread.name().unwrap_or("?"));
    }));
    LogGuard { _worker: worker }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_never_fails_even_when_the_stream_does() {
        // fd 2 of the test process may be anything; the contract is only that write says Ok.
        let mut out = Stderr { file: None, written: 0, max: 10 };
        assert_eq!(out.write(b"hello\n").unwrap(), 6);
        out.flush().unwrap();
    }

    #[test]
    fn levels_come_from_the_config_when_the_environment_says_nothing() {
        if std::env::var_os("SBX_LOG").is_some() {
            return;
        }
        let f = filter("debug");
        assert!(f.would_enable("sbx", &tracing::Level::DEBUG));
        let f = filter("not a level !!");
        assert!(f.would_enable("sbx", &tracing::Level::INFO) && !f.would_enable("sbx", &tracing::Level::DEBUG));
    }
}
