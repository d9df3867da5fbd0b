//! The server's limits: the concurrent-request cap (a 503 with `Retry-After` in the caller's
//! shape), the body-read timeout (408), and, on a real loopback socket, the header-read timeout
//! that keeps 2,000 half-open connections from locking other clients out.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use triage_mock::{MockUpstream, Scenario};
use triage_server::ServerOptions;

use crate::{app, gateway, post, read, send};

/// With one request allowed at once, a second one while a stream is still open gets a 503
/// with `Retry-After` in its protocol's shape, without an upstream call; once the stream has
/// ended, the next request is answered. Health and metrics are never refused.
#[tokio::test]
async fn a_request_beyond_the_concurrency_cap_gets_503_with_retry_after() {
    let mock = MockUpstream::start().await.unwrap();
    let options = ServerOptions {
        max_concurrent_requests: 1,
        ..ServerOptions::default()
    };
    let (app, _) = app(gateway(Some(&mock), None), options);
    mock.push(
        Scenario::text("one two three four").with_delay_between_chunks(Duration::from_millis(100)),
    );
    let open = send(
        &app,
        post(
            "/v1/chat/completions",
            &json!({"model": "cheap", "stream": true, "messages": [{"role": "user", "content": "count"}]}),
        ),
    )
    .await;
    assert_eq!(open.status(), 200);

    let mut shown = Vec::new();
    for (path, body) in [
        (
            "/v1/chat/completions",
            json!({"model": "cheap", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "cheap", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ] {
        let (status, headers, body) = read(send(&app, post(path, &body)).await).await;
        shown.push(json!({
            "path": path,
            "status": status,
            "retry-after": headers["retry-after"].to_str().unwrap(),
            "x-triage-error": headers["x-triage-error"].to_str().unwrap(),
            "body": serde_json::from_str::<Value>(&body).unwrap(),
        }));
    }
    insta::assert_json_snapshot!(shown);
    let (status, _, _) =
        read(send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await).await;
    assert_eq!(status, 200, "health is not a chat request");
    let (_, _, metrics) =
        read(send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await).await;
    assert!(
        metrics.contains("triage_overloaded_requests_total 2"),
        "{metrics}"
    );
    assert_eq!(
        mock.requests().len(),
        1,
        "refused requests call no upstream"
    );

    // The stream's end gives its place back.
    let (_, _, streamed) = read(open).await;
    assert!(streamed.contains("[DONE]"), "{streamed}");
    let (status, _, body) = read(
        send(
            &app,
            post(
                "/v1/chat/completions",
                &json!({"model": "cheap", "messages": [{"role": "user", "content": "hi"}]}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// A body that stops arriving gets a 408 in the caller's shape once the body-read timeout
/// passes.
#[tokio::test]
async fn a_stalled_body_gets_408() {
    let options = ServerOptions {
        body_read_timeout: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    let (app, _) = app(gateway(None, None), options);
    for (path, error_type) in [
        ("/v1/chat/completions", "invalid_request_error"),
        ("/v1/messages", "invalid_request_error"),
    ] {
        let stalled = futures::stream::once(async {
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"model\": \"auto\", "))
        })
        .chain(futures::stream::pending());
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from_stream(stalled))
            .unwrap();
        let started = Instant::now();
        let (status, headers, body) = read(send(&app, request).await).await;
        assert_eq!(status, 408, "{path}: {body}");
        assert!(started.elapsed() < Duration::from_secs(2), "{path}");
        assert_eq!(headers["x-triage-error"], "body_timeout");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["type"], error_type, "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("200 ms"),
            "{body}"
        );
    }
}

/// How many half-open connections the slowloris test opens.
const HALF_OPEN: usize = 2000;

/// 2,000 half-open connections (half with no byte sent, half stuck in the middle of their
/// headers) on loopback: a normal request on a new connection is still answered within a
/// second, and every half-open connection is closed by the server once the header-read timeout
/// has passed. The test process holds both ends (about 4,000 descriptors), well within the
/// open-file limit of the machines it runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_neither_lock_clients_out_nor_stay_open() {
    let mock = MockUpstream::start().await.unwrap();
    let header_read_timeout = Duration::from_millis(1500);
    let options = ServerOptions {
        header_read_timeout,
        ..ServerOptions::default()
    };
    let (router, _) = app(gateway(Some(&mock), None), options.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(triage_server::serve(listener, router, &options, async {
        let _ = stopped.await;
    }));

    let opening = Instant::now();
    let mut idle = Vec::with_capacity(HALF_OPEN);
    for index in 0..HALF_OPEN {
        let mut stream = TcpStream::connect(address).await.unwrap();
        if index % 2 == 1 {
            stream
                .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: triage\r\nContent-Ty")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    let opened_in = opening.elapsed();

    let asking = Instant::now();
    let (status, answer) = tokio::time::timeout(Duration::from_secs(5), chat(address))
        .await
        .expect("a normal request is answered despite the half-open connections");
    let answered_in = asking.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert!(
        answered_in < Duration::from_secs(1),
        "a normal request took {answered_in:?} among {HALF_OPEN} half-open connections"
    );

    // Every half-open connection is closed by the server (end of stream, or a reset) soon
    // after the header-read timeout; none stays open.
    let closed = futures::future::join_all(idle.iter_mut().map(|stream| async move {
        let mut buffer = Vec::new();
        tokio::time::timeout(header_read_timeout * 3, stream.read_to_end(&mut buffer))
            .await
            .is_ok()
    }))
    .await;
    let dropped_in = opening.elapsed();
    let still_open = closed.iter().filter(|closed| !**closed).count();
    assert_eq!(
        still_open, 0,
        "{still_open} of {HALF_OPEN} half-open connections outlived the header-read timeout"
    );
    assert!(
        dropped_in >= header_read_timeout,
        "connections were closed before their timeout ({dropped_in:?})"
    );
    eprintln!(
        "{HALF_OPEN} half-open connections opened in {opened_in:?}; a normal request answered in \
         {answered_in:?}; all closed by the server {dropped_in:?} after the first opened \
         (header-read timeout {header_read_timeout:?})"
    );

    // Still serving after the flood.
    assert_eq!(chat(address).await.0, 200);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// One chat request on its own connection, read to its end: status and body.
async fn chat(address: std::net::SocketAddr) -> (u16, String) {
    let body =
        json!({"model": "cheap", "messages": [{"role": "user", "content": "Say hi"}]}).to_string();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: triage\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0);
    (status, response)
}
