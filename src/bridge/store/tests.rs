use super::*;

pub(super) fn msg<'a>(sender: &'a str, to: &'a str, subject: &'a str, body: &'a str) -> NewMessage<'a> {
    NewMessage {
        sender,
        sender_name: sender,
        kind: "direct",
        recipient: to,
        subject,
        body,
        reply_to: None,
        thread: None,
        artifacts: &[],
        created: 1,
        expires: None,
    }
}

#[test]
fn messages_search_threads_and_collection() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let a = store.insert_message(&msg("a", "b", "hello", "the quick brown fox"), &["b".into()]).unwrap();
    let mut reply = msg("b", "a", "re: hello", "jumps over");
    reply.thread = Some(a);
    reply.reply_to = Some(a);
    let r = store.insert_message(&reply, &["a".into()]).unwrap();
    assert_eq!(store.unread_count("b", 10).unwrap(), 1);
    assert_eq!(store.search("b", "brown", 10, 10).unwrap()[0].id, a);
    assert!(store.search("c", "brown", 10, 10).unwrap().is_empty(), "not delivered to c");
    assert!(store.search("b", "\"AND* (", 10, 10).unwrap().is_empty(), "odd input is words");
    assert_eq!(store.thread("a", a, 10).unwrap().iter().map(|m| m.id).collect::<Vec<_>>(), vec![a, r]);
    assert_eq!(store.mark_read("b", &[a], 20).unwrap(), 1);
    assert_eq!(store.mark_read("b", &[a], 20).unwrap(), 0);
    // `a` is read by everyone it went to; `r` is not: only `a` goes.
    store.collect(100, 50, 50).unwrap();
    assert!(!store.message_exists(a, 100).unwrap());
    assert!(store.message_exists(r, 100).unwrap());
    assert!(store.search("a", "jumps", 10, 100).unwrap().len() == 1, "the index follows deletions");
}

#[test]
fn artifacts_are_content_addressed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let (sha, new) = store.put_artifact(b"data", Some("x.txt"), "a", 1).unwrap();
    assert!(new);
    assert_eq!(store.put_artifact(b"data", None, "b", 2).unwrap(), (sha.clone(), false));
    assert_eq!(store.usage().unwrap(), vec![("a".to_string(), 4)], "charged to the first owner only");
    assert_eq!(store.artifact(&sha).unwrap().unwrap().1, b"data");
    assert!(store.artifact("../../etc/passwd").unwrap().is_none());
    std::fs::write(dir.path().join("artifacts").join(&sha[..2]).join(&sha), b"evil").unwrap();
    assert!(store.artifact(&sha).is_err());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("bridge.db")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
