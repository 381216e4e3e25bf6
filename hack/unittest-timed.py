"""`python3 -m unittest -v NAMES...`, with each test's wall time.

Usage: python3 hack/unittest-timed.py [--only GLOB]... [--skip GLOB]... NAME...

NAMEs are as unittest takes them. --only keeps the tests whose id (for
example test_posthog.PostHogE2E.test_01_apply_to_ready) matches one of its
globs, --skip drops those that match one of its: hack/test.d/60-e2e-posthog
splits e2e/posthog in two parts that way (E2E_PART), to run at once.

Python 3.11 (Debian 12) has no `--durations` (3.12 has), and the e2e
suites are what decides how long hack/test takes: after each test's
verdict this prints its seconds, and at the end the ten slowest, so that a
CI log shows where the time went. The exit status is unittest's: 0 when
every test passed, 1 otherwise.
"""
import fnmatch
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


def tests_of(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from tests_of(t)
        else:
            yield t


def main(argv):
    only, skip, names = [], [], []
    while argv:
        a = argv.pop(0)
        if a in ("--only", "--skip") and argv:
            (only if a == "--only" else skip).append(argv.pop(0))
        elif a.startswith("-"):
            sys.stderr.write("unittest-timed.py: unknown flag %s\n" % a)
            return 2
        else:
            names.append(a)
    if not names:
        sys.stderr.write("usage: unittest-timed.py [--only GLOB]... [--skip GLOB]... NAME...\n")
        return 2
    picked = [t for t in tests_of(unittest.defaultTestLoader.loadTestsFromNames(names))
              if (not only or any(fnmatch.fnmatchcase(t.id(), g) for g in only))
              and not any(fnmatch.fnmatchcase(t.id(), g) for g in skip)]
    if not picked:
        sys.stderr.write("unittest-timed.py: no test of %s is picked\n" % " ".join(names))
        return 2
    suite = unittest.TestSuite(picked)
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
