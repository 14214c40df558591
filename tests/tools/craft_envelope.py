#!/usr/bin/env python3
"""Make a hostile variant of a decrypted envelope body (tar.gz) for tests/share.rs.

    craft_envelope.py MODE IN.tgz OUT.tgz [SIGNING-KEY CLAIM-ECHO-ID CLAIM-FINGERPRINT]

Modes: tamper-manifest, extra-file, symlink, dotdot, absolute, bad-session-id, impersonate,
retitle, longname.
`impersonate` rewrites the manifest to claim another sender and signs it with SIGNING-KEY (an
OpenSSH ed25519 private key), using Node's ed25519 so no sbx code is involved.
`retitle TITLE SIGNING-KEY` sets the manifest's title and signs it with the sender's own key.
`longname BYTES` puts a GNU long-name entry announcing BYTES before the manifest (streamed,
never held in memory here).
"""
import base64, gzip, io, json, os, struct, subprocess, sys, tarfile


def members(path):
    with tarfile.open(path, "r:gz") as t:
        return [(m, t.extractfile(m).read() if m.isfile() else b"") for m in t.getmembers()]


def write(path, entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for m, data in entries:
            m.size = len(data) if m.isfile() else 0
            t.addfile(m, io.BytesIO(data) if m.isfile() else None)
    with open(path, "wb") as f:
        f.write(gzip.compress(buf.getvalue()))


def ssh_string(b, i):
    n = struct.unpack(">I", b[i:i + 4])[0]
    return b[i + 4:i + 4 + n], i + 4 + n


def ed25519_seed(key_path):
    text = open(key_path).read()
    body = base64.b64decode("".join(l for l in text.splitlines() if not l.startswith("-----")))
    assert body.startswith(b"openssh-key-v1\0")
    i = len(b"openssh-key-v1\0")
    for _ in range(3):  # cipher, kdf, kdf options
        _, i = ssh_string(body, i)
    i += 4  # number of keys
    _, i = ssh_string(body, i)  # public key
    priv, _ = ssh_string(body, i)
    j = 8  # two check integers
    _, j = ssh_string(priv, j)  # key type
    pub, j = ssh_string(priv, j)
    secret, j = ssh_string(priv, j)
    return secret[:32], pub


def node_sign(seed, pub, message):
    b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    script = """
const crypto = require('crypto');
const { SIGN_D: d, SIGN_X: x, SIGN_MSG: msg } = process.env;
const key = crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x }, format: 'jwk' });
process.stdout.write(crypto.sign(null, Buffer.from(msg, 'base64'), key).toString('base64'));
"""
    # Through the environment: a base64url key may begin with "-", which node would take for
    # one of its own options.
    env = dict(os.environ, SIGN_D=b64u(seed), SIGN_X=b64u(pub), SIGN_MSG=base64.b64encode(message).decode())
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, env=env)
    sig = base64.b64decode(out.stdout)
    t = b"ssh-ed25519"
    return struct.pack(">I", len(t)) + t + struct.pack(">I", len(sig)) + sig


def longname(src, dst, size):
    """A gzip stream: a GNU 'L' header announcing `size`, that many zero bytes, then the
    original archive."""
    import zlib
    header = bytearray(512)
    header[0:13] = b"././@LongLink"
    header[100:108] = b"0000644\0"
    for field in (108, 116):
        header[field:field + 8] = b"0000000\0"
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"00000000000\0"
    header[156] = ord("L")
    header[257:265] = b"ustar  \0"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    with gzip.open(src, "rb") as f:
        original = f.read()
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(dst, "wb") as out:
        out.write(gz.compress(bytes(header)))
        zeros = bytes(1 << 20)
        left = size + (-size % 512)
        while left:
            n = min(left, len(zeros))
            out.write(gz.compress(zeros[:n]))
            left -= n
        out.write(gz.compress(original))
        out.write(gz.flush())


def main():
    mode, src, dst = sys.argv[1:4]
    if mode == "longname":
        return longname(src, dst, int(sys.argv[4]))
    entries = members(src)
    manifest = json.loads(entries[0][1])
    first_file = manifest["files"][0]["path"]

    def rename(old, new):
        for m, _ in entries:
            if m.name == old:
                m.name = new
        for f in manifest["files"]:
            if f["path"] == old:
                f["path"] = new

    if mode == "tamper-manifest":
        entries[0] = (entries[0][0], entries[0][1].replace(b'"title":"', b'"title":"X', 1))
    elif mode == "extra-file":
        m = tarfile.TarInfo("evil.sh")
        m.mode = 0o755
        entries.append((m, b"#!/bin/sh\necho owned\n"))
    elif mode == "symlink":
        m = tarfile.TarInfo(manifest["session_id"] + "/subagents/link.jsonl")
        m.type = tarfile.SYMTYPE
        m.linkname = "/etc/passwd"
        entries.append((m, b""))
    elif mode in ("dotdot", "absolute", "bad-session-id"):
        if mode == "dotdot":
            rename(first_file, "../../evil.jsonl")
        elif mode == "absolute":
            rename(first_file, "/tmp/evil.jsonl")
        else:
            manifest["session_id"] = "x;rm -rf ~"
        entries[0] = (entries[0][0], json.dumps(manifest, separators=(",", ":")).encode())
    elif mode == "impersonate":
        key, claim_id, claim_fpr = sys.argv[4:7]
        manifest["sender_echo_id"] = claim_id
        manifest["sender_fingerprint"] = claim_fpr
        data = json.dumps(manifest, separators=(",", ":")).encode()
        seed, pub = ed25519_seed(key)
        entries[0] = (entries[0][0], data)
        entries[1] = (entries[1][0], node_sign(seed, pub, data))
    elif mode == "retitle":
        title, key = sys.argv[4:6]
        manifest["title"] = title
        data = json.dumps(manifest, separators=(",", ":")).encode()
        seed, pub = ed25519_seed(key)
        entries[0] = (entries[0][0], data)
        entries[1] = (entries[1][0], node_sign(seed, pub, data))
    else:
        sys.exit(f"unknown mode {mode}")
    write(dst, entries)


if __name__ == "__main__":
    main()
