//! Arbitrary bytes as what hostile peers make a node record: addresses,
//! announcements, pending connections, sequence numbers, `HAVE` runs. The
//! tables stay within their bounds, and a victim's own messages are never
//! taken for repeats.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| p2pchat::node::fuzzing::check_tables(data));
