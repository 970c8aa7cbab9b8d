"""The HTTP server the fakes and the fault proxy listen with."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server on a loopback address with a deep accept queue. Many clients
    connect at once in the cluster tests (every cycle of three workers); once the standard
    queue of five is full the kernel drops further connection attempts, and each client waits
    for its retransmission, seconds that would show as cycles late for no fault of theirs."""

    request_queue_size = 128
