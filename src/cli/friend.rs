//! `sbx friend`: the people whose machines yours talks to — add (by echo-id or invite code),
//! invite, list, remove, which of your sessions each may see, and what each one's sbx said.

use clap::Subcommand;
use serde_json::json;

use super::output::{errln, outln, plain, print_json, CliResult, Error};
use super::share::err;
use crate::config::paths::Paths;
use crate::relay::client::Signer;
use crate::relay::wire;
use crate::share::friends::{valid_name, Friend, Friends, SEES_ALL};
use crate::share::identity;
use crate::share::{me, relay};

#[derive(Subcommand)]
pub enum FriendCmd {
    /// Add a friend by echo-id or invite code (their key is fetched from the relay and checked
    /// against the id).
    Add {
        /// The name you will send to them by (letters, digits, - _ .).
        name: String,
        /// Their echo-id, as `sbx id` prints it on their machine, or the code `sbx friend
        /// invite` printed there.
        #[arg(value_name = "ECHO-ID|CODE")]
        echo_id: String,
    },
    /// Print a code carrying your echo-id and relay, for a friend's `sbx friend add NAME CODE`.
    Invite,
    /// Your friends and their echo-ids.
    List,
    /// Forget a friend: nothing more goes to them or comes from them, and their sbx is told.
    #[command(visible_alias = "remove")]
    Rm {
        /// The friend's name.
        name: String,
    },
    /// Which of your agent sessions a friend may see (label, agent, state): --all, some
    /// labels, or --none. With none of these, what they see now.
    Presence {
        /// The friend's name.
        name: String,
        /// Labels of the sessions they may see.
        labels: Vec<String>,
        /// Every agent session.
        #[arg(long, conflicts_with_all = ["labels", "none"])]
        all: bool,
        /// None (the default for a new friend).
        #[arg(long, conflicts_with = "labels")]
        none: bool,
    },
    /// What a friend's sbx last said: whether they added you back, and the sessions they let
    /// you see (address them as NAME/LABEL).
    Sessions {
        /// The friend's name.
        name: String,
    },
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
            // An invite names the relay the friend publishes on: their key comes from there.
            let (echo_id, their_relay) = match crate::share::invite::is_invite(&echo_id) {
                true => {
                    let invite = crate::share::invite::decode(&echo_id)
                        .map_err(|why| err(why, "ask your friend for the code again: sbx friend invite"))?;
                    (invite.echo_id, Some(invite.relay))
                }
                false => (echo_id, None),
            };
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
            let mine = relay(paths);
            let client = match (&their_relay, &mine) {
                (Some(url), _) => {
                    crate::relay::client::RelayClient::new(url).map_err(|e| err(e, "ask for the code again"))?
                }
                (None, _) => mine.clone()?,
            };
            let key = client.fetch_key(&echo_id).await.map_err(|e| {
                err(e, "check the echo-id with your friend, and that they ran sbx id against this relay")
            })?;
            // Messages and sessions go through your own relay: say so when it is not theirs.
            let other_relay = match (&their_relay, &mine) {
                (Some(theirs), Ok(m)) if m.url().trim_end_matches('/') != theirs.trim_end_matches('/') => {
                    Some(theirs.clone())
                }
                (Some(theirs), Err(_)) => Some(theirs.clone()),
                _ => None,
            };
            let friend = Friend {
                echo_id: echo_id.clone(),
                public_key: identity::public_line(&key),
                added: wire::rfc3339(wire::now_secs()),
                sees: friends.friends.get(&name).map(|f| f.sees.clone()).unwrap_or_default(),
            };
            friends.friends.insert(name.clone(), friend);
            friends.save(paths)?;
            // Their sbx learns you added them back now, even with no server of yours running.
            let told = tell(paths, &echo_id, key.clone(), true).await;
            if json {
                print_json(&json!({ "name": name, "echo_id": echo_id, "fingerprint": wire::fingerprint(&key),
                                    "their_relay": other_relay, "told": told.is_ok() }));
            } else {
                outln!("added {name} ({echo_id}), key fingerprint {}", wire::fingerprint(&key));
                if let Err(why) = &told {
                    errln!("sbx: warning: {name} was not told yet ({why})\n  next: your sbx tells them when it runs with the relay");
                }
                if let Some(theirs) = &other_relay {
                    errln!(
                        "sbx: warning: {name} uses the relay {}, not yours\n  next: use theirs too: SBX_RELAY={} (or relay = \"…\" in config.toml)",
                        plain(theirs),
                        plain(theirs)
                    );
                }
            }
        }
        FriendCmd::Invite => {
            let me = me(paths)?;
            let relay = relay(paths)?;
            let code = crate::share::invite::encode(&crate::share::invite::Invite {
                echo_id: me.echo_id(),
                relay: relay.url().to_string(),
            });
            if json {
                print_json(&json!({ "invite": code, "echo_id": me.echo_id(), "relay": relay.url() }));
            } else {
                outln!("{code}");
                outln!("your friend runs: sbx friend add <your name> {code}");
            }
        }
        FriendCmd::List => {
            if json {
                let list: Vec<_> = friends
                    .friends
                    .iter()
                    .map(|(name, f)| json!({ "name": name, "echo_id": f.echo_id, "public_key": f.public_key, "added": f.added }))
                    .collect();
                print_json(&list);
            } else if friends.friends.is_empty() {
                outln!("no friends yet: sbx friend add NAME ECHO-ID");
            } else {
                for (name, f) in &friends.friends {
                    outln!("{name:<20} {}  added {}", f.echo_id, f.added);
                }
            }
        }
        FriendCmd::Rm { name } => {
            let Some(gone) = friends.friends.remove(&name) else {
                return Err(err(format!("no friend named {name}"), "see them: sbx friend list"));
            };
            friends.save(paths)?;
            // Their sbx is told, so their messages stop at their end too; refused here either way.
            let told = match identity::parse_public_line(&gone.public_key) {
                Some(key) => tell(paths, &gone.echo_id, key, false).await,
                None => Err("their key in friends.toml is broken".to_string()),
            };
            if json {
                print_json(&json!({ "removed": name, "told": told.is_ok() }));
            } else {
                outln!("removed {name}");
                if let Err(why) = &told {
                    errln!("sbx: warning: {name} was not told ({why}); what they send is refused here all the same");
                }
            }
        }
        FriendCmd::Presence { name, labels, all, none } => {
            let Some(friend) = friends.friends.get_mut(&name) else {
                return Err(err(format!("no friend named {name}"), "see them: sbx friend list"));
            };
            if let Some(bad) = labels.iter().find(|l| crate::protocol::validate_label(l).is_err()) {
                return Err(err(format!("{bad:?} is not a label"), "name labels as sbx ls shows them"));
            }
            let changed = all || none || !labels.is_empty();
            if changed {
                friend.sees = match (all, none) {
                    (true, _) => vec![SEES_ALL.to_string()],
                    (_, true) => Vec::new(),
                    _ => labels,
                };
                friends.save(paths)?;
            }
            let sees = friends.friends[&name].sees.clone();
            if json {
                print_json(&json!({ "friend": name, "sees": sees }));
            } else {
                match sees.as_slice() {
                    [] => outln!("{name} sees none of your sessions"),
                    [all] if all == SEES_ALL => outln!("{name} sees all your agent sessions"),
                    some => outln!("{name} sees your sessions labelled {}", some.join(", ")),
                }
                if changed {
                    outln!("your sbx tells them within seconds while it runs");
                }
            }
        }
        FriendCmd::Sessions { name } => {
            if !friends.friends.contains_key(&name) {
                return Err(err(format!("no friend named {name}"), "see them: sbx friend list"));
            }
            let link = crate::bridge::client::Link::new(paths.clone(), None);
            let answer = link.call(crate::bridge::BridgeOp::FriendSessions { friend: name.clone() }).await?;
            let v: serde_json::Value = serde_json::from_str(&answer)
                .map_err(|e| Error::new("bad_answer", format!("bad answer from the server: {e}"), "sbx kill-server"))?;
            if json {
                print_json(&v);
                return Ok(());
            }
            if v["removed_you"] == true {
                outln!("{name} has removed you as a friend");
            } else if v["added_you_back"] != true {
                outln!("{name} has not added you back yet");
                outln!("  next: give them your code (sbx friend invite) for: sbx friend add YOUR-NAME CODE");
            } else {
                let heard = v["last_heard"].as_str().map(plain).unwrap_or_default();
                let online = if v["online"] == true { "online" } else { "offline" };
                outln!("{name}: {online}, last heard {heard}");
                let sessions = v["sessions"].as_array().cloned().unwrap_or_default();
                if sessions.is_empty() {
                    outln!("  they let you see none of their sessions");
                }
                for s in sessions {
                    let f = |k: &str| s[k].as_str().map(plain).unwrap_or_default();
                    outln!("  {:<24} {:<8} {}", f("id"), f("agent"), f("state"));
                }
            }
        }
    }
    Ok(())
}

/// Tell the friend with `echo_id` whether they are your friend (no sessions: your server
/// says which they may see when it runs). Best effort: why not, when not.
async fn tell(paths: &Paths, echo_id: &str, key: Vec<u8>, friends: bool) -> Result<(), String> {
    let me = me(paths).map_err(|e| e.message)?;
    let relay = relay(paths).map_err(|e| e.message)?;
    crate::share::presence::tell(&relay, std::sync::Arc::new(me), echo_id, key, friends, Vec::new())
        .await
        .map_err(|e| format!("{e:#}"))
}
