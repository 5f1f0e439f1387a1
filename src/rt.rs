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

/// The kernel's send and receive buffers of each link, set rather than left
/// to grow (here up to 4 and 32 MiB): what a link can hold in flight must be
/// bounded, since a node keeps as much of its recent traffic to make good
/// what a closed link lost. Well above what a LAN needs to run at full speed
/// (a 1 Gbit/s link with 1 ms round trips keeps 125 KB on the way).
pub const SOCKET_BUFFER: usize = 256 * 1024;

/// Runs the program's main future: sets the runtime up, then drives it on
/// this thread. Call it before starting any other thread, since it may set
/// an environment variable.
pub fn run_main<F: Future>(future: F) -> F::Output {
    // One runtime thread, unless the user asks for more. A node's work is
    // a stream of small messages, each handled under the node's lock: a
    // second runtime thread mostly contends for that lock and wakes the
    // first. With one, a 5-node chain spent 12% less CPU per message
    // (2.71 against 3.08 µs, `cargo bench --bench mesh`).
    if std::env::var_os(THREAD_COUNT).is_none() {
        std::env::set_var(THREAD_COUNT, "1");
    }
    block_on(future)
}

/// How many threads async-std's runtime starts.
const THREAD_COUNT: &str = "ASYNC_STD_THREAD_COUNT";

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
        let listener = async_std::net::TcpListener::bind(addr).await?;
        defer_accept(&listener);
        Ok(Listener(listener))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        set_up(&stream)?;
        Ok((stream, addr))
    }
}

/// Asks the kernel to hand over a connection only once its first bytes
/// have come (Linux's `TCP_DEFER_ACCEPT`): a p2pchat peer speaks first,
/// and connections that never speak then cost the node nothing until the
/// kernel gives up waiting. Elsewhere, or if refused, connections come as
/// usual, and the accept loop's own bounds apply.
fn defer_accept(listener: &async_std::net::TcpListener) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let seconds: libc::c_int = 1;
        // SAFETY: setsockopt reads `seconds`, of the size given, from a
        // live socket's descriptor.
        unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&seconds as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = listener;
}

/// Opens a TCP connection.
pub async fn connect(addr: SocketAddr) -> io::Result<Stream> {
    let stream = Stream::connect(addr).await?;
    set_up(&stream)?;
    Ok(stream)
}

/// Sets the options of every link.
fn set_up(stream: &Stream) -> io::Result<()> {
    // Frames are batched already; don't let Nagle delay a lone message.
    stream.set_nodelay(true)?;
    let socket = socket2::SockRef::from(stream);
    socket.set_send_buffer_size(SOCKET_BUFFER)?;
    socket.set_recv_buffer_size(SOCKET_BUFFER)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ends of a link have the set buffers, not the kernel's defaults
    /// (which it would then grow): Linux reports twice the value set.
    #[test]
    #[cfg(target_os = "linux")]
    fn links_have_bounded_kernel_buffers() {
        block_on(async {
            let listener = Listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("address");
            let (dialed, accepted) = futures::join!(connect(addr), listener.accept());
            let dialed = dialed.expect("connect");
            let (accepted, _) = accepted.expect("accept");
            for stream in [&dialed, &accepted] {
                let socket = socket2::SockRef::from(stream);
                assert_eq!(socket.send_buffer_size().ok(), Some(2 * SOCKET_BUFFER));
                assert_eq!(socket.recv_buffer_size().ok(), Some(2 * SOCKET_BUFFER));
            }
        });
    }
}
