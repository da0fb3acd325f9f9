"""Call a running function with the Python SDK's stubs and check the protocol.

Sends one RunFunctionRequest, built with crossplane-function-sdk-python's
generated messages, to both `apiextensions.fn.proto.v1` and `v1beta1`
FunctionRunnerService over an insecure channel, and checks the contract
every composition function keeps, whatever it composes:

- the response echoes `meta.tag`;
- the response sets a TTL greater than zero;
- a composed resource that an earlier pipeline step desired comes back
  unchanged;
- every key of the request's context comes back with the same value;
- both protocol versions return the same response bytes.

Usage: call_function.py --address 127.0.0.1:9443

Prints a short summary, and every failed check; exits with status 1 when a
check fails or a call fails.
"""

from __future__ import annotations

import argparse
import sys

import grpc
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1

TAG = "peer-conformance-7f3a"

# The name under which an earlier pipeline step desired a resource. The
# function under test must return it as it was.
EARLIER_RESOURCE = "earlier-step-config"

OBSERVED_COMPOSITE = {
    "apiVersion": "platform.example.org/v1alpha1",
    "kind": "XGitLabRunnerFleet",
    "metadata": {
        "name": "ci-fleet",
        "uid": "0c6f5f52-8a1e-4c55-9d3e-3b4d6f1a2e10",
        "generation": 1,
    },
    "spec": {
        "architectures": ["amd64", "arm64"],
    },
}

EARLIER_DESIRED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "ci-fleet-settings",
        "namespace": "gitlab-runners",
        "labels": {"app.kubernetes.io/managed-by": "earlier-step"},
    },
    "data": {"concurrent": "4", "note": "set by an earlier step"},
}

CONTEXT = {
    "apiextensions.crossplane.io/environment": {
        "apiVersion": "internal.crossplane.io/v1alpha1",
        "kind": "Environment",
        "region": "eu-west-1",
    },
    "example.org/earlier-step": {"ran": True, "items": [1, 2.5, "three", None]},
}


def to_struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(value, struct)
    return struct


def build_request() -> fnv1.RunFunctionRequest:
    """Build the v1 request. The v1beta1 request is the same bytes."""
    request = fnv1.RunFunctionRequest()
    request.meta.tag = TAG
    request.observed.composite.resource.CopyFrom(to_struct(OBSERVED_COMPOSITE))

    earlier = request.desired.resources[EARLIER_RESOURCE]
    earlier.resource.CopyFrom(to_struct(EARLIER_DESIRED))
    earlier.connection_details["password"] = b"\x00not-a-secret\xff"
    earlier.ready = fnv1.READY_TRUE

    request.context.CopyFrom(to_struct(CONTEXT))
    return request


def as_json(message: Message) -> str:
    return json_format.MessageToJson(message, sort_keys=True, indent=None)


def call(address: str, stub_class, request: Message, timeout: float) -> Message:
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return stub_class(channel).RunFunction(request, timeout=timeout)


def check_contract(
    version: str, request: fnv1.RunFunctionRequest, response: Message
) -> list[str]:
    """List every way `response` breaks the protocol contract for `request`."""
    failures = []

    if response.meta.tag != request.meta.tag:
        failures.append(
            f"{version}: meta.tag is {response.meta.tag!r}, expected {request.meta.tag!r}"
        )

    if not response.meta.HasField("ttl"):
        failures.append(f"{version}: meta.ttl is not set, expected a TTL greater than zero")
    elif response.meta.ttl.ToTimedelta().total_seconds() <= 0:
        failures.append(
            f"{version}: meta.ttl is {response.meta.ttl.ToJsonString()}, "
            "expected a TTL greater than zero"
        )

    sent = request.desired.resources[EARLIER_RESOURCE]
    if EARLIER_RESOURCE not in response.desired.resources:
        failures.append(
            f"{version}: desired.resources[{EARLIER_RESOURCE!r}] from an earlier step is missing"
        )
    else:
        returned = response.desired.resources[EARLIER_RESOURCE]
        if returned.SerializeToString(deterministic=True) != sent.SerializeToString(
            deterministic=True
        ):
            failures.append(
                f"{version}: desired.resources[{EARLIER_RESOURCE!r}] changed: "
                f"sent {as_json(sent)}, returned {as_json(returned)}"
            )

    if not response.HasField("context"):
        failures.append(f"{version}: context is not set, expected the request's context")
    else:
        for key, value in request.context.fields.items():
            if key not in response.context.fields:
                failures.append(f"{version}: context[{key!r}] is missing")
            elif response.context.fields[key] != value:
                failures.append(
                    f"{version}: context[{key!r}] changed: sent {as_json(value)}, "
                    f"returned {as_json(response.context.fields[key])}"
                )

    return failures


def summarize(version: str, response: Message) -> str:
    severities = [fnv1.Severity.Name(result.severity) for result in response.results]
    return (
        f"{version}: tag {response.meta.tag!r}, ttl {response.meta.ttl.ToJsonString()}, "
        f"{len(response.desired.resources)} desired resources, "
        f"{len(response.conditions)} conditions, results {severities or 'none'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="host:port of the function's gRPC server")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for each call"
    )
    args = parser.parse_args()

    request = build_request()
    request_v1beta1 = fnv1beta1.RunFunctionRequest.FromString(request.SerializeToString())

    try:
        response_v1 = call(args.address, grpcv1.FunctionRunnerServiceStub, request, args.timeout)
        response_v1beta1 = call(
            args.address, grpcv1beta1.FunctionRunnerServiceStub, request_v1beta1, args.timeout
        )
    except grpc.FutureTimeoutError:
        print(
            f"{args.address}: timed out after {args.timeout} s waiting for a gRPC connection: "
            "is the function serving there with --insecure?",
            file=sys.stderr,
        )
        return 1
    except grpc.RpcError as error:
        print(
            f"{args.address}: RunFunction failed: {error.code().name}: {error.details()}",
            file=sys.stderr,
        )
        return 1

    print(summarize("v1", response_v1))
    print(summarize("v1beta1", response_v1beta1))

    failures = check_contract("v1", request, response_v1)
    failures += check_contract("v1beta1", request, response_v1beta1)

    bytes_v1 = response_v1.SerializeToString(deterministic=True)
    bytes_v1beta1 = response_v1beta1.SerializeToString(deterministic=True)
    if bytes_v1 != bytes_v1beta1:
        failures.append(
            "v1 and v1beta1 responses differ: "
            f"v1 {as_json(response_v1)}, v1beta1 {as_json(response_v1beta1)}"
        )

    for failure in failures:
        print(f"FAIL {failure}")

    if failures:
        print(f"{len(failures)} protocol checks failed")
        return 1

    print("protocol checks passed for v1 and v1beta1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
