//! Thread-per-core serving: one current-thread runtime per core, each serving the connections
//! it is handed to the end on that thread.
//!
//! On tokio's work-stealing runtime a request's tasks move between worker threads, and every
//! move is a wake-up of another thread (a `futex`): the profile of issue #17 found most of the
//! scheduling time of `/metadata` there. Here a connection stays on one thread. One task
//! accepts on the listening socket and hands the connections out in turn: with the threads all
//! waiting in `accept` on the same socket instead, one of them took most of a burst of new
//! connections (wrk's 16 to `/files`: one thread did 89 % of the work, and the row lost a third
//! of its throughput), and `SO_REUSEPORT` sockets would balance only by hash, let a second
//! process started on the same port share its traffic silently, and need more than the one
//! descriptor of socket activation.
//!
//! With the registry on PostgreSQL, the default is the process's work-stealing runtime instead:
//! every request makes a round trip to the database over a pooled connection, which any thread
//! may have opened, and a connection's socket is watched by the runtime that opened it, so a
//! query from one serving thread waited for another thread, busy with its own requests, to look
//! at its sockets. Measured in one run each: `/metadata` on PostgreSQL 7,829 → 6,811 req/s and
//! small downloads 7,538 → 5,397 with thread-per-core, while on SQLite both gained. Since the
//! item cache, most requests on PostgreSQL no longer use a database connection, and the two
//! modes measured within noise of each other (`docs/benchmarks.md`, fifth round): the default
//! stays until a quiet run decides.
//!
//! What a thread's runtime creates belongs to it (a PostgreSQL connection opened during one of
//! its requests, an HTTP connection of a remote store); other threads may use them through the
//! pools. So no runtime stops before all have: each thread keeps its runtime running after its
//! own connections are done, until every thread's are.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

/// Accepted connections waiting for their thread: a thread busy with a long request does not
/// hold up the acceptor until this many queue behind it.
const HANDOFF_QUEUE: usize = 64;

/// What one thread runs: its share of the connections and the future that says when to stop
/// accepting, to a future that serves until then and finishes the requests in flight.
pub type ServeOne = dyn Fn(Handoff, Pin<Box<dyn Future<Output = ()> + Send>>) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>
    + Send
    + Sync;

/// Where connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// On the process's work-stealing runtime, whose worker threads share every task.
    Shared,
    /// On this many threads (at least one), each with a current-thread runtime of its own.
    Threads(usize),
}

/// What `[http] threads` asks for: that many serving threads, or with `0` one per core, unless
/// the registry is on PostgreSQL (`database_connections`: every request waits on a pooled
/// connection), where the shared runtime serves (the module's comment says why).
pub fn serving(threads: usize, database_connections: bool) -> Serving {
    match threads {
        0 if database_connections => Serving::Shared,
        0 => Serving::Threads(std::thread::available_parallelism().map_or(1, usize::from)),
        n => Serving::Threads(n),
    }
}

/// Serves `listener` as `serving` says, until `shutdown` resolves and the requests in flight
/// are done: on `Serving::Threads(n)`, `n` threads (named `serve-0`, `serve-1`, …, short enough
/// for the kernel's 15-character thread names) each run `serve_one` in a current-thread runtime
/// of its own, and the first error a thread reports stops the others and is returned.
pub async fn serve(
    listener: TcpListener,
    serving: Serving,
    serve_one: std::sync::Arc<ServeOne>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        }
    });
    let threads = match serving {
        Serving::Threads(threads) => threads,
        Serving::Shared => {
            // The same hand-off, to one server on this runtime (it costs a channel send per
            // connection, and keeps one accept path for both).
            let (handoff, incoming) = mpsc::channel(HANDOFF_QUEUE);
            tokio::spawn(hand_out(listener, vec![handoff], stop_rx.clone()));
            return serve_one(Handoff { incoming, local }, Box::pin(stopped(stop_rx))).await;
        }
    };
    let (all_done_tx, all_done_rx) = watch::channel(false);
    let mut results = Vec::with_capacity(threads);
    let mut handoffs = Vec::with_capacity(threads);
    for index in 0..threads.max(1) {
        let (handoff, incoming) = mpsc::channel(HANDOFF_QUEUE);
        handoffs.push(handoff);
        let (result_tx, result_rx) = oneshot::channel();
        let (serve_one, stop_rx, all_done_rx) = (serve_one.clone(), stop_rx.clone(), all_done_rx.clone());
        std::thread::Builder::new().name(format!("serve-{index}")).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = result_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let served = serve_one(Handoff { incoming, local }, Box::pin(stopped(stop_rx))).await;
                let _ = result_tx.send(served);
                // Kept running for the connections other threads' requests may still use.
                stopped(all_done_rx).await;
            });
        })?;
        results.push(result_rx);
    }
    tokio::spawn(hand_out(listener, handoffs, stop_rx));
    let mut outcome = Ok(());
    for result in results {
        let served = result.await.unwrap_or_else(|_| Err(std::io::Error::other("a serving thread panicked")));
        if let Err(e) = served {
            // One thread cannot serve: stop the others rather than run short-handed unnoticed.
            let _ = stop_tx.send(true);
            if outcome.is_ok() {
                outcome = Err(e);
            }
        }
    }
    let _ = all_done_tx.send(true);
    outcome
}

/// Accepts connections on `listener` and hands them to the threads in turn until `stop` is set;
/// then the listening socket closes, so new connections are refused while the threads finish.
async fn hand_out(
    mut listener: TcpListener,
    handoffs: Vec<mpsc::Sender<(std::net::TcpStream, SocketAddr)>>,
    stop: watch::Receiver<bool>,
) {
    let mut stopping = std::pin::pin!(stopped(stop));
    for handoff in handoffs.iter().cycle() {
        let (tcp, address) = tokio::select! {
            // axum's `Listener` backs off on errors (out of file descriptors and the like).
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut stopping => return,
        };
        // Out of this runtime's reactor, into the thread's (`Handoff::accept`).
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, %address, "could not hand a connection to a serving thread");
                continue;
            }
        };
        tokio::select! {
            sent = handoff.send((tcp, address)) => if sent.is_err() { return },
            () = &mut stopping => return,
        }
    }
}

/// One serving thread's share of the accepted connections, as a listener for
/// [`crate::serve_with`] and the TLS servers.
pub struct Handoff {
    incoming: mpsc::Receiver<(std::net::TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handoff {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            // Once the acceptor has stopped, so has the server that calls this: wait for it.
            let Some((tcp, address)) = self.incoming.recv().await else { return std::future::pending().await };
            match TcpStream::from_std(tcp) {
                Ok(tcp) => return (tcp, address),
                Err(e) => tracing::warn!(error = %e, %address, "could not serve a handed-over connection"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Resolves once `flag` is true (or its sender is gone).
async fn stopped(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    type Accepted = Arc<Mutex<Vec<String>>>;

    /// A `ServeOne` that records the name of the thread each connection is accepted on.
    fn recording(address: SocketAddr) -> (Accepted, Arc<ServeOne>) {
        let accepted: Accepted = Arc::default();
        let serve_one: Arc<ServeOne> = Arc::new({
            let accepted = accepted.clone();
            move |mut handoff: Handoff, mut stop| {
                let accepted = accepted.clone();
                Box::pin(async move {
                    assert_eq!(axum::serve::Listener::local_addr(&handoff).unwrap(), address);
                    let mut open = Vec::new();
                    loop {
                        tokio::select! {
                            (tcp, _) = axum::serve::Listener::accept(&mut handoff) => {
                                let thread = std::thread::current().name().unwrap_or_default().to_owned();
                                accepted.lock().unwrap().push(thread);
                                open.push(tcp);
                            }
                            () = &mut stop => return Ok(()),
                        }
                    }
                })
            }
        });
        (accepted, serve_one)
    }

    /// Serves as `serving` says, opens `clients` connections, and answers the names of the
    /// threads that accepted them, sorted; then checks that stopping closes the listener.
    async fn accepting_threads(serving: Serving, clients: usize) -> Vec<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (accepted, serve_one) = recording(address);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, serving, serve_one, async move {
            let _ = stop_rx.await;
        }));
        let clients: Vec<_> = (0..clients).map(|_| std::net::TcpStream::connect(address).unwrap()).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while accepted.lock().unwrap().len() < clients.len() {
            assert!(tokio::time::Instant::now() < deadline, "accepted only {:?}", accepted.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
        // The listening socket closed with the acceptor: new connections are refused.
        assert!(std::net::TcpStream::connect(address).is_err());
        let mut threads = accepted.lock().unwrap().clone();
        threads.sort();
        threads
    }

    /// A burst of new connections is shared out evenly. On one listening socket that every
    /// thread waits on, one thread took most of such a burst.
    #[tokio::test]
    async fn a_burst_of_connections_is_shared_out_evenly() {
        assert_eq!(
            accepting_threads(Serving::Threads(3), 9).await,
            ["serve-0", "serve-0", "serve-0", "serve-1", "serve-1", "serve-1", "serve-2", "serve-2", "serve-2"]
        );
    }

    /// On the shared runtime no serving thread is started: the runtime's own threads serve.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_shared_runtime_serves_without_threads_of_its_own() {
        let threads = accepting_threads(Serving::Shared, 4).await;
        assert_eq!(threads.len(), 4);
        assert!(threads.iter().all(|name| !name.starts_with("serve-")), "{threads:?}");
    }

    /// `0` is one thread per core, except on PostgreSQL; a number is that many threads.
    #[test]
    fn zero_threads_is_one_per_core_except_with_database_connections() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(serving(0, false), Serving::Threads(cores));
        assert_eq!(serving(0, true), Serving::Shared);
        assert_eq!(serving(3, true), Serving::Threads(3));
        assert_eq!(serving(1, false), Serving::Threads(1));
    }
}
