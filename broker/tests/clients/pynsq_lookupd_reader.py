#!/usr/bin/env python3
"""Consume one topic/channel with the real pynsq Reader, discovering nsqd
through nsqlookupd only.

Every message is FINished and its body printed to stdout as one line
`MSG <body>` (flushed at once), so the test that runs this script counts
what arrived; the script runs until it is killed or --timeout passes.

Exit status: 0 at the timeout; 3 when pynsq or tornado is not installed.

Run by broker/tests/it/cluster.rs; install the client with
scripts/install-test-deps.sh.
"""

import argparse
import logging
import sys

from pynsq_client import load

nsq, tornado = load("pynsq_lookupd_reader")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lookupd-http-address", action="append", required=True,
                   help="http://host:port of an nsqlookupd (repeatable)")
    p.add_argument("--topic", required=True)
    p.add_argument("--channel", required=True)
    p.add_argument("--poll-interval", type=int, default=1, help="seconds")
    p.add_argument("--max-in-flight", type=int, default=30)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def on_message(message):
        sys.stdout.write("MSG %s\n" % bytes(message.body).decode("utf-8", "replace"))
        sys.stdout.flush()
        return True  # FIN

    nsq.Reader(
        topic=args.topic,
        channel=args.channel,
        message_handler=on_message,
        lookupd_http_addresses=args.lookupd_http_address,
        lookupd_poll_interval=args.poll_interval,
        lookupd_poll_jitter=0.1,
        max_in_flight=args.max_in_flight,
    )
    loop = tornado.ioloop.IOLoop.current()
    loop.call_later(args.timeout, loop.stop)
    print("READY pynsq %s, tornado %s" % (nsq.__version__, tornado.version))
    sys.stdout.flush()
    loop.start()
    sys.exit(0)


if __name__ == "__main__":
    main()
