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
//! What a thread's runtime creates belongs to it (a PostgreSQL connection opened during one of
//! its requests, an HTTP connection of a remote store); other threads may use them through the
//! pools. So no runtime stops before all have: each thread keeps its runtime running after its
//! own connections are done, until every thread's are.

use std::future::Future;
use std::pin::Pin;

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

/// Accepted connections waiting for their thread: a thread busy with a long request does not
/// hold up the acceptor until this many queue behind it.
const HANDOFF_QUEUE: usize = 64;

/// What one thread runs: its share of the connections and the future that says when to stop
/// accepting, to a future that serves until then and finishes the requests in flight.
pub type ServeOne = dyn Fn(Handoff, Pin<Box<dyn Future<Output = ()> + Send>>) -> Pin<Box<dyn Future<Output = std::io::Result<()>>>>
    + Send
    + Sync;

/// How many serving threads `threads` asks for: `0` is one per core.
pub fn serving_threads(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}

/// Serves `listener` on `threads` threads (at least one; named `serve-0`, `serve-1`, …, short
/// enough for the kernel's 15-character thread names), each running `serve_one` in a
/// current-thread runtime of its own, until `shutdown` resolves and every thread has finished
/// its requests. The first error a thread reports stops the others and is returned.
pub async fn serve_on_threads(
    listener: TcpListener,
    threads: usize,
    serve_one: std::sync::Arc<ServeOne>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
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
    tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        }
    });
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

    /// A burst of new connections is shared out evenly. On one listening socket that every
    /// thread waits on, one thread took most of such a burst.
    #[tokio::test]
    async fn a_burst_of_connections_is_shared_out_evenly() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
        let serve_one: Arc<ServeOne> = Arc::new({
            let accepted = accepted.clone();
            move |mut handoff: Handoff, stop| {
                let accepted = accepted.clone();
                Box::pin(async move {
                    assert_eq!(axum::serve::Listener::local_addr(&handoff).unwrap(), address);
                    let mut stop = stop;
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
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_on_threads(listener, 3, serve_one, async move {
            let _ = stop_rx.await;
        }));
        let clients: Vec<_> = (0..9).map(|_| std::net::TcpStream::connect(address).unwrap()).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while accepted.lock().unwrap().len() < clients.len() {
            assert!(tokio::time::Instant::now() < deadline, "accepted only {:?}", accepted.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut threads = accepted.lock().unwrap().clone();
        threads.sort();
        assert_eq!(
            threads,
            ["serve-0", "serve-0", "serve-0", "serve-1", "serve-1", "serve-1", "serve-2", "serve-2", "serve-2"]
        );

        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
        // The listening socket closed with the acceptor: new connections are refused.
        assert!(std::net::TcpStream::connect(address).is_err());
    }
}
