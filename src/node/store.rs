//! What a node remembers: the ids it has seen, the chat history and the
//! ring it lives in, who is online (and its digest), who left, and runs of
//! ids.

pub mod departed;
pub mod digest;
pub mod history;
pub mod id_runs;
pub mod ring;
pub mod roster;
pub mod seen;
