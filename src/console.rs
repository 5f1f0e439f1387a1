//! The terminal side: reading the user's lines (a line editor on a
//! terminal, plain lines otherwise), completing names, and the prompt loop
//! that turns lines into commands and chat.

pub mod completion;
pub mod input;
pub mod prompt;
pub mod terminal;
