//! What the node's core needs of a screen: somewhere to format lines and
//! queue them. The terminal's [`Display`] is one; the simulator's record
//! of what each node showed is another.

use crate::display::{Display, Event};
use std::future::Future;
use std::pin::Pin;

/// A place lines are shown. Formatting happens under the node's lock, into
/// a buffer the node hands over once per handler (see `Shared::hand_over`).
pub trait Screen: Send + Sync {
    /// Appends the line for `event` to `out`.
    fn format(&self, event: &Event<'_>, out: &mut Vec<u8>);
    /// An empty buffer with room for `room` bytes of lines.
    fn buffer(&self, room: usize) -> Vec<u8>;
    /// Queues formatted lines; true if the producer should now wait for
    /// [`space`](Self::space).
    fn queue(&self, text: Vec<u8>) -> bool;
    /// Shows one event at once, without waiting.
    fn show(&self, event: &Event<'_>);
    /// The user's name, whose mentions stand out.
    fn set_name(&self, name: &str);
    /// Resolves once the queue has room.
    fn space(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// A screen that only records what it is shown, formatted or not (the
/// simulator's record, the unit tests' lines): it never makes the node
/// wait, and has no name to highlight.
pub trait Recording: Send + Sync {
    fn record(&self, event: &Event<'_>);
}

impl<R: Recording> Screen for R {
    fn format(&self, event: &Event<'_>, _out: &mut Vec<u8>) {
        self.record(event)
    }

    fn buffer(&self, _room: usize) -> Vec<u8> {
        Vec::new()
    }

    fn queue(&self, _text: Vec<u8>) -> bool {
        false
    }

    fn show(&self, event: &Event<'_>) {
        self.record(event)
    }

    fn set_name(&self, _name: &str) {}

    fn space(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
}

impl Screen for Display {
    fn format(&self, event: &Event<'_>, out: &mut Vec<u8>) {
        Display::format(self, event, out)
    }

    fn buffer(&self, room: usize) -> Vec<u8> {
        Display::buffer(self, room)
    }

    fn queue(&self, text: Vec<u8>) -> bool {
        Display::queue(self, text)
    }

    fn show(&self, event: &Event<'_>) {
        Display::show(self, event)
    }

    fn set_name(&self, name: &str) {
        Display::set_name(self, name)
    }

    fn space(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Display::space(self))
    }
}
