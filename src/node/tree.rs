//! The broadcast tree: which links carry each origin's messages whole and
//! which announce them, what to ask for, and the recent messages kept for
//! peers that ask.

pub mod broadcast;
pub mod link;
pub mod recent;
pub mod wants;
