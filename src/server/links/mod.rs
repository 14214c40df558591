//! The server's links to what runs beside it: the bridge thread, sharing, and friends'
//! machines (their letters, and their presence).

pub mod bridge;
pub mod presence;
pub mod remote;
pub mod share;

use std::sync::Arc;

use serde_json::Value;

use crate::bridge::{BridgeHandle, BridgeMsg, RemoteMsg, Replier};
use crate::config::paths::Paths;
use crate::protocol::Error;

/// Ask the bridge, as the remote links do, and wait for its answer.
pub(crate) async fn ask(bridge: &BridgeHandle, msg: RemoteMsg) -> Result<Value, Error> {
    let (reply, mut answer) = tokio::sync::mpsc::unbounded_channel();
    bridge.send(BridgeMsg::Remote { msg, reply: Replier::Value(reply) });
    let gone = || Error::new("server_gone", "the bridge is stopping", "start sbx again");
    answer.recv().await.unwrap_or_else(|| Err(gone()))
}

/// Your identity and the relay, or why not (said once until it changes).
pub(crate) fn setup(
    paths: &Paths,
) -> Result<(Arc<crate::share::identity::Identity>, crate::relay::client::RelayClient), Error> {
    Ok((Arc::new(crate::share::me(paths)?), crate::share::relay(paths)?))
}

/// A sealed blob from our mailbox, at most `max` bytes. None when it is done with: gone, or
/// refused by the relay (logged); an error when the relay cannot be reached (try again).
pub(crate) async fn fetch_sealed(
    relay: &crate::relay::client::RelayClient,
    me: &Arc<crate::share::identity::Identity>,
    blob: &str,
    max: u64,
    what: &str,
) -> Result<Option<Vec<u8>>, Error> {
    match relay.fetch_all(&**me, blob, max).await {
        Ok(sealed) => Ok(Some(sealed)),
        Err(e) if e.status == Some(404) || e.status == Some(410) => Ok(None),
        Err(e) if e.status.is_none() => Err(Error::new("relay", e.to_string(), "")),
        Err(e) => {
            tracing::warn!("{what} {blob} refused: {e}");
            Ok(None)
        }
    }
}

/// The ids of the blobs listed in our mailbox that are ids: they go into paths and requests,
/// and a relay's answer is not trusted with them.
pub(crate) fn valid_ids(listed: Vec<crate::relay::client::Listed>) -> impl Iterator<Item = String> {
    listed.into_iter().map(|b| b.id).filter(|id| crate::relay::wire::valid_blob_id(id))
}

/// After taking blob `blob`: delete it from the relay once done with (Ok); one not taken is
/// left for the next round, after `pause`. Err: the bridge is stopping, and so should the
/// caller.
pub(crate) async fn done_with(
    relay: &crate::relay::client::RelayClient,
    me: &Arc<crate::share::identity::Identity>,
    what: &str,
    blob: &str,
    taken: Result<(), Error>,
    pause: std::time::Duration,
) -> Result<(), ()> {
    match taken {
        Ok(()) => {
            if let Err(e) = relay.delete(&**me, blob).await {
                tracing::warn!("{what} {blob} taken but not deleted from the relay: {e}");
            }
        }
        Err(e) if e.code == "server_gone" => return Err(()),
        Err(e) => {
            tracing::warn!("{what} {blob} not taken: {}", e.message);
            tokio::time::sleep(pause).await;
        }
    }
    Ok(())
}
