//! Helpers shared by the server tests: the real server on `127.0.0.1:0`,
//! requests, test certificates and the built binary.

// Every test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use function_gitlab_runner_fleet::proto::v1::function_runner_service_client::FunctionRunnerServiceClient;
use function_gitlab_runner_fleet::proto::v1::{RequestMeta, Resource, RunFunctionRequest, State};
use function_gitlab_runner_fleet::protocol::structs::json_to_struct;
use function_gitlab_runner_fleet::server::{ServerConfig, serve_on};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// How long a test waits for the binary before it fails.
pub const BINARY_TIMEOUT: Duration = Duration::from_secs(10);

/// The real gRPC server, running in this process on `127.0.0.1`.
pub struct TestServer {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and serves `config` there.
    pub async fn start(config: ServerConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();

        let task = tokio::spawn(serve_on(listener, config, async {
            let _ = stopped.await;
        }));

        Self {
            address,
            stop: Some(stop),
            task,
        }
    }

    /// Starts a plaintext server with the default settings.
    pub async fn insecure() -> Self {
        Self::start(ServerConfig::insecure().unwrap()).await
    }

    /// Returns a plaintext channel to the server.
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Returns a plaintext v1 client of the server.
    pub async fn client(&self) -> FunctionRunnerServiceClient<Channel> {
        FunctionRunnerServiceClient::new(self.channel().await)
    }

    /// Triggers the shutdown and returns what `serve_on` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap()
    }
}

/// Converts a JSON object into a protobuf `Struct`.
pub fn to_struct(value: Value) -> prost_types::Struct {
    json_to_struct(&value).unwrap()
}

/// Returns an observed `XGitLabRunnerFleet` for requests.
pub fn observed_fleet() -> Value {
    json!({
        "apiVersion": "ci.example.org/v1alpha1",
        "kind": "XGitLabRunnerFleet",
        "metadata": {"name": "fleet-a"},
        "spec": {"architectures": ["amd64", "arm64"]}
    })
}

/// Builds a request with `tag` for the observed fleet, with nothing
/// desired yet.
pub fn request_with_tag(tag: &str) -> RunFunctionRequest {
    RunFunctionRequest {
        meta: Some(RequestMeta {
            tag: tag.to_string(),
            ..Default::default()
        }),
        observed: Some(State {
            composite: Some(Resource {
                resource: Some(to_struct(observed_fleet())),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Builds a request whose context carries `bytes` bytes of padding, to
/// test the message size limits.
pub fn request_of_size(tag: &str, bytes: usize) -> RunFunctionRequest {
    let mut request = request_with_tag(tag);
    request.context = Some(to_struct(json!({"padding": "x".repeat(bytes)})));
    request
}

/// A CA and certificates it signed, as PEM.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    /// A client certificate from the same CA that expired in 2021.
    pub expired_client_cert_pem: String,
    pub expired_client_key_pem: String,
}

impl TestPki {
    /// Creates a CA, a server certificate for `localhost` and `127.0.0.1`,
    /// a client certificate and an expired client certificate, all signed by
    /// that CA.
    pub fn generate(ca_name: &str) -> Self {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

        let mut server_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = server_params.signed_by(&server_key, &ca).unwrap();

        let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "crossplane");
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = rcgen::KeyPair::generate().unwrap();
        let client_cert = client_params.signed_by(&client_key, &ca).unwrap();

        let mut expired_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        expired_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "crossplane");
        expired_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        expired_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        expired_params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let expired_key = rcgen::KeyPair::generate().unwrap();
        let expired_cert = expired_params.signed_by(&expired_key, &ca).unwrap();

        Self {
            ca_pem: ca.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            expired_client_cert_pem: expired_cert.pem(),
            expired_client_key_pem: expired_key.serialize_pem(),
        }
    }

    /// Writes `tls.crt`, `tls.key` and `ca.crt` into `dir`, the layout
    /// `--tls-certs-dir` expects.
    pub fn write_server_files(&self, dir: &Path) {
        std::fs::write(dir.join("tls.crt"), &self.server_cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), &self.server_key_pem).unwrap();
        std::fs::write(dir.join("ca.crt"), &self.ca_pem).unwrap();
    }
}

/// The built `function-gitlab-runner-fleet` binary, running, with its JSON
/// log lines collected from stderr.
pub struct Binary {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far, for failure messages.
    pub log: Vec<String>,
}

impl Binary {
    /// Starts the binary with `args` and `env`, and none of its settings
    /// inherited from the test's environment.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = binary_command()
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });

        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Starts the binary in plaintext on free loopback ports and returns it
    /// with its gRPC and metrics addresses, read from its log.
    pub fn spawn_insecure() -> (Self, SocketAddr, SocketAddr) {
        Self::spawn_serving(&["--insecure"], &[])
    }

    /// Starts the binary with `args` and `env` on free loopback ports and
    /// returns it with its gRPC and metrics addresses, read from its log.
    pub fn spawn_serving(args: &[&str], env: &[(&str, &str)]) -> (Self, SocketAddr, SocketAddr) {
        let mut all_args = vec![
            "--address",
            "127.0.0.1:0",
            "--metrics-address",
            "127.0.0.1:0",
        ];
        all_args.extend_from_slice(args);

        let mut binary = Self::spawn(&all_args, env);
        let metrics = binary.wait_for_log("serving metrics");
        let grpc = binary.wait_for_log("serving gRPC");

        (binary, address_field(&grpc), address_field(&metrics))
    }

    /// Waits for the JSON log line whose message is `message` and returns it.
    pub fn wait_for_log(&mut self, message: &str) -> Value {
        self.wait_for_log_where(message, |entry| entry["message"] == message)
    }

    /// Waits for a JSON log line that `matches` and returns it. `what`
    /// describes the line for the failure message.
    pub fn wait_for_log_where(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + BINARY_TIMEOUT;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(remaining) {
                Ok(line) => line,
                Err(error) => panic!("no log {what:?} ({error}); log so far: {:#?}", self.log),
            };
            self.log.push(line.clone());

            if let Ok(entry) = serde_json::from_str::<Value>(&line)
                && matches(&entry)
            {
                return entry;
            }
        }
    }

    /// Reads the log lines not read yet into [`Binary::log`], until the
    /// binary closes stderr or [`BINARY_TIMEOUT`] passes.
    pub fn read_remaining_log(&mut self) {
        let deadline = Instant::now() + BINARY_TIMEOUT;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.log.push(line);
        }
    }

    /// Sends SIGTERM to the binary.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the binary to exit.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + BINARY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the binary did not exit; log so far: {:#?}",
                self.log
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Returns the binary's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reports whether the binary is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Returns a command for the built binary that inherits none of its
/// settings from the test's environment.
pub fn binary_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_function-gitlab-runner-fleet"));
    command
        .env_remove("TLS_SERVER_CERTS_DIR")
        .env_remove("FUNCTION_MAX_RECV_MESSAGE_SIZE")
        .env_remove("RUST_LOG");
    command
}

/// Reads the `address` field of a log line.
pub fn address_field(entry: &Value) -> SocketAddr {
    entry["address"]
        .as_str()
        .unwrap_or_else(|| panic!("no address in {entry}"))
        .parse()
        .unwrap()
}

/// Fetches `path` from `address` with a plain HTTP/1.1 GET and returns the
/// status line and the body.
pub fn http_get(address: SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read, Write};

    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(BINARY_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();

    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status_line = head.lines().next().unwrap().to_string();

    (status_line, body.to_string())
}
