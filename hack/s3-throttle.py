#!/usr/bin/env python3
"""A loopback TCP relay that slows one direction down, for hack/test.d/27-backup.

    s3-throttle.py LISTEN_PORT_FILE UPSTREAM_PORT MARK_FILE MARK_BYTES RATE

It listens on a free 127.0.0.1 port (written to LISTEN_PORT_FILE) and relays
every connection to 127.0.0.1:UPSTREAM_PORT. Bytes from the client go
through at RATE bytes per second; once MARK_BYTES of them have passed it
writes MARK_FILE, so that a test can kill the client in the middle of an
upload at a point it knows. Bytes are relayed unchanged (the Host header
too), so SigV4 signatures stay valid.
"""
import os
import socket
import sys
import threading
import time

port_file, upstream, mark_file, mark_bytes, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
sent = [0]


def pump(src, dst, throttle):
    try:
        while True:
            data = src.recv(16384)
            if not data:
                break
            if throttle:
                time.sleep(len(data) / rate)
                with lock:
                    sent[0] += len(data)
                    if sent[0] >= mark_bytes and not os.path.exists(mark_file):
                        with open(mark_file, "w") as f:
                            f.write(str(sent[0]))
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    while True:
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", upstream))
        threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, False), daemon=True).start()


main()
