"""--address is checked before Ray is asked (study/tuning/address.py): an address where nothing
listens, something that is not a Ray head, or a malformed address ends in one line and exit
code 2 within seconds, where Ray itself retried for minutes. A real head passes: the cluster
tests (test_cluster.py) run studies through this check."""

from __future__ import annotations

import socket
import threading
from concurrent import futures

import grpc
import pytest

from study.cli import main


def _run(address: str, capsys) -> tuple[int, list[str]]:  # noqa: ANN001
    code = main(["run", "smoke", "--scale", "smoke", "--address", address])
    return code, capsys.readouterr().err.strip().splitlines()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends


def test_an_address_where_nothing_listens_is_one_line(capsys):
    port = _closed_port()
    code, err = _run(f"127.0.0.1:{port}", capsys)
    assert code == 2
    assert err == [err[0]] and err[0].startswith(f"error: --address 127.0.0.1:{port}: nothing")
    assert "Connection refused" in err[0] and "ray start --head" in err[0]


def test_a_tcp_server_that_is_not_ray_is_one_line(capsys):
    """Accepts and closes every connection, as a proxy or another service might."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        code, err = _run(f"127.0.0.1:{port}", capsys)
    finally:
        server.close()
    assert code == 2
    assert len(err) == 1 and "not as a Ray head node" in err[0], err


def test_a_grpc_server_that_is_not_ray_is_one_line(capsys):
    """A real gRPC server with no Ray service: it answers, with UNIMPLEMENTED."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        code, err = _run(f"127.0.0.1:{port}", capsys)
    finally:
        server.stop(0)
    assert code == 2
    assert len(err) == 1 and "not as a Ray head node (gRPC UNIMPLEMENTED" in err[0], err


@pytest.mark.parametrize("address", ["127.0.0.1", "head:port", "head:0", "head:70000", ":6379"])
def test_a_malformed_address_is_one_line(address, capsys):
    code, err = _run(address, capsys)
    assert code == 2
    assert err == [
        f"error: --address {address!r} is invalid: give host:port (a head node's "
        "GCS port, 6379 by default), ray://host:port (Ray Client, 10001) or auto"
    ]
