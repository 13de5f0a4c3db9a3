//! A loopback TCP proxy the test controls, between the app and PostgreSQL:
//! the test breaks the database connection from outside the app (the shape
//! of crates.io's `chaosproxy.rs`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct Proxy {
    address: SocketAddr,
    /// The accept loop and every connection it forwards.
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<a free port> to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("bound");
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let forwarded = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                forwarded.lock().unwrap().push(connection.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Self { address, tasks }
    }

    /// `url` with its host and port pointing at the proxy.
    pub fn rewrite(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("a URL");
        url.set_host(Some("127.0.0.1")).expect("a host");
        url.set_port(Some(self.address.port())).expect("a port");
        url.to_string()
    }

    /// Closes every open connection and refuses new ones: the database is
    /// gone, as far as the app can tell.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
