//! Black-box tests of the real `nsqd` binary over TCP (one test binary).
//! Each module lists what it covers; all servers bind 127.0.0.1 port 0.

mod harness;

/// Real client libraries: tokio-nsq, pynsq, nsqjs.
mod clients;
/// With the real nsqlookupd: registration, channel pre-creation, restarts,
/// run-time peer changes, and a two-lookupd, three-nsqd cluster.
mod cluster;
/// Dead letters: --max-attempts, /channel/config, moves, redrive, crashes;
/// and that the defaults show nothing of them.
mod deadletters;
/// Daemons started with nothing but their addresses, in an empty working
/// directory: publish, consume, restart, read back.
mod defaults;
/// SUB/RDY/FIN/REQ/TOUCH/CLS, timeouts, redelivery, fan-out, ephemeral.
mod delivery;
/// Disk queues: Go's data directory and format, overflow, empty/delete,
/// corrupt files, crashes, a full disk, durable deferrals.
mod disk;
/// Draining: /drain, SIGUSR1, refusals, lookupd, the end of a drain.
mod drain;
/// Hosts where the daemons cannot run (io_uring denied by seccomp, too
/// little locked memory): one FATAL line and exit 1, never a hang.
mod environment;
/// TLS, snappy, deflate, --tls-required, HTTPS and AUTH.
mod features;
/// The HTTP API: every endpoint, /stats shape and filters, router details.
mod http;
/// The data directory: lock and nsqd.dat across restarts.
mod persistence;
/// Magic, IDENTIFY, command and body errors, exact texts.
mod protocol;
/// Several shards: cross-shard publish, SUB handoff, ordering, startup and shutdown.
mod shards;
/// Seeded randomized load, garbage input, connection and ephemeral churn.
mod stress;
