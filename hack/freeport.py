"""TCP ports on 127.0.0.1 that nobody listens on, and nobody else was given.

`python3 hack/freeport.py [N]` prints N of them (default 1), for
hack/lib.sh (free_port), hack/reshard-fixture.sh, hack/postgres and the
server suites of hack/test.d; the Python scripts
(hack/kube-cluster, hack/soak.py, the e2e suites) import free_port().

Two races make a merely free port fail at the server's bind ("Address
already in use"), both seen when hack/test runs four suites at once:

- The kernel gives ports from its ephemeral range
  (/proc/sys/net/ipv4/ip_local_port_range) to outgoing connections, so
  the ports come from below it; a port from bind(port 0) lies inside it.
  Falls back to bind(port 0) when the range starts too low to leave room.
- Between this check and the server's bind, another caller checks the same
  port and finds it free too. 64-e2e-upgrade-kube picks the API server's
  port, starts hack/kube-cluster in the background (it binds seconds later)
  and meanwhile picks the ports of four ClickHouse servers; in the CI of
  e4e3992 the API server found its port taken by then. So each port
  handed out is leased for LEASE_SECONDS: an empty file per port under
  LEASE_DIR, made under an flock of the directory, and no caller on the
  machine is given a leased port. The lease also covers a server that a
  test stops and starts again on its port. Each call first removes the
  leases older than that, so every file left is a lease in force.
"""
import errno
import fcntl
import os
import random
import socket
import sys
import tempfile
import time

LEASE_SECONDS = 3600
LEASE_DIR = os.path.join(os.environ.get("FREEPORT_DIR") or tempfile.gettempdir(),
                         "posthog-operator-ports-%d" % os.getuid())


def _listening(port):
    """True when port cannot be bound on 127.0.0.1 (someone holds it)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def _prune(now):
    for name in os.listdir(LEASE_DIR):
        path = os.path.join(LEASE_DIR, name)
        try:
            if name.isdigit() and now - os.stat(path).st_mtime >= LEASE_SECONDS:
                os.unlink(path)
        except FileNotFoundError:
            pass


def _candidate(low):
    """A port below the ephemeral range, or one the kernel picks."""
    if low > 11000:
        return random.randint(10000, low - 1)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def free_ports(n):
    """n distinct free, unleased ports, now leased (raises OSError when none can be found)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    os.makedirs(LEASE_DIR, mode=0o700, exist_ok=True)
    lock = os.open(LEASE_DIR, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _prune(time.time())
        found = []
        for _ in range(n * 200):
            if len(found) == n:
                break
            try:
                port = _candidate(low)
            except OSError:
                continue
            if port in found or os.path.exists(os.path.join(LEASE_DIR, str(port))) \
                    or _listening(port):
                continue
            found.append(port)
        if len(found) < n:
            raise OSError(errno.EADDRINUSE, "freeport: no free port found")
        for port in found:
            open(os.path.join(LEASE_DIR, str(port)), "w").close()
        return found
    finally:
        os.close(lock)


def free_port():
    return free_ports(1)[0]


if __name__ == "__main__":
    print(" ".join(str(p) for p in free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 1)))
