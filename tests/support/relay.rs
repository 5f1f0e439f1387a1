//! A TCP relay between nodes that a test can cut, and that can hide peer
//! exchange or capture every byte.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A TCP relay the test controls: forwards connections made to `listen` on
/// to `target`, and can cut them all and refuse new ones, to split a network.
///
/// It drops `PEERS` frames, so the nodes on either side never learn each
/// other's real addresses and cannot route around it.
pub struct Relay {
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    /// Every byte relayed when capturing: from the connecting side, and
    /// from the target.
    captured: [Arc<Mutex<Vec<u8>>>; 2],
    pub addr: SocketAddr,
}

impl Relay {
    /// A relay that hides peer exchange (it reads plaintext frames).
    pub fn start(listen: SocketAddr, target: SocketAddr) -> Relay {
        Relay::spawn(listen, target, false)
    }

    /// A relay that copies bytes untouched and keeps a copy of all of them,
    /// as a wiretap would.
    pub fn capture(listen: SocketAddr, target: SocketAddr) -> Relay {
        Relay::spawn(listen, target, true)
    }

    /// Everything relayed so far, both ways, when capturing.
    pub fn captured(&self) -> Vec<u8> {
        let [sent, answered] = &self.captured;
        let mut all = sent.lock().unwrap().clone();
        all.extend_from_slice(&answered.lock().unwrap());
        all
    }

    /// What the connecting side sent so far, when capturing.
    pub fn captured_sent(&self) -> Vec<u8> {
        self.captured[0].lock().unwrap().clone()
    }

    fn spawn(listen: SocketAddr, target: SocketAddr, capture: bool) -> Relay {
        let listener = TcpListener::bind(listen).expect("bind relay");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let captured: [Arc<Mutex<Vec<u8>>>; 2] = Default::default();
        let (o, s, c, cap) = (open.clone(), stop.clone(), conns.clone(), captured.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((inbound, _)) => {
                        // Checked and recorded under one lock: see `cut`.
                        let mut conns = c.lock().unwrap();
                        if !o.load(Ordering::SeqCst) {
                            continue; // dropped: the connection is refused
                        }
                        inbound.set_nonblocking(false).unwrap();
                        let Ok(outbound) = TcpStream::connect(target) else {
                            continue;
                        };
                        conns.push(inbound.try_clone().unwrap());
                        conns.push(outbound.try_clone().unwrap());
                        drop(conns);
                        if capture {
                            pump_bytes(
                                inbound.try_clone().unwrap(),
                                outbound.try_clone().unwrap(),
                                cap[0].clone(),
                            );
                            pump_bytes(outbound, inbound, cap[1].clone());
                        } else {
                            pump_frames(
                                inbound.try_clone().unwrap(),
                                outbound.try_clone().unwrap(),
                            );
                            pump_frames(outbound, inbound);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Relay {
            open,
            conns,
            stop,
            captured,
            addr,
        }
    }

    /// Cuts every relayed connection and refuses new ones. Under the lock
    /// that a new connection is recorded under, so that none accepted
    /// meanwhile outlives the cut.
    pub fn cut(&self) {
        let mut conns = self.conns.lock().unwrap();
        self.open.store(false, Ordering::SeqCst);
        for c in conns.drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Relays new connections again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Copies bytes from `from` to `to`, keeping a copy in `tap`.
fn pump_bytes(mut from: TcpStream, mut to: TcpStream, tap: Arc<Mutex<Vec<u8>>>) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            tap.lock().unwrap().extend_from_slice(&buf[..n]);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// Copies frames from `from` to `to`, leaving out `PEERS` frames.
fn pump_frames(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut header = [0u8; 4];
        while from.read_exact(&mut header).is_ok() {
            let mut body = vec![0; u32::from_be_bytes(header) as usize];
            if from.read_exact(&mut body).is_err() {
                break;
            }
            if body.starts_with(b"PEERS") {
                continue;
            }
            if to
                .write_all(&header)
                .and_then(|_| to.write_all(&body))
                .is_err()
            {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
