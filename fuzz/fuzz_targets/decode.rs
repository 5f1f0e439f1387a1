//! Arbitrary bytes as a stream of frames, each body parsed as a message.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::check_stream(data));
