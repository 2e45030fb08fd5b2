"""Free local TCP ports for tests that start several TensorFlow worker processes."""

import socket


def free_ports(n):
    """`n` distinct ports on 127.0.0.1 that were free a moment ago."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
