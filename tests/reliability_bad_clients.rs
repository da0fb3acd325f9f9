//! Clients that misbehave against the built binary: one that disconnects
//! mid-call, one that sends garbage bytes, one that speaks HTTP/1.1 and
//! many that open connections and hold them idle. After each, a normal call
//! still succeeds and the process's open file descriptors, read from
//! /proc/<pid>/fd, return to where they were: nothing leaks.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Binary, request_with_tag};
use function_gitlab_runner_fleet::proto::v1::function_runner_service_client::FunctionRunnerServiceClient;
use http_body::Frame;
use http_body_util::StreamBody;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;

/// How long the server may take to notice a closed connection and release
/// its descriptor. A hang guard, not a speed target.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

const IDLE_CONNECTIONS: usize = 50;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Waits until the process has at most `baseline` descriptors open and
/// fails when it does not within [`SETTLE_TIMEOUT`].
async fn assert_fds_return(pid: u32, baseline: usize, after: &str) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let open = open_fds(pid);
        if open <= baseline {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {after}: {open} descriptors open, {baseline} before"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes one normal call on a fresh connection and closes it.
async fn normal_call(address: SocketAddr, tag: &str) {
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let response = FunctionRunnerServiceClient::new(channel)
        .run_function(request_with_tag(tag))
        .await
        .unwrap_or_else(|status| panic!("normal call {tag} failed: {status:?}"))
        .into_inner();
    assert_eq!(response.meta.unwrap().tag, tag);
}

/// Starts the binary and returns it with its address and its descriptor
/// count once a first call has come and gone.
async fn start() -> (Binary, SocketAddr, usize) {
    let (binary, address, _) = Binary::spawn_insecure();
    normal_call(address, "warm-up").await;

    // Let the warm-up connection close, then take the settled count.
    let mut baseline = open_fds(binary.pid());
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        baseline = baseline.min(open_fds(binary.pid()));
    }
    (binary, address, baseline)
}

/// Reads from `stream` until the server closes it, and fails when it does
/// not within [`SETTLE_TIMEOUT`]. Returns what the server sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(SETTLE_TIMEOUT, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    received
}

fn grpc_message(tag: &str) -> Vec<u8> {
    let encoded = request_with_tag(tag).encode_to_vec();
    let mut message = vec![0];
    message.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    message.extend_from_slice(&encoded);
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnecting_mid_call() {
    let (mut binary, address, baseline) = start().await;

    for (case, sent) in [("half the request sent", 0.5), ("whole request sent", 1.0)] {
        let stream = TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        let connection = tokio::spawn(connection);

        let (body_sender, body_receiver) =
            tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(2);
        let request = http::Request::post(format!(
            "http://{address}/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(StreamBody::new(ReceiverStream::new(body_receiver)))
        .unwrap();
        let message = grpc_message("abandoned");
        let cut = (message.len() as f64 * sent) as usize;

        let response = tokio::spawn(sender.send_request(request));
        body_sender
            .send(Ok(Frame::data(Bytes::copy_from_slice(&message[..cut]))))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        // Dropping the connection task closes the TCP connection.
        connection.abort();
        response.abort();
        drop(body_sender);

        normal_call(address, "after-disconnect").await;
        assert_fds_return(binary.pid(), baseline, case).await;
    }

    assert!(binary.is_running());
    binary.terminate();
    assert!(binary.wait().success(), "log: {:#?}", binary.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sending_garbage() {
    let (mut binary, address, baseline) = start().await;

    // A fixed xorshift sequence: random-looking, the same on every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let garbage: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let inputs: [(&str, Vec<u8>); 3] = [
        ("random bytes", garbage),
        (
            "an HTTP/2 preface and then random bytes",
            [&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], &[0xff; 1024][..]].concat(),
        ),
        ("a gRPC message without HTTP/2", grpc_message("naked")),
    ];

    for (case, bytes) in inputs {
        let mut stream = TcpStream::connect(address).await.unwrap();
        // The server may close the connection before reading everything.
        let _ = stream.write_all(&bytes).await;
        read_until_closed(&mut stream).await;
        drop(stream);

        normal_call(address, "after-garbage").await;
        assert_fds_return(binary.pid(), baseline, case).await;
    }

    assert!(binary.is_running());
    binary.terminate();
    assert!(binary.wait().success(), "log: {:#?}", binary.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_speaking_http1() {
    let (mut binary, address, baseline) = start().await;

    let requests = [
        format!(
            "POST /apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction HTTP/1.1\r\n\
             Host: {address}\r\ncontent-type: application/grpc\r\ncontent-length: 5\r\n\r\n\
             \0\0\0\0\0"
        ),
        format!("GET / HTTP/1.1\r\nHost: {address}\r\n\r\n"),
        format!(
            "GET / HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
             Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        ),
    ];

    for request in requests {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream).await;
        drop(stream);

        assert!(
            !answer.starts_with(b"HTTP/1.1 200"),
            "the server served HTTP/1.1: {}",
            String::from_utf8_lossy(&answer)
        );
        let first_line = request.lines().next().unwrap();
        normal_call(address, "after-http1").await;
        assert_fds_return(binary.pid(), baseline, first_line).await;
    }

    assert!(binary.is_running());
    binary.terminate();
    assert!(binary.wait().success(), "log: {:#?}", binary.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_holding_idle_connections() {
    let (mut binary, address, baseline) = start().await;

    // Half open TCP and send nothing; half finish the HTTP/2 handshake and
    // send no call.
    let mut silent = Vec::new();
    for _ in 0..IDLE_CONNECTIONS / 2 {
        silent.push(TcpStream::connect(address).await.unwrap());
    }
    let mut handshaken = Vec::new();
    for _ in 0..IDLE_CONNECTIONS / 2 {
        let stream = TcpStream::connect(address).await.unwrap();
        let (sender, connection) = hyper::client::conn::http2::handshake::<
            _,
            _,
            http_body_util::Empty<Bytes>,
        >(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
        handshaken.push((sender, tokio::spawn(connection)));
    }

    normal_call(address, "beside-idle").await;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while open_fds(binary.pid()) < baseline + IDLE_CONNECTIONS {
        assert!(
            Instant::now() < deadline,
            "the server did not accept every idle connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    drop(silent);
    for (sender, connection) in handshaken {
        drop(sender);
        connection.abort();
    }

    normal_call(address, "after-idle").await;
    assert_fds_return(binary.pid(), baseline, "closing idle connections").await;
    assert!(binary.is_running());
    binary.terminate();
    assert!(binary.wait().success(), "log: {:#?}", binary.log);
}
