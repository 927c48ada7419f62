//! The HTTP edge at the connection level: slow and idle connections are closed on time, a
//! bad key is refused before its body is read or inflated, and ingest work is bounded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::spawn_server_with;

/// Longest any read in these tests waits: far above every configured timeout.
const READ_BOUND: Duration = Duration::from_secs(15);

/// Reads until the server closes the connection; fails if it is still open after `READ_BOUND`.
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(READ_BOUND)).expect("read timeout");
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "connection still open after {:?} ({e}); received {:?}",
                started.elapsed(),
                String::from_utf8_lossy(&received)
            ),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[test]
fn a_client_that_sends_half_a_request_line_is_dropped() {
    let server = spawn_server_with(|c| c.client_request_timeout_secs = 1);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.write_all(b"POST /api/1/enve").expect("write");
    let answer = read_until_closed(&mut stream);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let server = spawn_server_with(|c| c.keep_alive_secs = 1);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .write_all(b"GET /health/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let answer = read_until_closed(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""status":"ok""#), "{answer}");
}

/// Peak resident memory of this process (the server runs inside it), KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// `mib` MiB of zeros, compressed with `encoding`: a few KB that inflate past every limit.
fn bomb(encoding: &str, mib: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1024 * 1024];
    match encoding {
        "zstd" => {
            let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).expect("zstd encoder");
            for _ in 0..mib {
                encoder.write_all(&zeros).expect("compress");
            }
            encoder.finish().expect("compress")
        }
        _ => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            for _ in 0..mib {
                encoder.write_all(&zeros).expect("compress");
            }
            encoder.finish().expect("compress")
        }
    }
}

#[test]
fn a_compression_bomb_with_a_bad_key_is_refused_before_it_is_inflated() {
    let server = spawn_server_with(|_| {});
    let url = server.envelope_url();
    let bombs = [("zstd", bomb("zstd", 300)), ("gzip", bomb("gzip", 300))];
    let before = peak_rss_kib();
    for (encoding, body) in &bombs {
        assert!(body.len() < 1024 * 1024, "{encoding} bomb is {} bytes", body.len());
        let unknown_key = server
            .client
            .post(&url)
            .header(
                "X-Sentry-Auth",
                "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7",
            )
            .header("Content-Encoding", *encoding)
            .body(body.clone())
            .send()
            .expect("request");
        assert_eq!(unknown_key.status(), 403, "{encoding}");
        let no_key = server
            .client
            .post(&url)
            .header("Content-Encoding", *encoding)
            .body(body.clone())
            .send()
            .expect("request");
        // No key in the request: it could only come from the envelope, so the body is read
        // (it is small), inflation stops at the size limit and the answer is 413, not a crash.
        assert!(
            [401, 413].contains(&no_key.status().as_u16()),
            "{encoding}: {}",
            no_key.status()
        );
    }
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 150, "peak memory grew by {grown_mib} MiB");
}

#[test]
fn ingest_past_its_concurrency_is_429_with_retry_after() {
    let server = spawn_server_with(|c| c.ingest_concurrency = 1);
    let head = format!(
        "POST /api/{}/envelope/ HTTP/1.1\r\nHost: x\r\nX-Sentry-Auth: {}\r\nContent-Length: 100\r\n\r\n",
        server.project_id,
        server.auth_header()
    );
    let event = || common::envelope_for(&serde_json::json!({"message": "m"}));
    let deadline = Instant::now() + READ_BOUND;
    let held = loop {
        // A request that holds the only permit: its body never arrives.
        let mut held = TcpStream::connect(server.addr).expect("connect");
        held.write_all(head.as_bytes()).expect("write");
        std::thread::sleep(Duration::from_millis(200));
        let response = server.post_envelope(event());
        let status = response.status().as_u16();
        if status == 429 {
            assert!(response.headers().contains_key("retry-after"));
            let body: serde_json::Value = response.json().expect("JSON body");
            assert_eq!(body["detail"], "too many ingest requests in progress");
            break held;
        }
        // The probe took the permit first and the held request was the one refused: again.
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "never 429");
    };
    drop(held);
    // With the permit back, events are accepted again.
    loop {
        let response = server.post_envelope(event());
        if response.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {}", response.status());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn connections_past_the_connection_rate_are_answered_503_and_closed() {
    let server = spawn_server_with(|c| c.max_connection_rate = 1);
    let answers: Vec<String> = (0..5)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            stream
                .write_all(b"GET /health/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .expect("write");
            read_until_closed(&mut stream)
        })
        .collect();
    let refused: Vec<&String> = answers.iter().filter(|a| a.starts_with("HTTP/1.1 503")).collect();
    assert!(!refused.is_empty(), "{answers:#?}");
    for answer in refused {
        assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
        assert!(answer.contains("too many new connections"), "{answer}");
    }
    assert!(
        answers
            .iter()
            .all(|a| a.starts_with("HTTP/1.1 503") || a.starts_with("HTTP/1.1 200")),
        "{answers:#?}"
    );
}
