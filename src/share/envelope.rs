//! The echos v1 envelope: `ECHO` 0x01, then age (one ssh-ed25519 recipient) over a tar.gz of
//! manifest.json, signature.sig and the session's files, byte for byte.
//!
//! Opening trusts nothing until it is checked: the recipient (age), the manifest's shape and
//! every path in it, the sender's signature (before any file is written), each file's size and
//! hash, and the total size decompressed (a gzip bomb stops at the bound).

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::sessions::{valid_session_id, Session, Tool};
use crate::relay::client::Signer;
use crate::relay::wire;

pub const MAGIC: &[u8; 5] = b"ECHO\x01";
const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
const MAX_SIGNATURE: u64 = 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Field order is the wire order (compact JSON, signed as bytes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub version: u32,
    pub tool: String,
    pub session_id: String,
    pub project: String,
    pub title: String,
    pub sender_echo_id: String,
    pub sender_fingerprint: String,
    pub created_at: String,
    pub files: Vec<FileEntry>,
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, wire::hex(&hasher.finalize())))
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// The manifest for a session (hashing every file) and its bytes.
pub fn manifest(session: &Session, me: &dyn Signer) -> Result<(Manifest, Vec<u8>)> {
    let mut files = Vec::new();
    for rel in &session.files {
        let path = session.root.join(rel);
        // Only regular files travel; a symlink in the session folder is not followed.
        let meta = std::fs::symlink_metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            bail!("{} is not a regular file", path.display());
        }
        let (size, sha256) = hash_file(&path)?;
        files.push(FileEntry { path: rel.clone(), size, sha256 });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let fingerprint = me.fingerprint();
    let m = Manifest {
        version: 1,
        tool: session.tool.name().into(),
        session_id: session.id.clone(),
        project: session.project.clone(),
        title: session.title.clone(),
        sender_echo_id: wire::echo_id(&fingerprint),
        sender_fingerprint: fingerprint,
        created_at: wire::rfc3339(wire::now_secs()),
        files,
    };
    let bytes = serde_json::to_vec(&m)?;
    Ok((m, bytes))
}

/// Seal a session for `recipient` (an SSH wire key) into `out`. `progress` hears bytes read.
pub fn seal<W: Write>(
    session: &Session,
    me: &dyn Signer,
    recipient: &[u8],
    mut out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<(Manifest, W)> {
    let (m, manifest_bytes) = manifest(session, me)?;
    let signature = wire::sig_wire(&me.sign(&manifest_bytes));
    let recipient: age::ssh::Recipient = super::identity::public_line(recipient)
        .parse()
        .map_err(|e| anyhow::anyhow!("the recipient's key is not usable by age: {e:?}"))?;
    out.write_all(MAGIC)?;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| anyhow::anyhow!("age: {e}"))?;
    let sealed = encryptor.wrap_output(out)?;
    let gz = flate2::write::GzEncoder::new(sealed, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mtime = wire::now_secs().max(0) as u64;
    tar.append_data(&mut header(manifest_bytes.len() as u64, mtime), "manifest.json", &manifest_bytes[..])?;
    tar.append_data(&mut header(signature.len() as u64, mtime), "signature.sig", &signature[..])?;
    for f in &m.files {
        let file = std::fs::File::open(session.root.join(&f.path))?;
        // Exactly the bytes hashed: a file that grew since is cut, one that shrank is an error.
        let mut reader = Progress { inner: file.take(f.size), seen: progress };
        tar.append_data(&mut header(f.size, mtime), &f.path, &mut reader)
            .with_context(|| format!("{} changed while it was being sealed; send again", f.path))?;
    }
    let gz = tar.into_inner()?;
    let sealed = gz.finish()?;
    let out = sealed.finish()?;
    Ok((m, out))
}

struct Progress<'a, R> {
    inner: R,
    seen: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.seen)(n as u64);
        Ok(n)
    }
}

/// Bounds on what opening may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes the tar.gz may decompress to.
    pub max_unpacked: u64,
    pub max_files: usize,
}

impl Limits {
    /// Generous for transcripts (JSON compresses 5–15×), fatal for a bomb: at most 200× the
    /// envelope, at least 64 MiB, never more than 8 GiB.
    pub fn for_envelope(size: u64) -> Limits {
        Limits { max_unpacked: size.saturating_mul(200).clamp(64 << 20, 8 << 30), max_files: 10_000 }
    }
}

/// What may be unpacked before the sender's signature is checked: the manifest (at most
/// MAX_MANIFEST), the signature, and their tar headers. Anything a stranger sends beyond that
/// — a GNU long-name or PAX entry claiming gigabytes, which the tar reader would hold in
/// memory whole — is refused before it costs more than this.
const BEFORE_SIGNATURE: u64 = MAX_MANIFEST + 1024 * 1024;
/// Between two files (after the signature): a header, a long name of at most 4 KiB (the
/// longest path `clean_path` allows), padding.
const BETWEEN_FILES: u64 = 64 * 1024;

/// How much more the archive may unpack: in all (`total`), and in the current stretch
/// (`stretch`: before the signature, a header between files, one file's bytes). Shared
/// between the reader under the tar parser and the code that walks the entries.
#[derive(Clone)]
struct Budget(std::rc::Rc<std::cell::Cell<(u64, u64)>>);

impl Budget {
    fn new(total: u64, stretch: u64) -> Budget {
        Budget(std::rc::Rc::new(std::cell::Cell::new((total, stretch.min(total)))))
    }

    /// Allow `stretch` more bytes (at most what is left in all) for what comes next.
    fn allow(&self, stretch: u64) {
        let (total, _) = self.0.get();
        self.0.set((total, stretch.min(total)));
    }
}

/// A reader that fails once more than its budget has come through.
struct Bounded<R> {
    inner: R,
    budget: Budget,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (total, stretch) = self.budget.0.get();
        // Never read more than may be used: a long-name entry cannot grow past the budget.
        let want = buf.len().min(usize::try_from(stretch.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])? as u64;
        if n > stretch {
            return Err(std::io::Error::other(if stretch == total {
                "the envelope unpacks to more than its bound (a gzip bomb?)"
            } else {
                "the envelope holds more than its entries announce (an oversized header or name)"
            }));
        }
        self.budget.0.set((total - n, stretch - n));
        Ok(n as usize)
    }
}

/// A path from an archive, accepted only if it is relative, clean and plain.
pub fn clean_path(path: &str) -> Result<()> {
    let ok = !path.is_empty()
        && path.len() <= 4096
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && c.chars().all(|ch| !ch.is_control()));
    if !ok {
        bail!("refused: the entry {path:?} is not a clean relative path");
    }
    Ok(())
}

/// Where a session's files may go: Claude `<id>.jsonl` or `<id>/…`; Codex
/// `YYYY/MM/DD/rollout-…-<id>.jsonl`; Qwen `<id>.jsonl` alone; Gemini
/// `session-<minute>-<id8>.jsonl` alone; Cline `<id>/<id>.json` and `<id>/<id>.messages.json`;
/// opencode its export, `<id>.json`, alone.
fn fits_layout(tool: Tool, id: &str, path: &str) -> bool {
    match tool {
        Tool::Claude => path == format!("{id}.jsonl") || path.starts_with(&format!("{id}/")),
        Tool::Codex => {
            let parts: Vec<&str> = path.split('/').collect();
            parts.len() == 4
                && parts[..3].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                && parts[3].starts_with("rollout-")
                && parts[3].ends_with(&format!("-{id}.jsonl"))
        }
        Tool::Qwen => path == format!("{id}.jsonl"),
        Tool::Gemini => super::sessions::gemini::is_chat_file(id, path),
        Tool::Cline => super::sessions::cline::fits_layout(id, path),
        Tool::Opencode => path == super::sessions::opencode::file_name(id),
    }
}

/// Check a manifest's shape before anything else is read.
pub fn check_manifest(m: &Manifest, limits: &Limits) -> Result<Tool> {
    if m.version != 1 {
        bail!("refused: manifest version {} (this sbx reads version 1)", m.version);
    }
    let Some(tool) = Tool::parse(&m.tool) else { bail!("refused: unknown tool {:?}", m.tool) };
    if !valid_session_id(&m.session_id) {
        bail!("refused: the session id {:?} has characters that could reach a path or a command", m.session_id);
    }
    if !wire::valid_echo_id(&m.sender_echo_id) || !wire::valid_fingerprint(&m.sender_fingerprint) {
        bail!("refused: the sender's id or fingerprint is malformed");
    }
    if !m.sender_fingerprint.starts_with(&m.sender_echo_id) {
        bail!("refused: the sender's echo-id is not its fingerprint's prefix");
    }
    if m.files.is_empty() || m.files.len() > limits.max_files {
        bail!("refused: {} files (1 to {} allowed)", m.files.len(), limits.max_files);
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &m.files {
        clean_path(&f.path)?;
        if !fits_layout(tool, &m.session_id, &f.path) {
            bail!("refused: {:?} is not where a {} session keeps its files", f.path, m.tool);
        }
        if !wire::valid_fingerprint(&f.sha256) {
            bail!("refused: {:?} has a malformed sha256", f.path);
        }
        if !seen.insert(f.path.as_str()) {
            bail!("refused: {:?} is listed twice", f.path);
        }
    }
    Ok(tool)
}

/// What an envelope holds once opened and checked; its files are in `staging`.
pub struct Opened {
    pub manifest: Manifest,
    pub tool: Tool,
    pub staging: tempfile::TempDir,
}

impl Opened {
    pub fn staged(&self, rel: &str) -> PathBuf {
        self.staging.path().join(rel)
    }
}

fn next_entry<'a, R: Read>(entries: &mut tar::Entries<'a, R>, what: &str) -> Result<tar::Entry<'a, R>> {
    match entries.next() {
        Some(e) => e.map_err(|e| anyhow::anyhow!("refused: broken archive ({what}): {e}")),
        None => bail!("refused: the archive ends before {what}"),
    }
}

fn read_small<R: Read>(entry: &mut tar::Entry<R>, max: u64, what: &str) -> Result<Vec<u8>> {
    if entry.header().size()? > max {
        bail!("refused: {what} is over {max} bytes");
    }
    let mut out = Vec::new();
    entry.take(max + 1).read_to_end(&mut out)?;
    Ok(out)
}

/// Decrypt, check and unpack an envelope into a fresh private folder under `staging_in`.
/// `sender_key` answers the SSH wire key for the sender a manifest names (a friend's, or one
/// fetched and checked against the id), or refuses. With `header_only`, stop after the
/// signature (for listing an inbox): no files are written.
pub fn open<R: Read>(
    mut input: R,
    size: u64,
    me: &age::ssh::Identity,
    sender_key: &mut dyn FnMut(&Manifest) -> Result<Vec<u8>>,
    staging_in: &Path,
    header_only: bool,
) -> Result<Opened> {
    open_with(&mut input, me, sender_key, staging_in, header_only, Limits::for_envelope(size))
}

pub fn open_with<R: Read>(
    input: &mut R,
    me: &age::ssh::Identity,
    sender_key: &mut dyn FnMut(&Manifest) -> Result<Vec<u8>>,
    staging_in: &Path,
    header_only: bool,
    limits: Limits,
) -> Result<Opened> {
    let mut magic = [0u8; 5];
    input.read_exact(&mut magic).context("refused: too short to be an envelope")?;
    if &magic != MAGIC {
        bail!("refused: not an echos v1 envelope (bad header)");
    }
    let decryptor = age::Decryptor::new_buffered(BufReader::new(input))
        .map_err(|e| anyhow::anyhow!("refused: not an age file: {e}"))?;
    let plain = decryptor.decrypt(std::iter::once(me as &dyn age::Identity)).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => anyhow::anyhow!("refused: this envelope is not for you (wrong recipient)"),
        e => anyhow::anyhow!("refused: cannot decrypt: {e}"),
    })?;
    let gz = flate2::read::GzDecoder::new(plain);
    let budget = Budget::new(limits.max_unpacked, BEFORE_SIGNATURE);
    let mut archive = tar::Archive::new(Bounded { inner: gz, budget: budget.clone() });
    let mut entries = archive.entries().context("refused: not a tar archive")?;
    let mut first = next_entry(&mut entries, "manifest.json")?;
    if first.path_bytes().as_ref() != b"manifest.json" || first.header().entry_type() != tar::EntryType::Regular {
        bail!("refused: the archive does not start with manifest.json");
    }
    let manifest_bytes = read_small(&mut first, MAX_MANIFEST, "manifest.json")?;
    drop(first);
    let mut second = next_entry(&mut entries, "signature.sig")?;
    if second.path_bytes().as_ref() != b"signature.sig" || second.header().entry_type() != tar::EntryType::Regular {
        bail!("refused: signature.sig does not follow the manifest");
    }
    let signature = read_small(&mut second, MAX_SIGNATURE, "signature.sig")?;
    drop(second);
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).context("refused: manifest.json is not a manifest")?;
    let tool = check_manifest(&manifest, &limits)?;
    let key = sender_key(&manifest)?;
    if wire::fingerprint(&key) != manifest.sender_fingerprint {
        bail!("refused: the sender's key does not match the fingerprint the manifest claims");
    }
    // The signature is checked before a single file is written.
    if !wire::verify(&key, &manifest_bytes, &signature) {
        bail!("refused: the signature does not verify (tampered, or not from {})", manifest.sender_echo_id);
    }
    crate::config::paths::ensure_private_dir(staging_in)?;
    let staging = tempfile::Builder::new().prefix("open-").tempdir_in(staging_in)?;
    let opened = Opened { manifest, tool, staging };
    if header_only {
        return Ok(opened);
    }
    let expected: std::collections::BTreeMap<&str, &FileEntry> =
        opened.manifest.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut done = std::collections::BTreeSet::new();
    loop {
        budget.allow(BETWEEN_FILES);
        let mut entry = match entries.next() {
            None => break,
            Some(e) => e.map_err(|e| anyhow::anyhow!("refused: broken archive: {e}"))?,
        };
        let path = String::from_utf8(entry.path_bytes().to_vec())
            .map_err(|_| anyhow::anyhow!("refused: a non-UTF-8 entry name"))?;
        clean_path(&path)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            bail!("refused: {path:?} is not a regular file (links and folders are not accepted)");
        }
        let Some(f) = expected.get(path.as_str()) else { bail!("refused: {path:?} is not in the manifest") };
        if !done.insert(path.clone()) {
            bail!("refused: {path:?} appears twice");
        }
        if entry.header().size()? != f.size {
            bail!("refused: {path:?} is not the size the manifest says");
        }
        budget.allow(f.size);
        let target = opened.staged(&path);
        if let Some(dir) = target.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        use std::os::unix::fs::OpenOptionsExt;
        let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&target)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut written = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| anyhow::anyhow!("refused: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            written += n as u64;
        }
        if written != f.size || wire::hex(&hasher.finalize()) != f.sha256 {
            bail!("refused: {path:?} does not match its hash in the manifest (tampered)");
        }
        out.sync_all()?;
    }
    if done.len() != expected.len() {
        let missing: Vec<&str> = expected.keys().filter(|p| !done.contains(**p)).copied().collect();
        bail!("refused: files in the manifest are missing: {}", missing.join(", "));
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::private::{Ed25519Keypair, KeypairData};

    fn age_identity(seed: u8) -> (age::ssh::Identity, Vec<u8>) {
        let pair = Ed25519Keypair::from_seed(&[seed; 32]);
        let public = wire::key_wire(&pair.public.0);
        let key = ssh_key::PrivateKey::new(KeypairData::Ed25519(pair), "t").unwrap();
        let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
        (age::ssh::Identity::from_buffer(text.as_bytes(), None).unwrap(), public)
    }

    /// An envelope whose one file is `size` zero bytes, correctly signed by `sender`.
    fn bomb(sender: &ed25519_dalek::SigningKey, recipient: &[u8], size: u64) -> Vec<u8> {
        let mut hasher = Sha256::new();
        std::io::copy(&mut std::io::repeat(0).take(size), &mut hasher).unwrap();
        let fpr = sender.fingerprint();
        let m = Manifest {
            version: 1,
            tool: "claude".into(),
            session_id: "abcd".into(),
            project: "/p".into(),
            title: "t".into(),
            sender_echo_id: wire::echo_id(&fpr),
            sender_fingerprint: fpr,
            created_at: wire::rfc3339(0),
            files: vec![FileEntry { path: "abcd.jsonl".into(), size, sha256: wire::hex(&hasher.finalize()) }],
        };
        let bytes = serde_json::to_vec(&m).unwrap();
        let sig = wire::sig_wire(&Signer::sign(sender, &bytes));
        let recipient: age::ssh::Recipient = super::super::identity::public_line(recipient).parse().unwrap();
        let mut out = MAGIC.to_vec();
        let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
        let sealed = enc.wrap_output(&mut out).unwrap();
        let gz = flate2::write::GzEncoder::new(sealed, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.append_data(&mut header(bytes.len() as u64, 0), "manifest.json", &bytes[..]).unwrap();
        tar.append_data(&mut header(sig.len() as u64, 0), "signature.sig", &sig[..]).unwrap();
        tar.append_data(&mut header(size, 0), "abcd.jsonl", std::io::repeat(0).take(size)).unwrap();
        tar.into_inner().unwrap().finish().unwrap().finish().unwrap();
        out
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_bound() {
        let sender = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let (me, my_key) = age_identity(4);
        let envelope = bomb(&sender, &my_key, 64 << 20);
        assert!(envelope.len() < 1 << 20, "64 MiB of zeros packs small: {}", envelope.len());
        let staging = tempfile::tempdir().unwrap();
        let limits = Limits { max_unpacked: 8 << 20, max_files: 10 };
        let sender_key = sender.public_wire();
        let mut key = |_: &Manifest| Ok(sender_key.clone());
        let err = open_with(&mut &envelope[..], &me, &mut key, staging.path(), false, limits).err().unwrap();
        assert!(format!("{err:#}").contains("more than its bound"), "{err:#}");
        // Within its bound the same shape opens: the bound is what stopped it.
        let small = bomb(&sender, &my_key, 1 << 20);
        let opened = open_with(&mut &small[..], &me, &mut key, staging.path(), false, limits).unwrap();
        assert_eq!(std::fs::metadata(opened.staged("abcd.jsonl")).unwrap().len(), 1 << 20);
        assert_eq!(Limits::for_envelope(10).max_unpacked, 64 << 20);
        assert_eq!(Limits::for_envelope(1 << 40).max_unpacked, 8 << 30);
    }

    #[test]
    fn paths_and_layouts() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b", "a\0b", "a/\u{1b}b"] {
            assert!(clean_path(bad).is_err(), "{bad:?}");
        }
        assert!(clean_path("id/subagents/agent-1.jsonl").is_ok());
        assert!(fits_layout(Tool::Claude, "id", "id.jsonl"));
        assert!(fits_layout(Tool::Claude, "id", "id/tool-results/x"));
        assert!(!fits_layout(Tool::Claude, "id", "other.jsonl"));
        assert!(fits_layout(Tool::Codex, "u", "2026/05/11/rollout-2026-05-11T11-26-55-u.jsonl"));
        assert!(!fits_layout(Tool::Codex, "u", "2026/05/rollout-u.jsonl"));
        assert!(!fits_layout(Tool::Codex, "u", "../../05/11/rollout-u.jsonl"));
        assert!(fits_layout(Tool::Qwen, "q", "q.jsonl"));
        assert!(!fits_layout(Tool::Qwen, "q", "q/other.jsonl"), "a Qwen session is one file");
        assert!(!fits_layout(Tool::Qwen, "q", "q.runtime.json"));
        let g = "9b51cd1b-a90b-4147-a677-aa6a84d3c887";
        assert!(fits_layout(Tool::Gemini, g, "session-2026-12-03T17-47-9b51cd1b.jsonl"));
        assert!(!fits_layout(Tool::Gemini, g, "../session-2026-12-03T17-47-9b51cd1b.jsonl"));
        assert!(
            !fits_layout(Tool::Gemini, g, "session-2026-12-03T17-47-9b51cd1b.json"),
            "Gemini's old whole-file chats are not sent"
        );
    }
}
