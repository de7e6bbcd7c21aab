//! [`Bound`]: the proxy with its listening socket, run on worker threads (one single-threaded
//! runtime each, all accepting from one socket, as nginx runs a worker per core).

use std::net::SocketAddr;

use super::{DRAIN, Inner, Mode, Proxy};
use crate::serve::{ProxyService, Share, serve_shared};

/// A proxy with its listening socket bound: [`Bound::run`] serves.
#[derive(Debug)]
pub struct Bound {
    pub(super) proxy: Proxy,
    pub(super) listeners: Vec<std::net::TcpListener>,
}

impl Bound {
    /// The address it listens on (the port picked, when 0 was asked).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self.listeners.first() {
            Some(listener) => listener.local_addr(),
            None => Err(std::io::Error::other("no listening socket")),
        }
    }

    /// Serves on every worker, each a thread with a single-threaded runtime and services of its
    /// own (its own upstream pools), until `until` returns on the calling thread; then each
    /// worker stops accepting and finishes its requests in flight (at most [`DRAIN`]).
    ///
    /// One runtime per core, all accepting from one listening socket (balanced by connection
    /// count, [`Share`]), as nginx runs a worker per core: a request never hops between threads
    /// (a multi-threaded runtime spent most of its time waking tasks across threads, measured as
    /// kernel futex work).
    pub fn run(self, until: impl FnOnce()) -> std::io::Result<()> {
        let inner = &self.proxy.inner;
        match &inner.mode {
            Mode::Upstream(base) => run_workers(self.listeners, inner, until, || {
                inner.upstream_service(base)
            }),
            Mode::Routes(_) => run_workers(self.listeners, inner, until, || inner.routes_service()),
            Mode::Anywhere => {
                run_workers(self.listeners, inner, until, || inner.anywhere_service())
            }
        }
    }
}

/// `count` handles on one listening socket on `addr` (which picks the port when `addr`'s is 0),
/// one per worker.
pub(super) fn bind_workers(
    addr: SocketAddr,
    count: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = listener(addr)?;
    let mut all = Vec::with_capacity(count);
    for _ in 1..count {
        all.push(first.try_clone()?);
    }
    all.insert(0, first);
    Ok(all)
}

/// A non-blocking listening socket (`SO_REUSEADDR`, as every server: a restart does not wait for
/// the old connections' `TIME_WAIT`; not `SO_REUSEPORT`, which would let another process of the
/// same user bind the port and take a share of the connections).
fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// [`Bound::run`] for one mode's service, which `make` builds on each worker.
fn run_workers<S>(
    listeners: Vec<std::net::TcpListener>,
    inner: &Inner,
    until: impl FnOnce(),
    make: impl Fn() -> S + Sync,
) -> std::io::Result<()>
where
    S: ProxyService,
{
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shares = Share::split(listeners.len(), inner.connections.clone());
    let timeouts = inner.connection;
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for (i, (listener, share)) in listeners.into_iter().zip(shares).enumerate() {
            let mut stopped = stopped.clone();
            let make = &make;
            let worker = std::thread::Builder::new()
                .name(format!("crossgate-worker-{i}"))
                .spawn_scoped(scope, move || -> std::io::Result<()> {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        let shutdown = async move {
                            let _ = stopped.wait_for(|stop| *stop).await;
                        };
                        serve_shared(listener, make(), shutdown, DRAIN, timeouts, share).await;
                        Ok(())
                    })
                });
            match worker {
                Ok(worker) => workers.push(worker),
                Err(e) => {
                    let _ = stop.send(true);
                    return Err(e);
                }
            }
        }
        until();
        let _ = stop.send(true);
        for worker in workers {
            worker
                .join()
                .map_err(|_| std::io::Error::other("a worker thread panicked"))??;
        }
        Ok(())
    })
}
