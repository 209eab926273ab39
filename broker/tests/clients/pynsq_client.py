"""The real pynsq client (and tornado) for the test scripts here, or exit
status 3 saying how to install them."""

import sys


def load(script):
    """Import pynsq and tornado's IOLoop and return both modules; exit 3
    (the scripts' "client library missing") when they are not installed."""
    try:
        import nsq
        import tornado
        import tornado.ioloop
    except ImportError as e:  # pragma: no cover - environment problem
        print(
            "%s: cannot import pynsq/tornado (%s); "
            "run scripts/install-test-deps.sh" % (script, e),
            file=sys.stderr,
        )
        sys.exit(3)
    return nsq, tornado
