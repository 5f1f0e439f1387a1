//! p2pchat: a peer-to-peer chat for the terminal.
//!
//! Data flows one way: socket bytes become frames ([`message`]), frames become
//! typed messages ([`protocol`]), which the node floods to its peers and hands
//! to the display.

pub mod message;
pub mod protocol;
