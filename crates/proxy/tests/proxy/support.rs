//! Hooks for the connector: a resolver that maps test names to addresses, and a dialer that
//! records every address it is asked to dial and connects only to loopback — either the address
//! itself, or the loopback server a test routes a public address to (a simulated network: the
//! guard sees a public address, the bytes go to 127.0.0.1).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crossgate_proxy::connect::{BoxFuture, Dial, Resolve};
use tokio::net::TcpStream;

/// Names the test resolves, and what it was asked.
#[derive(Clone, Default)]
pub(crate) struct MapResolver {
    pub(crate) names: HashMap<&'static str, Vec<SocketAddr>>,
    pub(crate) asked: Arc<Mutex<Vec<String>>>,
}

impl Resolve for MapResolver {
    fn resolve(&self, host: String, _port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        self.asked.lock().expect("not poisoned").push(host.clone());
        let found = self.names.get(host.as_str()).cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such test name"))
        })
    }
}

/// Records every dial; connects to loopback addresses, and to public addresses routed to a
/// loopback server; refuses everything else without sending a byte.
#[derive(Clone, Default)]
pub(crate) struct RecordingDialer {
    pub(crate) dialled: Arc<Mutex<Vec<SocketAddr>>>,
    pub(crate) routes: HashMap<SocketAddr, SocketAddr>,
}

impl RecordingDialer {
    pub(crate) fn dialled(&self) -> Vec<SocketAddr> {
        self.dialled.lock().expect("not poisoned").clone()
    }
}

impl Dial for RecordingDialer {
    fn dial(&self, addr: SocketAddr) -> BoxFuture<io::Result<TcpStream>> {
        self.dialled.lock().expect("not poisoned").push(addr);
        let routed = self.routes.get(&addr).copied();
        Box::pin(async move {
            match routed {
                Some(local) if local.ip().is_loopback() => TcpStream::connect(local).await,
                _ if addr.ip().is_loopback() => TcpStream::connect(addr).await,
                _ => Err(io::Error::other(
                    "the test dialer connects to loopback only",
                )),
            }
        })
    }
}
