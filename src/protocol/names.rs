//! The rules for names people and agents choose: session names and pane labels end up in
//! targets, titles and addresses, so they stay plain.

use super::Error;

/// Session names and labels end up in targets and titles: keep them plain. `%` starts a pane
/// id; `#` will start a channel, so a label may not start with it either.
fn plain_name(name: &str, what: &str, reserved: &[char]) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(reserved);
    if ok {
        return Ok(());
    }
    let reserved: Vec<String> = reserved.iter().map(char::to_string).collect();
    Err(Error::new(
        "bad_name",
        format!("{name:?} is not a usable {what}"),
        format!(
            "use letters, digits, '-', '_' or '.', at most 64 characters, not starting with {}",
            reserved.join(" or ")
        ),
    ))
}

pub fn validate_session_name(name: &str) -> Result<(), Error> {
    plain_name(name, "session name", &['%'])
}

pub fn validate_tab_name(name: &str) -> Result<(), Error> {
    plain_name(name, "tab name", &['%'])
}

pub fn validate_label(label: &str) -> Result<(), Error> {
    // `.` would read as a path (the bridge addresses agents by cwd); `user` is the bridge's
    // name for the person at the keyboard.
    if label == "user" {
        return Err(Error::new(
            "bad_name",
            "\"user\" is reserved: it addresses you, the person at the keyboard",
            "choose another label",
        ));
    }
    plain_name(label, "label", &['%', '#', '.'])
}
