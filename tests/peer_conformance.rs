//! Wire conformance with Crossplane's Python SDK, the reference peer.
//!
//! The tests run the scripts in `tests/peer/` with a Python that has
//! `tests/peer/requirements.txt` installed: `PEER_PYTHON` names it, else
//! `target/peer-venv/bin/python` is used when it exists. Without either the
//! tests fail and print the commands that set one up, so no run skips them
//! silently.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use function_gitlab_runner_fleet::proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorSet};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const SERVER_BINARY: &str = env!("CARGO_BIN_EXE_function-gitlab-runner-fleet");

/// How long the server may take to accept connections after it starts.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server may take to drain and exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// Returns the Python to run the peer scripts with, or fails the test with
/// the commands that set one up.
fn peer_python() -> PathBuf {
    if let Some(python) = std::env::var_os("PEER_PYTHON") {
        let python = PathBuf::from(python);
        assert!(
            python.is_file(),
            "PEER_PYTHON={} is not a file: point it at the python of a venv \
             that has tests/peer/requirements.txt installed",
            python.display()
        );
        return python;
    }

    let venv_python = Path::new(MANIFEST_DIR).join("target/peer-venv/bin/python");
    if venv_python.is_file() {
        return venv_python;
    }

    panic!(
        "PEER_PYTHON is not set and {} does not exist. The conformance tests \
         need a Python with Crossplane's Python SDK. Set one up with:\n\
         \x20   python3 -m venv target/peer-venv\n\
         \x20   target/peer-venv/bin/pip install -r tests/peer/requirements.txt\n\
         or run `bash .ci/run`, which does the same.",
        venv_python.display()
    );
}

fn peer_script(name: &str) -> PathBuf {
    Path::new(MANIFEST_DIR).join("tests/peer").join(name)
}

/// Runs a script of `tests/peer/` and returns its output, whatever its exit
/// status.
fn run_peer_script(name: &str, args: &[&std::ffi::OsStr]) -> Output {
    let python = peer_python();
    Command::new(&python)
        .arg(peer_script(name))
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("failed to run {} {name}: {error}", python.display()))
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Compares `descriptors` with the SDK's, returning the compare script's
/// output.
fn compare_with_sdk(descriptors: &[u8]) -> Output {
    let file = tempfile::NamedTempFile::new().expect("temporary file");
    std::fs::write(file.path(), descriptors).expect("write descriptor set");

    run_peer_script("compare_descriptors.py", &[file.path().as_os_str()])
}

#[test]
fn descriptors_match_python_sdk() {
    let output = compare_with_sdk(FILE_DESCRIPTOR_SET);

    assert!(
        output.status.success(),
        "our descriptors differ from crossplane-function-sdk-python's:\n{}",
        describe(&output)
    );
}

fn protocol_file<'a>(
    set: &'a mut FileDescriptorSet,
    package: &str,
) -> &'a mut prost_types::FileDescriptorProto {
    set.file
        .iter_mut()
        .find(|file| file.package() == package)
        .unwrap_or_else(|| panic!("no file of package {package} in FILE_DESCRIPTOR_SET"))
}

fn message<'a>(
    file: &'a mut prost_types::FileDescriptorProto,
    name: &str,
) -> &'a mut DescriptorProto {
    let package = file.package().to_string();
    file.message_type
        .iter_mut()
        .find(|message| message.name() == name)
        .unwrap_or_else(|| panic!("no message {name} in {package}"))
}

/// Proves the comparison can fail: each change to our descriptors must be
/// reported with its path, in both directions.
#[test]
fn descriptor_comparison_reports_differences() {
    let mut set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("decode descriptor set");

    let v1 = protocol_file(&mut set, "apiextensions.fn.proto.v1");
    let request = message(v1, "RunFunctionRequest");
    request.field[0].number = Some(11);
    v1.message_type.push(DescriptorProto {
        name: Some("Extra".to_string()),
        ..Default::default()
    });

    let v1beta1 = protocol_file(&mut set, "apiextensions.fn.proto.v1beta1");
    v1beta1
        .message_type
        .retain(|message| message.name() != "Credentials");
    let request = message(v1beta1, "RunFunctionRequest");
    let input = request
        .field
        .iter_mut()
        .find(|field| field.name() == "input")
        .expect("field input");
    input.proto3_optional = Some(false);

    let output = compare_with_sdk(&set.encode_to_vec());

    let expected = "\
apiextensions.fn.proto.v1.Extra: message extra in ours, not in the SDK
apiextensions.fn.proto.v1.RunFunctionRequest.meta: number is 11 in ours, 1 in the SDK
apiextensions.fn.proto.v1beta1.Credentials: message missing in ours
apiextensions.fn.proto.v1beta1.RunFunctionRequest.input: proto3_optional is False in ours, True in the SDK
4 differences from crossplane-function-sdk-python
";
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        expected,
        "{}",
        describe(&output)
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
}

/// Returns a loopback address with a port that was free a moment ago.
fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}

/// The function's binary running as a server. Dropping it kills the process,
/// so a failed test leaves no server behind.
struct Server {
    child: Child,
    address: SocketAddr,
    log: tempfile::NamedTempFile,
}

impl Server {
    fn start() -> Server {
        let address = free_address();
        let metrics_address = free_address();
        let log = tempfile::NamedTempFile::new().expect("temporary log file");
        let log_file = File::create(log.path()).expect("open log file");

        let child = Command::new(SERVER_BINARY)
            .arg("--insecure")
            .arg("--address")
            .arg(address.to_string())
            .arg("--metrics-address")
            .arg(metrics_address.to_string())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log file"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|error| panic!("failed to start {SERVER_BINARY}: {error}"));

        let mut server = Server {
            child,
            address,
            log,
        };
        server.wait_until_accepting();
        server
    }

    fn wait_until_accepting(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;

        loop {
            if let Some(status) = self.child.try_wait().expect("poll server") {
                panic!(
                    "server exited with {status} before accepting connections. Its output:\n{}",
                    self.output()
                );
            }
            if TcpStream::connect_timeout(&self.address, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not accept connections on {} within {STARTUP_TIMEOUT:?}. Its output:\n{}",
                self.address,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the server to drain and exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed with {status}");

        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll server") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM. Its output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Kill and reap the server if it still runs. Both calls are harmless
        // on a child that has exited and been reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn server_speaks_protocol_to_python_sdk() {
    // Fail on a missing Python before starting the server.
    peer_python();

    let mut server = Server::start();
    let address = server.address.to_string();

    let output = run_peer_script(
        "call_function.py",
        &["--address".as_ref(), address.as_ref()],
    );
    assert!(
        output.status.success(),
        "the Python SDK's client found protocol violations:\n{}\nserver output:\n{}",
        describe(&output),
        server.output()
    );

    let status = server.terminate();
    assert!(
        status.success(),
        "server exited with {status} after SIGTERM. Its output:\n{}",
        server.output()
    );
}
