//! Noise transport messages sealed, delivered in arbitrary chunks (maybe
//! with a flipped byte), and reassembled.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|input: common::Reassembly| common::check_reassembly(&input));
