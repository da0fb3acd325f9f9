//! The parts of the benchmark tools that must stay right even though the
//! benchmarks are not run in CI: the request fixture matches the examples,
//! it survives the trip through proto3 JSON, and the tools accept loopback
//! addresses only.

#[path = "../benches/loadgen/fixture.rs"]
mod fixture;
#[path = "../benches/loadgen/target.rs"]
mod target;

use std::path::Path;

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Regenerate with `UPDATE_GOLDEN=1 cargo test --test bench_tools`, or
/// `cargo bench --bench loadgen -- fixture`, then review the diff.
#[test]
fn fixture_matches_examples() {
    let request = fixture::example_request(&repository().join("examples")).unwrap();
    let mut expected = serde_json::to_string_pretty(&fixture::request_to_json(&request)).unwrap();
    expected.push('\n');
    let path = repository().join(fixture::EXAMPLE_FIXTURE);

    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap();

    assert!(
        actual == expected,
        "{} is out of date with examples/: run `UPDATE_GOLDEN=1 cargo test --test bench_tools` \
         and review the diff",
        path.display()
    );
}

#[test]
fn fixture_round_trips() {
    let path = repository().join(fixture::EXAMPLE_FIXTURE);
    let request = fixture::read_fixture(&path).unwrap();

    let again = fixture::request_from_json(&fixture::request_to_json(&request)).unwrap();

    assert_eq!(again, request);
    assert_eq!(request.observed.as_ref().unwrap().resources.len(), 2);
    assert_eq!(request.required_resources["nodepool"].items.len(), 1);
    assert!(request.input.is_some());
}

#[test]
fn fixture_rejects_unsupported_fields() {
    let cases = [
        (
            "credentials would be dropped",
            serde_json::json!({"credentials": {}}),
            "credentials: unsupported field: a fixture may set meta, observed, desired, input, \
             context, extraResources and requiredResources",
        ),
        (
            "connection details would be dropped",
            serde_json::json!({"desired": {"resources": {"a": {"connectionDetails": {}}}}}),
            "desired.resources.a.connectionDetails: unsupported field: use resource and ready",
        ),
        (
            "an unknown readiness",
            serde_json::json!({"desired": {"resources": {"a": {"ready": "READY_MAYBE"}}}}),
            "desired.resources.a.ready: unknown value \"READY_MAYBE\"",
        ),
    ];

    for (reason, fixture_json, expected) in cases {
        let error = fixture::request_from_json(&fixture_json).unwrap_err();
        assert_eq!(format!("{error:#}"), expected, "{reason}");
    }
}

#[test]
fn tools_accept_only_loopback() {
    struct Case {
        reason: &'static str,
        address: &'static str,
        error: Option<&'static str>,
    }

    let not_loopback = |address: &str| {
        format!(
            "{address} is not a loopback address: use an address in 127.0.0.0/8 or [::1], \
             because benchmark traffic must stay on this machine"
        )
    };
    let cases = [
        Case {
            reason: "the usual loopback address",
            address: "127.0.0.1:9443",
            error: None,
        },
        Case {
            reason: "anywhere in 127.0.0.0/8",
            address: "127.255.0.9:1",
            error: None,
        },
        Case {
            reason: "IPv6 loopback",
            address: "[::1]:9443",
            error: None,
        },
        Case {
            reason: "a private address",
            address: "10.0.0.1:9443",
            error: Some("10.0.0.1:9443"),
        },
        Case {
            reason: "every interface",
            address: "0.0.0.0:9443",
            error: Some("0.0.0.0:9443"),
        },
        Case {
            reason: "an IPv4-mapped IPv6 loopback address",
            address: "[::ffff:127.0.0.1]:9443",
            error: Some("[::ffff:127.0.0.1]:9443"),
        },
        Case {
            reason: "a public IPv6 address",
            address: "[2001:db8::1]:9443",
            error: Some("[2001:db8::1]:9443"),
        },
    ];

    for case in cases {
        let outcome = target::parse_loopback(case.address);
        match case.error {
            None => assert_eq!(
                outcome.map(|address| address.to_string()),
                Ok(case.address.to_string()),
                "{}",
                case.reason
            ),
            Some(address) => assert_eq!(outcome, Err(not_loopback(address)), "{}", case.reason),
        }
    }
}

#[test]
fn tools_resolve_no_host_names() {
    for text in ["localhost:9443", "gitlab.example.com:443", "127.0.0.1"] {
        assert_eq!(
            target::parse_loopback(text),
            Err(format!(
                "{text:?} is not an IP address and port, such as 127.0.0.1:9443: host names are \
                 not resolved, so that traffic cannot leave this machine"
            )),
            "{text}"
        );
    }
}
