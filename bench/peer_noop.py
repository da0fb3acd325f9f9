"""A no-op composition function served by Crossplane's Python SDK runtime.

It responds to every RunFunction call with response.to(request): the request's
tag, desired state and context, and the SDK's default TTL, which is what a
Python function costs before it does any work. bench/run.sh measures the
function against it.

Usage: python bench/peer_noop.py --address 127.0.0.1:9445

It serves in plaintext and only on a loopback address (127.0.0.0/8 or
[::1]), until SIGTERM.
"""

import argparse
import ipaddress
import sys

import grpc
from crossplane.function import response, runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1


class NoOpFunction(grpcv1.FunctionRunnerServiceServicer):
    """Returns the request's desired state untouched."""

    async def RunFunction(  # noqa: N802 - the gRPC method name
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext
    ) -> fnv1.RunFunctionResponse:
        return response.to(req)


def loopback_address(text: str) -> str:
    """Return text when it is a loopback IP address and port, else exit."""
    host, _, port = text.rpartition(":")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        sys.exit(f"{text!r} is not an IP address and port, such as 127.0.0.1:9445")
    if not port.isdigit() or not (ip.version == 4 and ip.is_loopback or str(ip) == "::1"):
        sys.exit(f"{text!r} is not a loopback address: use 127.0.0.0/8 or [::1]")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, type=loopback_address)
    args = parser.parse_args()

    runtime.serve(NoOpFunction(), args.address, creds=None, insecure=True)


if __name__ == "__main__":
    main()
