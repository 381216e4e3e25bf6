"""Tests of hack/freeport.py: the ports it hands out are free, distinct
across concurrent callers, and not given again while leased."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HACK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, HACK)
import freeport  # noqa: E402


class FreePort(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.saved = (freeport.LEASE_DIR, freeport._candidate)
        freeport.LEASE_DIR = os.path.join(self.tmp.name, "leases")

    def tearDown(self):
        freeport.LEASE_DIR, freeport._candidate = self.saved
        self.tmp.cleanup()

    def candidates(self, ports):
        """Makes freeport try these ports in this order, then fail."""
        it = iter(ports)

        def pick(_low):
            try:
                return next(it)
            except StopIteration:
                raise OSError("no more candidates")
        freeport._candidate = pick

    def lease_path(self, port):
        return os.path.join(freeport.LEASE_DIR, str(port))

    def test_skips(self):
        """Which candidate is handed out, by what holds the ones before it."""
        base, other = freeport.free_ports(2)  # ports nobody listens on
        cases = [
            # name, state of base, expected: base or the next candidate
            ("free and unleased", None, base),
            ("fresh lease", "fresh", other),
            ("stale lease", "stale", base),
            ("listening", "listen", other),
        ]
        for name, state, want in cases:
            with self.subTest(name):
                for p in (base, other):
                    if os.path.exists(self.lease_path(p)):
                        os.unlink(self.lease_path(p))
                holder = None
                if state in ("fresh", "stale"):
                    with open(self.lease_path(base), "w") as f:
                        f.write("1\n")
                    if state == "stale":
                        old = time.time() - freeport.LEASE_SECONDS - 1
                        os.utime(self.lease_path(base), (old, old))
                elif state == "listen":
                    holder = socket.socket()
                    holder.bind(("127.0.0.1", base))
                    holder.listen()
                try:
                    self.candidates([base, other])
                    self.assertEqual(freeport.free_ports(1), [want])
                    self.assertTrue(os.path.exists(self.lease_path(want)))
                finally:
                    if holder:
                        holder.close()

    def test_no_duplicates_within_a_call(self):
        self.candidates([20001, 20001, 20002])
        self.assertEqual(freeport.free_ports(2), [20001, 20002])

    def test_none_found_raises(self):
        self.candidates([])
        with self.assertRaises(OSError):
            freeport.free_ports(1)

    def test_stale_leases_are_removed(self):
        os.makedirs(freeport.LEASE_DIR)
        with open(self.lease_path(20003), "w"):
            pass
        old = time.time() - freeport.LEASE_SECONDS - 1
        os.utime(self.lease_path(20003), (old, old))
        self.candidates([20004])
        freeport.free_ports(1)
        self.assertFalse(os.path.exists(self.lease_path(20003)))

    def test_concurrent_callers_get_distinct_ports(self):
        """Eight processes at once, 50 ports each: no port twice."""
        env = dict(os.environ, FREEPORT_DIR=self.tmp.name)
        script = os.path.join(HACK, "freeport.py")
        procs = [subprocess.Popen([sys.executable, script, "50"], env=env,
                                  stdout=subprocess.PIPE, text=True) for _ in range(8)]
        ports = []
        for p in procs:
            out, _ = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0)
            ports += [int(x) for x in out.split()]
        self.assertEqual(len(ports), 400)
        self.assertEqual(len(set(ports)), 400)


if __name__ == "__main__":
    unittest.main()
