"""A proxy that tunnels (HTTP CONNECT) and does nothing else, on 127.0.0.1.

httplib2 reaches every host through an HTTP proxy by asking it for a tunnel, plain HTTP
included; a proxy of a company's network does the same for HTTPS. This one records the
address of each tunnel asked for, so a test sees which requests went through it.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TunnelProxy:
    """`tunnels` holds the "host:port" of each CONNECT, in the order they came."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request = self.rfile.readline().decode("latin-1").split()
                while self.rfile.readline().strip():  # the headers, which say nothing to us
                    pass
                if len(request) != 3 or request[0] != "CONNECT":
                    self.wfile.write(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
                    return
                proxy.tunnels.append(request[1])
                host, _, port = request[1].rpartition(":")
                with socket.create_connection((host, int(port)), timeout=10) as upstream:
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                    # the client waits for that answer before it sends: nothing is buffered yet
                    _relay(self.connection, upstream)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[TunnelProxy]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Pass bytes both ways until either side closes or both stay silent for ten seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while events := selector.select(timeout=10):
            for key, _ in events:
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                data = source.recv(65536)
                if not data:
                    return
                key.data.sendall(data)
