//! Chat and presence messages: each shown once, kept in the history and
//! flooded on, however often it arrives; and the user's own lines, joins,
//! heartbeats and renames, sent the same way. Handlers on the node's state
//! (see `state.rs`).

use crate::display::Event;
use crate::node::mesh::peers::PeerSet;
use crate::node::mesh::peers::Via;
use crate::node::presence::HeardBy;
use crate::node::state::{Shared, State, Waits};
use crate::node::store::roster::{Heard, Roster};
use crate::node::store::seen::{Fresh, Path};
use crate::node::tree::broadcast::Onward;
use crate::protocol::{self, Chat, ChatBurst, ChatKind, ChatShape, EncodeError, MsgId, NodeId};
use std::sync::MutexGuard;
use std::time::Instant;

/// The most room set aside for the next handler's lines: a full read of
/// short messages, not the rare line of a maximum-size one.
const SHOWN_ROOM: usize = 64 << 10;
/// The least room a batch of chat messages starts with: a full read of
/// short ones (some 500 lines of 60 bytes), so that one after a quiet
/// spell does not grow its buffer line by line. Other handlers show a
/// line or two, and start with what the last one left.
const BATCH_ROOM: usize = 32 << 10;

impl Shared {
    /// Takes the lock for a run of chat messages from one read (see
    /// [`ChatBatch`]).
    pub fn chat_batch(&self) -> ChatBatch<'_> {
        let mut state = self.lock();
        self.room_for_batch(&mut state);
        ChatBatch {
            shared: self,
            state,
            now: self.now(),
            latest_ms: self.clock.unix_ms().saturating_add(MOST_AHEAD_MS),
            delivered: None,
            waits: Waits::default(),
        }
    }

    /// Shows a new chat message, keeps its frame in the history, and
    /// passes it on (as its arrival says) to every peer but the one it came
    /// from, if it may take another hop.
    fn deliver(
        &self,
        state: &mut State,
        chat: &Chat<'_>,
        arrival: Arrival<'_>,
        now: Instant,
        waits: &mut Waits,
    ) {
        let Arrival {
            from,
            frame,
            onward,
            tagged,
            late,
        } = arrival;
        state.history.push(chat.id, frame, now);
        match chat.history {
            true => self.history_line(state, now),
            false => self.end_history(state),
        }
        let mut shape = ChatShape::of(chat);
        shape.history |= late;
        self.show(
            state,
            Event::Chat {
                frame,
                shape,
                tagged,
                own: from.is_none(),
            },
        );
        if chat.ttl > 0 {
            self.fan_out(state, from, chat.id, frame, onward, waits);
        }
    }

    /// Formats a line to show; [`hand_over`](Self::hand_over) hands it to
    /// the display before the lock is released.
    pub(super) fn show(&self, state: &mut State, event: Event<'_>) {
        self.display.format(&event, &mut state.shown);
    }

    /// Hands over what a handler gathered, under the node's lock so that
    /// it keeps its order among what other handlers queue: the frames for
    /// each peer to its queue, the lines to the display.
    pub(super) fn hand_over(&self, state: &mut State, waits: &mut Waits) {
        state.gathered.flush(&mut state.peers, waits);
        if state.shown.is_empty() {
            return;
        }
        // The next batch is likely about as long: room for it now spares
        // growing its buffer, and copying the text, line by line.
        let room = (2 * state.shown.len()).min(SHOWN_ROOM);
        let text = std::mem::replace(&mut state.shown, self.display.buffer(room));
        if self.display.queue(text) {
            waits.wait_for_display(&self.display);
        }
    }

    /// Gives the display text room for a batch of chat lines, unless it
    /// has it. An empty buffer is replaced rather than grown: nothing to
    /// copy.
    fn room_for_batch(&self, state: &mut State) {
        if state.shown.capacity() < BATCH_ROOM && state.shown.is_empty() {
            state.shown = self.display.buffer(BATCH_ROOM);
        }
    }

    /// Sends chat lines typed by this node's user, in order: each a
    /// `(text, kind)`. They share one hold
    /// of the lock and one reading of the clocks, so a pasted or piped burst
    /// costs less per line. A line too long for a frame is refused, taking
    /// no sequence number: the lines after it are left unsent, so that the
    /// caller can tell the user in place. Returns how many were sent, and
    /// why the next one was refused.
    pub fn say_all(&self, lines: &[(&str, ChatKind)]) -> (Waits, usize, Option<EncodeError>) {
        let (now, time_ms) = (self.now(), self.clock.unix_ms());
        let mut guard = self.lock();
        let state = &mut *guard;
        if lines.len() > 1 {
            self.room_for_batch(state);
        }
        let name = state.name.clone();
        let mut waits = Waits::default();
        let ttl = protocol::INITIAL_TTL;
        let burst = match ChatBurst::new(self.id, ttl, time_ms, &name) {
            Ok(burst) => burst,
            Err(e) => return (waits, 0, Some(e)),
        };
        // The user's name, and who else goes by it, stay as they are for
        // the whole burst.
        let tagged = state.roster.is_ambiguous(self.id, &name);
        let mut refused = None;
        let mut sent = 0;
        for &(text, kind) in lines {
            let action = kind == ChatKind::Action;
            let chat = Chat {
                history: false,
                action,
                ttl,
                id: MsgId {
                    origin: self.id,
                    seq: state.next_seq(),
                },
                time_ms,
                name: &name,
                text,
            };
            let encoded = state.with_frame(
                |out| burst.encode(chat.id.seq, action, text, out),
                |state, frame| {
                    state.next_id(self.id);
                    state.seen.insert(chat.id, now);
                    let onward = Onward::AsIs;
                    let arrival = Arrival {
                        from: None,
                        frame,
                        onward,
                        tagged,
                        late: false,
                    };
                    self.deliver(state, &chat, arrival, now, &mut waits);
                },
            );
            if let Err(e) = encoded {
                refused = Some(e);
                break;
            }
            sent += 1;
        }
        self.hand_over(state, &mut waits);
        (waits, sent, refused)
    }
}

/// How a new chat message reached the node.
struct Arrival<'a> {
    /// The peer it came from; `None` for the user's own.
    from: Option<NodeId>,
    /// Its frame, as kept.
    frame: &'a [u8],
    /// How it goes on.
    onward: Onward<'a>,
    /// Another online user goes by its sender's name: it is shown with a
    /// tag from the node id.
    tagged: bool,
    /// A later message of its sender was shown already (this one was
    /// recovered after a link closed): it is shown with its time, as
    /// history is, so that no line looks out of its place.
    late: bool,
}

/// Chat messages handled under one hold of the node's lock: every one that
/// a read brought. The lock, the clock and the wait for full queues are then
/// paid once per read rather than once per message, and the messages still
/// go in the order they came. The lock is released when the batch is.
pub(super) struct ChatBatch<'a> {
    shared: &'a Shared,
    state: MutexGuard<'a, State>,
    now: Instant,
    /// The latest time a message may carry: later is made up.
    latest_ms: u64,
    /// The link the batch's messages came over, and how many of them were
    /// new here: credited to the peer when the batch ends.
    delivered: Option<(Via, u64)>,
    waits: Waits,
}

/// How far ahead of this node's clock a chat message's time may be, in
/// milliseconds: an hour, for clocks that are off.
const MOST_AHEAD_MS: u64 = 3_600_000;

impl ChatBatch<'_> {
    /// Handles a chat message, parsed from `body` (the end of `frame`, as
    /// read), that came `via` a peer: shown and forwarded once, however
    /// often it arrives.
    pub fn chat(&mut self, via: Via, chat: &Chat<'_>, frame: &[u8], body: &str) {
        let (shared, state, now) = (self.shared, &mut *self.state, self.now);
        // History replays say nothing of the paths live messages take.
        if !chat.history {
            shared.note_path(state, Some(via), chat.id);
        }
        if chat.time_ms > self.latest_ms {
            return;
        }
        let path = match via.peer == chat.id.origin && !chat.history {
            true => Path::Direct,
            false => Path::Relayed,
        };
        let keep = known_origins(&state.roster, &state.peers);
        let fresh = match chat.history {
            true => state.seen.insert_keeping(chat.id, path, now, keep),
            false => state.seen.insert_chat(chat.id, path, now, keep),
        };
        if !fresh.is_new() {
            return;
        }
        match &mut self.delivered {
            Some((v, n)) if *v == via => *n += 1,
            _ => {
                Self::credit(state, self.delivered.take());
                self.delivered = Some((via, 1));
            }
        }
        let returns = state.departed.may_return(chat.id.origin, chat.id.seq);
        let tagged = if chat.history || !returns {
            state.roster.is_ambiguous(chat.id.origin, chat.name)
        } else {
            // A live message proves its sender is online.
            let (heard, tagged) =
                state
                    .roster
                    .heard_tagged(chat.id.origin, chat.name, chat.id.seq, now);
            if heard != Heard::Same {
                shared.announce(state, chat.id.origin, chat.name, heard, HeardBy::Other);
            }
            tagged
        };
        // Kept as it came; passed on with a hop taken off.
        let ttl = chat.ttl.saturating_sub(1);
        let onward = Onward::Relayed { body, ttl };
        let arrival = Arrival {
            from: Some(via.peer),
            frame,
            onward,
            tagged,
            late: fresh == Fresh::Late,
        };
        shared.deliver(state, chat, arrival, now, &mut self.waits);
    }

    /// Shows the batch's lines and releases the lock; returns the queues to
    /// wait for.
    pub fn finish(mut self) -> Waits {
        Self::credit(&mut self.state, self.delivered.take());
        self.shared.hand_over(&mut self.state, &mut self.waits);
        std::mem::take(&mut self.waits)
    }

    /// Credits a peer with the messages that were new here: a full node
    /// keeps the peers that bring news (see `PeerSet::admit`).
    fn credit(state: &mut State, delivered: Option<(Via, u64)>) {
        if let Some((via, n)) = delivered {
            if let Some(peer) = state.peers.current_mut(via) {
                peer.delivered += n;
            }
        }
    }
}

impl Drop for ChatBatch<'_> {
    /// A batch cut short (the peer broke a rule) still shows the lines of
    /// the messages it handled.
    fn drop(&mut self) {
        Self::credit(&mut self.state, self.delivered.take());
        self.shared.hand_over(&mut self.state, &mut self.waits);
    }
}

/// The origins the seen-cache must not forget while another can go: the
/// online users and the peers.
fn known_origins<'a>(roster: &'a Roster, peers: &'a PeerSet) -> impl Fn(NodeId) -> bool + 'a {
    |o| roster.is_online(o) || peers.get(&o).is_some()
}

/// Names shown at most in the line that greets a newcomer.
pub const GREETING_NAMES: usize = 20;

/// `4 online: alice, bob, carol, dave`, with the first
/// [`GREETING_NAMES`] names and then how many more.
pub fn online_line(names: &[String]) -> String {
    let shown = names[..names.len().min(GREETING_NAMES)].join(", ");
    match names.len().saturating_sub(GREETING_NAMES) {
        0 => format!("{} online: {shown}", names.len()),
        more => format!("{} online: {shown} and {more} more", names.len()),
    }
}

#[cfg(test)]
mod tests;
