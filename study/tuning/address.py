"""--address checked before Ray is asked: given an address where nothing listens, ray.init
retries for minutes with only its own warnings, and given something that is not a Ray head
it fails after about 30 s with three tracebacks. Here each is one line, within seconds.

Three steps, each cheaper than the next: the address's form; a TCP connect (refused, DNS,
no route, timeout); one gRPC call a Ray head's GCS answers (GetClusterId, in Ray's generated
stubs, so it is this Ray version's own). A cluster that answers but refuses this driver (its
token, its version) is left to ray.init, whose error cluster.init_ray turns into one line.
"""

from __future__ import annotations

import socket

from study.errors import ClusterError

TIMEOUT_S = 3.0  # a head node on the same network answers in milliseconds
CHECKS = (
    "check that the head node runs (`ray start --head`), the port (the GCS port, 6379 by "
    "default; Ray Client's is 10001), and that no firewall blocks it"
)


def check_address(address: str, timeout: float = TIMEOUT_S) -> None:
    """A ClusterError unless something at `address` answers as a Ray head ("auto", the
    cluster a `ray start` left on this machine, is Ray's to find)."""
    if address == "auto":
        return
    client = address.startswith("ray://")
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        why = "no answer" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise ClusterError(
            f"--address {address}: nothing answers at {host}:{port} within {timeout:g} s "
            f"({why}); {CHECKS}"
        ) from None
    if not client:  # Ray Client's server is another service; ray.init judges it
        _ask_gcs(address, f"{host}:{port}", timeout)


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(
            f"--address {address!r} is invalid: give host:port (a head node's GCS port, 6379 "
            "by default), ray://host:port (Ray Client, 10001) or auto"
        )
    return host, int(port)


def _ask_gcs(address: str, target: str, timeout: float) -> None:
    """One GetClusterId call. A GCS answers it, or refuses it for want of a token (then
    ray.init, which sends the token, decides); anything else is not this Ray's head."""
    import grpc

    try:
        from ray.core.generated import gcs_service_pb2_grpc
    except ImportError:  # a Ray without its generated stubs: leave the judgement to ray.init
        return
    channel = grpc.insecure_channel(target)
    try:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        if not hasattr(stub, "GetClusterId"):  # another Ray's protocol: ray.init decides
            return
        from ray.core.generated import gcs_service_pb2

        stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=timeout)
    except grpc.RpcError as err:
        code = err.code()
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return  # a head with token auth: ray.init sends the token
        raise ClusterError(
            f"--address {address}: something answers at {target}, but not as a Ray head node "
            f"(gRPC {code.name}: {_first_line(err.details())}); {CHECKS}"
        ) from None
    finally:
        channel.close()


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else "no details"
