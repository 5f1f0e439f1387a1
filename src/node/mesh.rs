//! The mesh: which peers a node links to, whom it knows of and dials,
//! LAN discovery, healing splits, and admitting and forgetting peers.

pub mod dial_book;
pub mod dial_budget;
pub mod dialer;
pub mod discovery;
pub mod heal;
pub mod membership;
pub mod peers;
