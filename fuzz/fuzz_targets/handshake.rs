//! Arbitrary bytes as the messages of a peer in the Noise handshake.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::check_handshake(data));
