"""``ethos stack up`` right after ``down`` on the same ports: TIME-WAIT is not "in use"."""

from __future__ import annotations

import socket

from ethos.rollout.stack.supervisor import port_free


def _time_wait_port() -> int:
    """A port whose server side closed a connection first (so it sits in TIME-WAIT)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()  # the server closes first: its end of the connection enters TIME-WAIT
    cli.recv(1)
    cli.close()
    srv.close()
    return port


def test_a_port_in_time_wait_is_free_for_a_new_stack() -> None:
    port = _time_wait_port()
    # without SO_REUSEADDR the kernel refuses the bind: the old check said "already in use"
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        refused = False
        try:
            plain.bind(("127.0.0.1", port))
        except OSError:
            refused = True
    finally:
        plain.close()
    assert refused, "the test did not produce a TIME-WAIT socket"
    assert port_free("127.0.0.1", port)


def test_a_listening_port_is_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        assert not port_free("127.0.0.1", s.getsockname()[1])
