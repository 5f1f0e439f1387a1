//! The UDP sockets of LAN discovery: one for IPv4 (group 239.255.77.77) and
//! one for IPv6 (link-local group ff02::7063:6874), both on port 42424,
//! joined on every interface that can carry multicast.
//!
//! Plain std and socket2, no runtime: the discovery task wraps these.
//! Several nodes on one machine share the port (SO_REUSEADDR/SO_REUSEPORT)
//! and each gets a copy of every announcement.

use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};

pub const PORT: u16 = 42424;
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0x7063, 0x6874);

/// The discovery sockets and the interfaces they were joined on.
pub struct Multicast {
    pub v4: Option<UdpSocket>,
    pub v6: Option<UdpSocket>,
    joined_v4: HashSet<Ipv4Addr>,
    joined_v6: HashSet<u32>,
}

impl Multicast {
    /// Opens both sockets; fails only if neither can be opened.
    pub fn open() -> io::Result<Multicast> {
        let v4 = open_v4();
        let v6 = open_v6();
        if let (Err(e), Err(_)) = (&v4, &v6) {
            return Err(io::Error::new(
                e.kind(),
                format!("no discovery socket: {e}"),
            ));
        }
        let mut m = Multicast {
            v4: v4.ok(),
            v6: v6.ok(),
            joined_v4: HashSet::new(),
            joined_v6: HashSet::new(),
        };
        m.join_new_interfaces();
        Ok(m)
    }

    /// Joins the groups on interfaces that appeared since the last call.
    /// Interfaces come and go (a cable, a Wi-Fi network), so this runs before
    /// every announcement.
    pub fn join_new_interfaces(&mut self) {
        let (v4, v6) = interfaces();
        if let Some(s) = &self.v4 {
            for addr in v4.difference(&self.joined_v4.clone()) {
                if s.join_multicast_v4(&GROUP_V4, addr).is_ok() {
                    self.joined_v4.insert(*addr);
                }
            }
        }
        if let Some(s) = &self.v6 {
            for index in v6.difference(&self.joined_v6.clone()) {
                if s.join_multicast_v6(&GROUP_V6, *index).is_ok() {
                    self.joined_v6.insert(*index);
                }
            }
        }
    }

    /// Sends `datagram` to both groups on every interface joined, and
    /// returns how many copies went out.
    pub fn announce(&self, datagram: &[u8]) -> usize {
        let mut sent = 0;
        if let Some(s) = &self.v4 {
            let to = SocketAddr::V4(SocketAddrV4::new(GROUP_V4, PORT));
            for addr in &self.joined_v4 {
                let socket = socket2::SockRef::from(s);
                if socket.set_multicast_if_v4(addr).is_ok() && s.send_to(datagram, to).is_ok() {
                    sent += 1;
                }
            }
        }
        if let Some(s) = &self.v6 {
            for index in &self.joined_v6 {
                let to = SocketAddr::V6(SocketAddrV6::new(GROUP_V6, PORT, 0, *index));
                let socket = socket2::SockRef::from(s);
                if socket.set_multicast_if_v6(*index).is_ok() && s.send_to(datagram, to).is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    }
}

fn open_v4() -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    // Nodes on this same machine hear each other.
    s.set_multicast_loop_v4(true)?;
    s.set_multicast_ttl_v4(1)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)).into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn open_v6() -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_multicast_loop_v6(true)?;
    s.set_multicast_hops_v6(1)?;
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT)).into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// The IPv4 addresses and IPv6 interface indexes of the interfaces that are
/// up, loopback aside.
fn interfaces() -> (HashSet<Ipv4Addr>, HashSet<u32>) {
    let mut v4 = HashSet::new();
    let mut v6 = HashSet::new();
    for iface in if_addrs::get_if_addrs().unwrap_or_default() {
        if iface.is_loopback() || iface.oper_status == if_addrs::IfOperStatus::Down {
            continue;
        }
        match iface.addr {
            if_addrs::IfAddr::V4(a) => {
                v4.insert(a.ip);
            }
            if_addrs::IfAddr::V6(_) => {
                if let Some(index) = iface.index {
                    v6.insert(index);
                }
            }
        }
    }
    (v4, v6)
}
