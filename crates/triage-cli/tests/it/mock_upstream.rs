//! `triage mock-upstream`: it starts, says where, and answers in the OpenAI wire format.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn post(address: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect to the mock");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    response
}

#[test]
fn serves_the_openai_format_on_the_port_it_announces() {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("triage"))
        .args(["mock-upstream", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("mock upstream listening on ")
        .unwrap()
        .to_owned();
    let second = lines.next().unwrap().unwrap();
    assert_eq!(second, format!("  OPENAI_BASE_URL={url}/v1"));
    let address = url.strip_prefix("http://").unwrap();

    let response = post(
        address,
        "/v1/chat/completions",
        r#"{"model":"gpt-test","messages":[{"role":"user","content":"hello mock"}]}"#,
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""content":"echo: hello mock""#),
        "{response}"
    );

    let response = post(
        address,
        "/v1/messages",
        r#"{"model":"claude-test","max_tokens":10,"messages":[{"role":"user","content":"[mock:status=429]"}]}"#,
    );
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("retry-after: 1"),
        "{response}"
    );
    assert!(response.contains("rate_limit_error"), "{response}");
}
