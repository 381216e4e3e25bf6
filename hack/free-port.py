"""Prints N TCP ports on 127.0.0.1 that nobody listens on (default 1).

Shared by hack/lib.sh (free_port) and hack/reshard-fixture.sh. The ports
come from below the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range): a port from bind(port 0) lies
inside it, and between this check and the server's own bind any outgoing
connection on the machine may be given it as its local port ("Address
already in use" when three suites run at once). Below the range only
another explicit choice can take it. Falls back to bind(port 0) when the
range starts too low to leave room.
"""
import random
import socket
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 0
found = []
for _ in range(n * 200):
    if len(found) == n:
        break
    s = socket.socket()
    try:
        if low > 11000:
            port = random.randint(10000, low - 1)
            if port in found:
                continue
            s.bind(("127.0.0.1", port))
        else:
            s.bind(("127.0.0.1", 0))
        found.append(s.getsockname()[1])
    except OSError:
        continue
    finally:
        s.close()
if len(found) < n:
    sys.exit("free-port: no free port found")
print(" ".join(str(p) for p in found))
