"""`python3 -m unittest -v NAMES...`, with each test's wall time.

Usage: python3 hack/unittest-timed.py NAME... (as unittest takes them).

Python 3.11 (Debian 12) has no `--durations` (3.12 has), and the e2e
suites are what decides how long hack/test takes: after each test's
verdict this prints its seconds, and at the end the ten slowest, so that a
CI log shows where the time went. The exit status is unittest's: 0 when
every test passed, 1 otherwise.
"""
import os
import sys
import time
import unittest

# As `python3 -m unittest` does: the test modules are found from the
# working directory.
sys.path.insert(0, os.getcwd())


class TimedResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.times = []
        self._start = 0.0

    def startTest(self, test):
        self._start = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        took = time.monotonic() - self._start
        self.times.append((took, test.id()))
        self.stream.writeln("  (%.1f s)" % took)
        self.stream.flush()
        super().stopTest(test)


def main(argv):
    if not argv:
        sys.stderr.write("usage: unittest-timed.py NAME...\n")
        return 2
    suite = unittest.defaultTestLoader.loadTestsFromNames(argv)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=TimedResult)
    result = runner.run(suite)
    slow = sorted(result.times, reverse=True)[:10]
    if slow:
        # On unittest's own stream (stderr), so that it follows the verdicts.
        sys.stderr.write("slowest tests:\n")
        for took, name in slow:
            sys.stderr.write("  %6.1f s  %s\n" % (took, name))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
