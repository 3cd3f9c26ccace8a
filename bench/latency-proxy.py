"""A TCP proxy that adds a round trip of 2 x DELAY ms: what `tc qdisc ... netem delay` does on a
link, for kernels without sch_netem (this machine's has none). Bandwidth is not limited. Both
diskpick and curl go through it in the remote bench, so their ratio sees the same link.

The whole round trip is added on the way to the server (client -> server bytes wait 2 x DELAY, in
order); the answers go back with splice(2) through a pipe, so the kernel moves them: 0.3-0.45 s
of CPU per GiB of answers. The Node proxy the bench used before (latency-proxy.cjs, a timer per
chunk each way; with `pipe` for the answers it was no cheaper) cost 0.95-1.2 s per GiB, on a
2-core machine as much as either client: the bench then measured the proxy's share of the cores
as much as the clients. For a range reader the link is the
same: a request's first answer byte comes 2 x DELAY after it was sent, and the data in flight is
not capped by the proxy either way.

    python3 latency-proxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT DELAY_MS   (prints "ready")
"""
import collections
import fcntl
import os
import socket
import sys
import threading
import time

listen_port, target, delay_ms = sys.argv[1:4]
host, port = target.rsplit(":", 1)
round_trip = 2 * float(delay_ms) / 1000
F_SETPIPE_SZ = 1031


def close(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def to_server(client, up):
    """client -> server, each chunk held back by the round trip, in order."""
    queue = collections.deque()
    ready = threading.Condition()

    def sender():
        try:
            while True:
                with ready:
                    while not queue:
                        ready.wait()
                    due, data = queue.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    up.shutdown(socket.SHUT_WR)
                    return
                up.sendall(data)
        except OSError:
            close(client, up)

    threading.Thread(target=sender, daemon=True).start()
    try:
        while True:
            data = client.recv(65536)
            with ready:
                queue.append((time.monotonic() + round_trip, data))
                ready.notify()
            if not data:
                return
    except OSError:
        close(client, up)


def to_client(up, client):
    """server -> client through a pipe with splice: no copy into the proxy."""
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass
    try:
        while True:
            n = os.splice(up.fileno(), w, 1 << 20)
            if n == 0:
                break
            while n > 0:
                n -= os.splice(r, client.fileno(), n)
        client.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        os.close(r)
        os.close(w)
        close(client, up)


def serve(client):
    try:
        up = socket.create_connection((host, int(port)))
    except OSError:
        close(client)
        return
    for s in (client, up):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=to_server, args=(client, up), daemon=True).start()
    threading.Thread(target=to_client, args=(up, client), daemon=True).start()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(listen_port)))
server.listen(128)
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    serve(conn)
