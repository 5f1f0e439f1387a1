//! Links: accepting and opening connections, the handshake and the
//! node's decision on a peer, and serving a link once admitted.

pub mod accept;
pub mod admission;
pub mod connection;
pub mod gather;
pub mod handshake;
pub mod pending;
