//! The accept loop: hyper's HTTP/1.1 connections over the axum app, with the connection cap,
//! the header-read timeout and a graceful shutdown (the pieces `axum::serve` does not expose).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::ServerOptions;

/// How long to wait before accepting again after an accept error such as "too many open
/// files", which would otherwise spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What the accept loop needs of [`ServerOptions`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    max_connections: usize,
    header_read_timeout: Duration,
}

impl Limits {
    pub(crate) fn of(options: &ServerOptions) -> Limits {
        Limits {
            max_connections: options.max_connections.clamp(1, Semaphore::MAX_PERMITS),
            header_read_timeout: options.header_read_timeout,
        }
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut was_full = false;
    loop {
        // A place first, then the connection: beyond the cap, clients wait in the backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        // Said once each time the limit is reached, not for every client that then waits.
        let full = connections.available_permits() == 0;
        if full && !was_full {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached: new clients wait until a connection closes"
            );
        }
        was_full = full;
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // The connection's place is given back when it closes.
            let _permit = permit;
            if let Err(error) = connection.await {
                tracing::debug!(%remote, %error, "connection closed with an error");
            }
        });
    }
    drop(listener);
    // Idle connections close at once; those answering finish first.
    graceful.shutdown().await;
    Ok(())
}
