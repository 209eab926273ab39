#!/usr/bin/env python3
"""Round trip through nsqd with the real pynsq client (tornado based).

Publishes --count messages to --topic with nsq.Writer (a mix of PUB and
MPUB), consumes them with nsq.Reader (max_in_flight 100), FINishes each, and
checks that every body arrived exactly once with the right content.

Exit status: 0 on success; 1 on a failed check, a publish error or the
timeout; 3 when pynsq or tornado is not installed.

Run by broker/tests/it/clients.rs; install the client with
scripts/install-test-deps.sh.
"""

import argparse
import logging
import sys
import time

from pynsq_client import load

nsq, tornado = load("pynsq_roundtrip")

CHANNEL = "pynsq_roundtrip"
MPUB_BATCH = 25


def body(topic, i):
    """The i-th body: unique, varied length, some non-UTF-8 bytes."""
    tail = bytes((i + k) % 256 for k in range(i % 61))
    return ("%s|%06d|" % (topic, i)).encode() + tail


class RoundTrip(object):
    def __init__(self, args):
        self.args = args
        self.loop = tornado.ioloop.IOLoop.current()
        self.expected = {body(args.topic, i): i for i in range(args.count)}
        self.received = {}
        self.duplicates = []
        self.unexpected = []
        self.bad_attempts = []
        self.pub_acked = 0  # messages whose PUB/MPUB got OK
        self.pub_sent = 0
        self.failure = None
        self.done_at = None
        features = {}
        if args.tls_ca:
            import ssl
            features["tls_v1"] = True
            features["tls_options"] = {"ca_certs": args.tls_ca,
                                       "cert_reqs": ssl.CERT_REQUIRED}
        if args.compression == "snappy":
            features["snappy"] = True
        elif args.compression == "deflate":
            features["deflate"] = True
            features["deflate_level"] = 6
        self.writer = nsq.Writer([args.nsqd_tcp_address], **features)
        self.reader = nsq.Reader(
            **features,
            topic=args.topic,
            channel=CHANNEL,
            message_handler=self.on_message,
            nsqd_tcp_addresses=[args.nsqd_tcp_address],
            max_in_flight=100,
        )
        self.started = time.time()

    def fail(self, msg):
        if self.failure is None:
            self.failure = msg
        self.loop.stop()

    # ---- producer ----

    def wait_writer_then_publish(self):
        if self.writer.conns:
            self.publish()
            return
        if time.time() - self.started > 10:
            self.fail("writer did not connect to %s within 10 s"
                      % self.args.nsqd_tcp_address)
            return
        self.loop.call_later(0.02, self.wait_writer_then_publish)

    def publish(self):
        topic = self.args.topic
        i = 0
        n = self.args.count
        kind = 0
        while i < n:
            if kind % 2 == 0:
                # single PUB
                bodies = [body(topic, i)]
                self.writer.pub(topic, bodies[0], callback=self.pub_callback(1, "PUB"))
            else:
                bodies = [body(topic, j) for j in range(i, min(n, i + MPUB_BATCH))]
                self.writer.mpub(topic, bodies,
                                 callback=self.pub_callback(len(bodies), "MPUB"))
            self.pub_sent += len(bodies)
            i += len(bodies)
            kind += 1

    def pub_callback(self, k, what):
        def cb(conn, data):
            if isinstance(data, nsq.Error):
                self.fail("%s of %d message(s) failed: %r" % (what, k, data))
                return
            if data != b"OK":
                self.fail("%s of %d message(s) answered %r, want b'OK'" % (what, k, data))
                return
            self.pub_acked += k
            self.check_done()
        return cb

    # ---- consumer ----

    def on_message(self, message):
        b = bytes(message.body)
        if b not in self.expected:
            self.unexpected.append(b)
        elif b in self.received:
            self.duplicates.append(b)
        else:
            self.received[b] = message.id
        if message.attempts != 1:
            self.bad_attempts.append((b, message.attempts))
        self.check_done()
        return True  # FIN

    def check_done(self):
        if self.unexpected or self.duplicates or self.bad_attempts:
            # Let the final report list them; stop soon.
            self.loop.call_later(0.2, self.loop.stop)
            return
        if (self.done_at is None and len(self.received) == len(self.expected)
                and self.pub_acked == self.args.count):
            self.done_at = time.time()
            # Linger to catch late duplicates (e.g. a lost FIN redelivered).
            self.loop.call_later(self.args.linger, self.loop.stop)

    def on_timeout(self):
        self.fail("timeout after %.0f s" % self.args.timeout)

    def run(self):
        self.loop.add_callback(self.wait_writer_then_publish)
        self.loop.call_later(self.args.timeout, self.on_timeout)
        self.loop.start()
        return self.report()

    def report(self):
        problems = []
        if self.failure:
            problems.append(self.failure)
        if self.pub_acked != self.args.count:
            problems.append("publish acknowledged %d of %d messages (%d sent)"
                            % (self.pub_acked, self.args.count, self.pub_sent))
        missing = [self.expected[b] for b in self.expected if b not in self.received]
        if missing:
            problems.append("%d of %d messages never arrived, first indices %s"
                            % (len(missing), len(self.expected), sorted(missing)[:10]))
        if self.duplicates:
            problems.append("%d duplicate deliveries, e.g. %r"
                            % (len(self.duplicates), self.duplicates[:3]))
        if self.unexpected:
            problems.append("%d unexpected bodies, e.g. %r"
                            % (len(self.unexpected), self.unexpected[:3]))
        if self.bad_attempts:
            problems.append("%d messages with attempts != 1, e.g. %r"
                            % (len(self.bad_attempts), self.bad_attempts[:3]))
        took = time.time() - self.started
        versions = "pynsq %s, tornado %s" % (nsq.__version__, tornado.version)
        if problems:
            print("pynsq_roundtrip FAILED (%s, topic %s, %.2f s):\n  %s"
                  % (versions, self.args.topic, took, "\n  ".join(problems)),
                  file=sys.stderr)
            return 1
        print("pynsq_roundtrip OK: %d messages on topic %s in %.2f s (%s)"
              % (self.args.count, self.args.topic, took, versions))
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nsqd-tcp-address", required=True, help="host:port of nsqd")
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds")
    p.add_argument("--tls-ca", default=None,
                   help="negotiate TLS, verifying nsqd against this CA file")
    p.add_argument("--compression", choices=["snappy", "deflate"], default=None,
                   help="negotiate stream compression")
    p.add_argument("--linger", type=float, default=0.5,
                   help="seconds to keep consuming after the last message")
    args = p.parse_args()
    if args.count < 1:
        p.error("--count must be positive")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(RoundTrip(args).run())


if __name__ == "__main__":
    main()
