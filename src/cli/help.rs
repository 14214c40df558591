//! How sbx explains itself: `sbx --help` lists the commands by what they are for and tells
//! apart the nouns that look alike; completions and the manual page come from the same clap
//! definitions.

use clap::CommandFactory;

use super::args::Cli;

/// The commands by what they are for.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Multiplexer",
        &[
            "new",
            "attach",
            "detach",
            "ls",
            "split",
            "new-tab",
            "send-keys",
            "capture",
            "kill",
            "kill-server",
            "restore",
            "upgrade",
            "reload",
            "label",
            "rename-session",
            "rename-tab",
            "swap-pane",
            "move-pane",
            "layout",
            "mute",
            "zoom",
            "web",
            "config",
        ],
    ),
    ("Agents in panes", &["agent", "init", "uninstall", "doctor", "mcp"]),
    ("Bridge: messages between agents (and you)", &["msg", "channel", "search", "artifact"]),
    ("Sharing sessions with friends", &["id", "friend", "sessions", "send", "inbox", "open"]),
    ("Relay", &["relay"]),
    ("About sbx", &["version", "completions", "man", "help"]),
];

const ALIKE: &str = "\
Nouns that look alike:
  sbx send FRIEND        seal an agent session for a friend (sharing, through the relay)
  sbx msg send TO ...    send a message to an agent or to you (bridge, on this machine)
  sbx send-keys -t PANE  type into a pane
  sbx inbox              sessions friends sent you, waiting on the relay
  sbx msg inbox          messages for you (or a pane) on this machine
  sbx sessions           agent sessions on disk (Claude Code, Codex), to send or resume
  sbx msg sessions       the agents you can message
  sbx ls                 sbx's own sessions, tabs and panes";

/// The grouped list of commands, with each one's summary.
fn grouped(cmd: &clap::Command) -> String {
    let mut out = String::new();
    for (title, names) in GROUPS {
        out.push_str(&format!("{title}:\n"));
        for name in *names {
            let about = match cmd.find_subcommand(name) {
                Some(sub) => sub.get_about().map(|a| a.to_string()).unwrap_or_default(),
                None if *name == "help" => "Print this, or a command's help".to_string(),
                None => continue,
            };
            out.push_str(&format!("  {name:<12} {about}\n"));
        }
        out.push('\n');
    }
    out.push_str(ALIKE);
    out
}

/// The clap command to parse `args` with: the grouped help costs a third of a short command's
/// start (every `sbx msg send` an agent runs), so it is built only when help is asked for.
pub fn for_args(args: &[std::ffi::OsString]) -> clap::Command {
    let wants_help = args.iter().skip(1).any(|a| a == "-h" || a == "--help" || a == "help");
    if wants_help {
        command()
    } else {
        Cli::command()
    }
}

/// sbx's clap command with the grouped help.
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let listing = grouped(&cmd);
    // The listing goes into the template itself: clap pads `{after-help}` with blank lines.
    cmd.help_template(format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{listing}\n\nOptions:\n{{options}}"
    ))
}

/// The help to read after a usage error: that of the deepest command the arguments name
/// (`sbx msg send --help` for `sbx msg send --frob`).
pub fn hint(args: impl Iterator<Item = String>) -> String {
    let mut cmd = command();
    let mut words = vec!["sbx".to_string()];
    for arg in args {
        match cmd.find_subcommand(&arg) {
            Some(sub) => {
                words.push(sub.get_name().to_string());
                cmd = sub.clone();
            }
            None if arg.starts_with('-') => continue,
            None => break,
        }
    }
    format!("see the command's help: {} --help", words.join(" "))
}

pub fn completions(shell: clap_complete::Shell) {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "sbx", &mut out);
    super::output::write_out(&out);
}

pub fn man() -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    super::output::write_out(&out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_error_points_at_the_help_of_the_command_it_is_in() {
        let hint = |args: &[&str]| hint(args.iter().map(|a| a.to_string()));
        assert_eq!(hint(&["msg", "send", "--frob"]), "see the command's help: sbx msg send --help");
        assert_eq!(hint(&["--json", "new", "--frob"]), "see the command's help: sbx new --help");
        assert_eq!(hint(&["bogus"]), "see the command's help: sbx --help");
        assert_eq!(hint(&["friend", "remove"]), "see the command's help: sbx friend rm --help");
    }

    #[test]
    fn every_command_is_in_a_group_and_every_argument_says_what_it_is() {
        let cmd = command();
        let grouped: Vec<&str> = GROUPS.iter().flat_map(|(_, names)| names.iter().copied()).collect();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            assert!(grouped.contains(&sub.get_name()), "{} is in no group of sbx --help", sub.get_name());
        }
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (no summary)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&cmd, "sbx", &mut missing);
        assert!(missing.is_empty(), "without help text:\n{}", missing.join("\n"));
    }
}
