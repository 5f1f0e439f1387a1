//! Runtime glue: the only file that names `async-std`.
//!
//! async-std is discontinued upstream in favour of smol. Everything else is
//! written against the `futures` traits and these few functions, so moving
//! runtimes means rewriting this file alone.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A TCP connection; read and write through clones of it.
pub type Stream = async_std::net::TcpStream;

/// Runs a future to completion on the current thread, driving the runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Runs a task in the background.
pub fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
    async_std::task::spawn(future);
}

pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}

/// The future's output, or `None` if it took longer than `duration`.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    async_std::future::timeout(duration, future).await.ok()
}

/// A listening TCP socket.
pub struct Listener(async_std::net::TcpListener);

impl Listener {
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        async_std::net::TcpListener::bind(addr).await.map(Listener)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        // Frames are batched already; don't let Nagle delay a lone message.
        stream.set_nodelay(true)?;
        Ok((stream, addr))
    }
}

/// Opens a TCP connection.
pub async fn connect(addr: SocketAddr) -> io::Result<Stream> {
    let stream = Stream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Resolves a host name or address literal to socket addresses.
pub async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    use async_std::net::ToSocketAddrs;
    Ok((host, port).to_socket_addrs().await?.collect())
}

/// A UDP socket.
pub struct UdpSocket(async_std::net::UdpSocket);

impl UdpSocket {
    /// Takes over a non-blocking std socket set up elsewhere.
    pub fn from_std(socket: std::net::UdpSocket) -> Self {
        UdpSocket(async_std::net::UdpSocket::from(socket))
    }

    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.recv_from(buf).await
    }
}
