//! Connections accepted but not yet authenticated, and the ones turned
//! away.
//!
//! Anyone who can reach the port can open connections and never speak, so
//! these are capped, in total and per source address. A new connection is
//! never refused for want of room: it displaces the oldest pending one (of
//! its own source, when that source is at its cap), the oldest of those
//! that have not said a word first, so an honest peer that shares an
//! address with an attacker (loopback, one NAT), and that speaks at once,
//! still gets in.
//! Failed handshakes are counted per source and summarised, never shown one
//! by one. Outbound dials are not counted here: they never wait behind
//! inbound handshakes.
//!
//! Pure bookkeeping, no I/O: the caller aborts what it is told to.

use futures::future::AbortHandle;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Inbound connections in their handshake at once, at most.
pub const MAX_PENDING: usize = 64;
/// Of which from one source address.
pub const MAX_PER_SOURCE: usize = 32;
/// How long failed handshakes are counted before the count starts over.
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(60);

/// Identifies a pending connection.
pub type Ticket = u64;

#[derive(Default)]
pub struct Pending {
    /// Oldest first.
    entries: Vec<Entry>,
    next: Ticket,
    /// Failed handshakes per source in the current window.
    refused: HashMap<IpAddr, u64>,
    window_start: Option<Instant>,
    /// Sources counted, at most; the rest are counted together.
    refused_elsewhere: u64,
}

struct Entry {
    ticket: Ticket,
    source: IpAddr,
    abort: AbortHandle,
    /// It has sent its first bytes.
    spoke: bool,
}

/// Sources whose refusals are counted one by one.
const MAX_SOURCES: usize = 256;

impl Pending {
    /// Registers a new connection from `source`, which `abort` ends, and
    /// which has `spoke` already. Returns its ticket, and the connection it
    /// displaced, to abort.
    pub fn add(
        &mut self,
        source: IpAddr,
        abort: AbortHandle,
        spoke: bool,
    ) -> (Ticket, Option<AbortHandle>) {
        let from_source = self.entries.iter().filter(|e| e.source == source).count();
        let oldest = |of_source: bool| {
            let candidate = |e: &&Entry| !of_source || e.source == source;
            let silent = self.entries.iter().filter(candidate).position(|e| !e.spoke);
            let index = silent.or_else(|| self.entries.iter().filter(candidate).position(|_| true));
            // The position among the candidates, as a position in all.
            index.and_then(|i| {
                let nth = self
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| candidate(e))
                    .nth(i);
                nth.map(|(j, _)| j)
            })
        };
        let displaced = if from_source >= MAX_PER_SOURCE {
            oldest(true)
        } else if self.entries.len() >= MAX_PENDING {
            oldest(false)
        } else {
            None
        };
        let displaced = displaced.map(|i| self.entries.remove(i).abort);
        let ticket = self.next;
        self.next += 1;
        self.entries.push(Entry {
            ticket,
            source,
            abort,
            spoke,
        });
        (ticket, displaced)
    }

    /// Notes that connection `ticket` has sent its first bytes.
    pub fn spoke(&mut self, ticket: Ticket) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.ticket == ticket) {
            e.spoke = true;
        }
    }

    /// Forgets connection `ticket`: its handshake ended, one way or another.
    pub fn remove(&mut self, ticket: Ticket) {
        self.entries.retain(|e| e.ticket != ticket);
    }

    /// Connections in their handshake now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Of which from `source`.
    pub fn of_source(&self, source: IpAddr) -> usize {
        self.entries.iter().filter(|e| e.source == source).count()
    }

    /// Counts a failed handshake from `source`.
    pub fn refused(&mut self, source: IpAddr, now: Instant) {
        if self
            .window_start
            .map_or(true, |start| start + REFUSAL_WINDOW <= now)
        {
            self.window_start = Some(now);
            self.refused.clear();
            self.refused_elsewhere = 0;
        }
        let room = self.refused.len() < MAX_SOURCES;
        match self.refused.get_mut(&source) {
            Some(n) => *n += 1,
            None if room => {
                self.refused.insert(source, 1);
            }
            None => self.refused_elsewhere += 1,
        }
    }

    /// The failed handshakes of the current window, as sentences, most
    /// first; nothing once the window has passed.
    pub fn summary(&self, now: Instant) -> Vec<String> {
        let Some(start) = self.window_start.filter(|s| *s + REFUSAL_WINDOW > now) else {
            return Vec::new();
        };
        let mut counts: Vec<(&IpAddr, &u64)> = self.refused.iter().collect();
        counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let since = now.duration_since(start).as_secs();
        let mut lines: Vec<String> = counts
            .into_iter()
            .map(|(source, n)| {
                format!(
                    "refused {} from {source} in the last {since} s",
                    connections(*n)
                )
            })
            .collect();
        if self.refused_elsewhere > 0 {
            lines.push(format!(
                "refused {} from other addresses in the last {since} s",
                connections(self.refused_elsewhere)
            ));
        }
        lines
    }
}

fn connections(n: u64) -> String {
    match n {
        1 => "1 connection".to_string(),
        n => format!("{n} connections"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::AbortHandle;

    fn handle() -> (AbortHandle, futures::future::AbortRegistration) {
        AbortHandle::new_pair()
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_source_at_its_cap_displaces_its_own_oldest() {
        let mut p = Pending::default();
        let mut first = None;
        for i in 0..MAX_PER_SOURCE {
            let (h, _) = handle();
            let (t, displaced) = p.add(ip(1), h.clone(), false);
            assert!(displaced.is_none());
            if i == 0 {
                first = Some((t, h));
            }
        }
        // Another source is not held up.
        let (other, _) = handle();
        assert!(p.add(ip(2), other, false).1.is_none());
        // The same source's next one pushes its own oldest out.
        let (h, _) = handle();
        let (_, displaced) = p.add(ip(1), h, false);
        let (_, oldest) = first.unwrap();
        oldest.abort();
        assert!(
            displaced.is_some_and(|d| d.is_aborted()),
            "the oldest of 10.0.0.1"
        );
        assert_eq!(p.len(), MAX_PER_SOURCE + 1);
    }

    #[test]
    fn one_that_spoke_is_displaced_only_when_none_is_silent() {
        let mut p = Pending::default();
        let (honest, _) = handle();
        let (talking, _) = p.add(ip(1), honest, false);
        p.spoke(talking);
        for _ in 1..MAX_PER_SOURCE {
            let (h, _) = handle();
            p.add(ip(1), h, false);
        }
        for _ in 0..1000 {
            let (h, _) = handle();
            assert!(p.add(ip(1), h, false).1.is_some(), "a silent one goes");
        }
        assert!(p.entries.iter().any(|e| e.ticket == talking), "still there");
    }

    #[test]
    fn the_total_is_capped_by_displacing_the_oldest() {
        let mut p = Pending::default();
        for i in 0..MAX_PENDING {
            let (h, _) = handle();
            assert!(p.add(ip(i as u8), h, false).1.is_none());
        }
        let (h, _) = handle();
        assert!(p.add(ip(250), h, false).1.is_some());
        assert_eq!(p.len(), MAX_PENDING);
        let (h, _) = handle();
        let (t, _) = p.add(ip(251), h, false);
        p.remove(t);
        assert_eq!(p.len(), MAX_PENDING - 1);
    }

    #[test]
    fn refusals_are_summed_per_source_for_a_minute() {
        let t0 = Instant::now();
        let mut p = Pending::default();
        for _ in 0..1234 {
            p.refused(ip(9), t0);
        }
        p.refused(ip(8), t0);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(
            p.summary(later),
            [
                "refused 1234 connections from 10.0.0.9 in the last 5 s",
                "refused 1 connection from 10.0.0.8 in the last 5 s"
            ]
        );
        assert!(p.summary(t0 + REFUSAL_WINDOW).is_empty());
        for i in 0..=255u8 {
            p.refused(IpAddr::from([10, 1, 0, i]), t0 + REFUSAL_WINDOW);
        }
        p.refused(ip(7), t0 + REFUSAL_WINDOW);
        let lines = p.summary(t0 + REFUSAL_WINDOW);
        assert_eq!(lines.len(), MAX_SOURCES + 1);
        assert!(lines.last().unwrap().contains("from other addresses"));
    }
}
