//! Replays every committed fuzz input (crashes found and seeds) through the
//! same checks the fuzz targets run, so `cargo test` guards against each one.

#[path = "../fuzz/common/mod.rs"]
mod common;

use arbitrary::{Arbitrary, Unstructured};
use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

/// Runs `check` over every committed input of `target`.
fn replay(target: &str, check: impl Fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no {target} inputs to replay");
    for (name, data) in files {
        eprintln!("replaying {name}");
        check(&data);
    }
}

#[test]
fn decode_inputs_pass() {
    replay("decode", common::check_stream);
}

#[test]
fn roundtrip_inputs_pass() {
    replay("roundtrip", |data| {
        if let Ok(input) = common::Input::arbitrary_take_rest(Unstructured::new(data)) {
            common::check_input(&input);
        }
    });
}

#[test]
fn discovery_inputs_pass() {
    replay("discovery", common::check_datagram);
}

#[test]
fn handshake_inputs_pass() {
    replay("handshake", common::check_handshake);
}

#[test]
fn tables_inputs_pass() {
    replay("tables", p2pchat::node::fuzzing::check_tables);
}

#[test]
fn reassembly_inputs_pass() {
    replay("reassembly", |data| {
        if let Ok(input) = common::Reassembly::arbitrary_take_rest(Unstructured::new(data)) {
            common::check_reassembly(&input);
        }
    });
}
