//! Arbitrary bytes as a LAN discovery datagram.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::check_datagram(data));
