"""unittest.main for the suites meson runs: exit 1 if a test failed, else 77
(meson: SKIP) if one was skipped, naming it, so a check this machine could not
make never shows as a pass; else 0."""
import sys
import unittest


def main(argv=None):
    result = unittest.main(argv=argv, verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    for test, why in result.skipped:
        print("SKIP: %s: %s" % (test.id(), why), file=sys.stderr)
    sys.exit(77 if result.skipped else 0)
