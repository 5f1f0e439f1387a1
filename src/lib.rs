//! p2pchat: a peer-to-peer chat for the terminal.
//!
//! Data flows one way: socket bytes become frames ([`message`]), frames become
//! typed messages ([`protocol`]), which the [`node`] floods to its peers and
//! hands to the [`display`]. The [`console`] feeds the user's lines in.

pub mod amount;
pub mod app;
pub mod console;
pub mod display;
pub mod key_store;
pub mod log;
pub mod message;
pub mod multicast;
pub mod node;
pub mod protocol;
pub mod queue;
pub mod rt;
pub mod secure;
