//! Structured values built into messages, checked to round-trip.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|input: common::Input| common::check_input(&input));
