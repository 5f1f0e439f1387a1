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

#[test]
fn decode_inputs_pass() {
    let files = inputs("decode");
    assert!(!files.is_empty(), "no decode inputs to replay");
    for (name, data) in files {
        eprintln!("replaying {name}");
        common::check_stream(&data);
    }
}

#[test]
fn roundtrip_inputs_pass() {
    let files = inputs("roundtrip");
    assert!(!files.is_empty(), "no roundtrip inputs to replay");
    for (name, data) in files {
        eprintln!("replaying {name}");
        let u = Unstructured::new(&data);
        if let Ok(input) = common::Input::arbitrary_take_rest(u) {
            common::check_input(&input);
        }
    }
}

#[test]
fn discovery_inputs_pass() {
    let files = inputs("discovery");
    assert!(!files.is_empty(), "no discovery inputs to replay");
    for (name, data) in files {
        eprintln!("replaying {name}");
        common::check_datagram(&data);
    }
}

#[test]
fn handshake_inputs_pass() {
    let files = inputs("handshake");
    assert!(!files.is_empty(), "no handshake inputs to replay");
    for (name, data) in files {
        eprintln!("replaying {name}");
        common::check_handshake(&data);
    }
}
