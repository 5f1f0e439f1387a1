//! The heartbeat: tells the network this user is still here, and notices
//! users who stopped saying so (their program crashed, their machine or
//! link vanished, or the network split: `heal.rs` sees to that).

use super::router::Shared;
use crate::protocol::PresenceKind;
use crate::rt;
use std::sync::Arc;
use std::time::Duration;

/// How often each node floods a heartbeat. One wake-up per period at idle.
pub const HEARTBEAT: Duration = Duration::from_secs(4);
/// A user not heard from for this long is shown as lost: three heartbeats
/// missed, so one delayed or lost heartbeat is no false alarm.
pub const EXPIRY: Duration = Duration::from_secs(12);

pub(super) async fn run(shared: Arc<Shared>) {
    let mut refusals_told = None;
    loop {
        rt::sleep(HEARTBEAT).await;
        if shared.is_quitting() {
            return;
        }
        shared.announce_self(PresenceKind::Alive).wait().await;
        shared.expire_users(EXPIRY);
        shared.tell_refusals(&mut refusals_told);
    }
}
