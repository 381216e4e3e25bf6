"""TCP ports on 127.0.0.1 that nobody listens on.

`python3 hack/freeport.py [N]` prints N of them (default 1), for
hack/lib.sh (free_port), hack/reshard-fixture.sh, hack/postgres and the
server suites of hack/test.d; the Python scripts
(hack/kube-cluster, hack/soak.py, the e2e suites) import free_port(). The ports
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


def free_ports(n):
    """n distinct free ports (raises OSError when none can be found)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    found = []
    for _ in range(n * 200):
        if len(found) == n:
            break
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", random.randint(10000, low - 1) if low > 11000 else 0))
            port = s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
        if port not in found:
            found.append(port)
    if len(found) < n:
        raise OSError("freeport: no free port found")
    return found


def free_port():
    return free_ports(1)[0]


if __name__ == "__main__":
    print(" ".join(str(p) for p in free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 1)))
