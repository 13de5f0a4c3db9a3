//! A loopback TCP proxy the test controls, between the app and PostgreSQL:
//! the test breaks the database connection from outside the app (the shape
//! of crates.io's `chaosproxy.rs`), in each of the ways networks break.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct Proxy {
    address: SocketAddr,
    upstream: SocketAddr,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    /// Bytes that arrive are read and dropped, in both directions, and never
    /// reach the other side: a network black hole. A connection that lost
    /// bytes so keeps losing them after the black hole ends, as its
    /// protocol state is gone.
    black_hole: AtomicBool,
    accept: Mutex<Option<AbortHandle>>,
    connections: Mutex<Vec<AbortHandle>>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<a free port> to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let proxy = Self {
            address: listener.local_addr().expect("bound"),
            upstream,
            state: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (state, upstream) = (self.state.clone(), self.upstream);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let connection = tokio::spawn(forward(client, upstream, state.clone()));
                state
                    .connections
                    .lock()
                    .unwrap()
                    .push(connection.abort_handle());
            }
        });
        *self.state.accept.lock().unwrap() = Some(accept.abort_handle());
    }

    /// `url` with its host and port pointing at the proxy.
    pub fn rewrite(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("a URL");
        url.set_host(Some("127.0.0.1")).expect("a host");
        url.set_port(Some(self.address.port())).expect("a port");
        url.to_string()
    }

    /// Resets every open connection (RST, as a restarted firewall or a
    /// failed-over load balancer does); new ones go through.
    pub fn reset_all(&self) {
        for connection in self.state.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Stops listening: new connections are refused, open ones stay.
    pub fn refuse_new(&self) {
        if let Some(accept) = self.state.accept.lock().unwrap().take() {
            accept.abort();
        }
    }

    /// Listens again on the same port after `refuse_new`.
    pub async fn accept_again(&self) {
        // The aborted accept loop lets go of its socket at its next turn.
        for _ in 0..50 {
            if let Ok(listener) = TcpListener::bind(self.address).await {
                return self.serve(listener);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("could not listen on {} again", self.address);
    }

    /// Open and new connections alike swallow every byte, silently.
    pub fn black_hole(&self) {
        self.state.black_hole.store(true, Ordering::SeqCst);
    }

    /// Ends the black hole: new connections work again.
    pub fn end_black_hole(&self) {
        self.state.black_hole.store(false, Ordering::SeqCst);
    }

    /// Closes every open connection and refuses new ones: the database is
    /// gone, as far as the app can tell.
    pub fn cut(&self) {
        self.refuse_new();
        self.reset_all();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, state: Arc<State>) {
    // Dropping a socket then resets it rather than closing it politely.
    let _ = client.set_zero_linger();
    let (client_read, client_write) = client.into_split();
    if state.black_hole.load(Ordering::SeqCst) {
        // Never even reaches the server: the start-up packet is lost. The
        // write half is held, not dropped, which would close it (FIN).
        let _silent = client_write;
        return swallow(client_read).await;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_zero_linger();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, &state),
        pump(server_read, client_write, &state),
    );
}

/// Copies `from` into `to` until either ends; once the black hole has
/// taken a byte, swallows the rest (holding `to` open, silent).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: &State,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.black_hole.load(Ordering::SeqCst) {
            let _silent = to;
            return swallow(from).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Reads and drops everything until the peer closes.
async fn swallow(mut from: tokio::net::tcp::OwnedReadHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(1..) = from.read(&mut buf).await {}
}
