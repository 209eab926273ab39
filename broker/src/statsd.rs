//! statsd push (docs/http-api.md#statsd): every `--statsd-interval` a plain
//! thread gathers `/stats` from every shard (through their inboxes, without
//! stopping them), formats NSQ's metric names, packs whole lines into UDP
//! datagrams of at most `--statsd-udp-packet-size` bytes and spreads them over
//! the interval minus one second (at most 100 ms apart), as nsqd does.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nsq_protocol::api::stats::{ChannelStats, MemoryStats, TopicStats};

use crate::shard::admin::{request_stats, StatsFilter};
use crate::shard::Context;

/// `--statsd-prefix` with `%s` replaced by `<broadcast address>_<port>` (dots
/// and colons made underscores) and a trailing dot ensured.
pub(crate) fn prefix(template: &str, broadcast_address: &str, http_port: u16) -> String {
    if template.is_empty() {
        return String::new();
    }
    let host_key = format!("{broadcast_address}:{http_port}").replace(['.', ':'], "_");
    let mut p = template.replace("%s", &host_key);
    if !p.ends_with('.') {
        p.push('.');
    }
    p
}

fn ephemeral(name: &str) -> bool {
    nsq_protocol::names::is_ephemeral(name)
}

/// The statsd lines for one push: counters are deltas against `last`.
pub(crate) fn lines(
    prefix: &str,
    topics: &[TopicStats],
    last: &[TopicStats],
    memory: Option<&MemoryStats>,
    exclude_ephemeral: bool,
) -> Vec<String> {
    let mut all = Vec::new();
    // A counter is the delta since the previous push; a gauge the value.
    let counter = |base: &str, name: &str, now: u64, before: u64| {
        format!("{base}.{name}:{}|c", now.wrapping_sub(before) as i64)
    };
    let gauge = |base: &str, name: &str, v: i64| format!("{base}.{name}:{v}|g");
    let latencies =
        |all: &mut Vec<String>, base: &str, e2e: &nsq_protocol::api::stats::E2eLatency| {
            for q in e2e.percentiles.iter().flatten() {
                let name = format!("e2e_processing_latency_{:.0}", q.quantile * 100.0);
                all.push(gauge(base, &name, q.value as i64));
            }
        };
    for topic in topics {
        if exclude_ephemeral && ephemeral(&topic.topic_name) {
            continue;
        }
        let t = &topic.topic_name;
        let base = format!("{prefix}topic.{t}");
        let lt = last.iter().find(|l| &l.topic_name == t);
        let count =
            |name, get: fn(&TopicStats) -> u64| counter(&base, name, get(topic), lt.map_or(0, get));
        all.extend([
            count("message_count", |t| t.message_count),
            count("message_bytes", |t| t.message_bytes),
            gauge(&base, "depth", topic.depth),
            gauge(&base, "backend_depth", topic.backend_depth),
        ]);
        latencies(&mut all, &base, &topic.e2e_processing_latency);
        for channel in &topic.channels {
            if exclude_ephemeral && ephemeral(&channel.channel_name) {
                continue;
            }
            let c = &channel.channel_name;
            let base = format!("{prefix}topic.{t}.channel.{c}");
            let lc = lt.and_then(|l| l.channels.iter().find(|lc| &lc.channel_name == c));
            let count = |name, get: fn(&ChannelStats) -> u64| {
                counter(&base, name, get(channel), lc.map_or(0, get))
            };
            all.extend([
                count("message_count", |c| c.message_count),
                gauge(&base, "depth", channel.depth),
                gauge(&base, "backend_depth", channel.backend_depth),
                gauge(&base, "in_flight_count", channel.in_flight_count),
                gauge(&base, "deferred_count", channel.deferred_count),
                count("requeue_count", |c| c.requeue_count),
                count("timeout_count", |c| c.timeout_count),
                gauge(&base, "clients", channel.client_count),
            ]);
            latencies(&mut all, &base, &channel.e2e_processing_latency);
        }
    }
    if let Some(m) = memory {
        let base = format!("{prefix}mem");
        for (name, v) in [
            ("heap_objects", m.heap_objects),
            ("heap_idle_bytes", m.heap_idle_bytes),
            ("heap_in_use_bytes", m.heap_in_use_bytes),
            ("heap_released_bytes", m.heap_released_bytes),
            ("gc_pause_usec_100", m.gc_pause_usec_100),
            ("gc_pause_usec_99", m.gc_pause_usec_99),
            ("gc_pause_usec_95", m.gc_pause_usec_95),
            ("next_gc_bytes", m.next_gc_bytes),
        ] {
            all.push(gauge(&base, name, v as i64));
        }
        all.push(counter(&base, "gc_runs", 0, 0));
    }
    all
}

/// Pack lines (each ending in `\n`) into datagrams of at most `size` bytes,
/// never splitting a line (a longer line travels alone).
pub(crate) fn pack(lines: &[String], size: usize) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    for line in lines {
        if !current.is_empty() && current.len() + line.len() + 1 > size {
            packets.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(line.as_bytes());
        current.push(b'\n');
    }
    if !current.is_empty() {
        packets.push(current);
    }
    packets
}

/// A UDP socket of the statsd address's family, connected to it.
fn statsd_socket(addr: &str) -> std::io::Result<UdpSocket> {
    use std::net::ToSocketAddrs;
    let target = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
    let socket = UdpSocket::bind(if target.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    })?;
    socket.connect(target)?;
    Ok(socket)
}

fn gather(ctx: &Context) -> Vec<TopicStats> {
    let filter = StatsFilter {
        include_clients: false,
        ..StatsFilter::default()
    };
    let waiting = request_stats(&ctx.mesh, &filter, None);
    let mut topics: Vec<TopicStats> = waiting
        .into_iter()
        .filter_map(|rx| rx.recv_timeout(Duration::from_secs(5)).ok())
        .flat_map(|p| p.topics)
        .collect();
    topics.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
    topics
}

/// Start the statsd thread if `--statsd-address` is set.
pub(crate) fn spawn(ctx: Arc<Context>) {
    let f = &ctx.opts.flags;
    if f.statsd_address.is_empty() {
        return;
    }
    let port = if f.broadcast_http_port != 0 {
        f.broadcast_http_port
    } else {
        ctx.http_port
    };
    let prefix = prefix(&f.statsd_prefix, &ctx.broadcast_address, port);
    let spawned = std::thread::Builder::new()
        .name("statsd".into())
        .spawn(move || {
            let f = &ctx.opts.flags;
            let interval = f.statsd_interval.max(Duration::from_millis(10));
            let mut last: Vec<TopicStats> = Vec::new();
            let mut next = Instant::now() + interval;
            loop {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += interval;
                let Ok(socket) = statsd_socket(&f.statsd_address) else {
                    crate::log!(
                        Error,
                        "failed to create UDP socket to statsd({})",
                        f.statsd_address
                    );
                    continue;
                };
                crate::log!(Info, "STATSD: pushing stats to {}", f.statsd_address);
                let topics = gather(&ctx);
                let memory = f.statsd_mem_stats.then(crate::http::handlers::memory_stats);
                let all = lines(
                    &prefix,
                    &topics,
                    &last,
                    memory.as_ref(),
                    f.statsd_exclude_ephemeral,
                );
                last = topics;
                let packets = pack(&all, f.statsd_udp_packet_size.max(1) as usize);
                let spread =
                    interval.saturating_sub(Duration::from_secs(1)) / (packets.len().max(1) as u32);
                for (i, packet) in packets.iter().enumerate() {
                    if i > 0 {
                        std::thread::sleep(spread.min(Duration::from_millis(100)));
                    }
                    let _ = socket.send(packet);
                }
            }
        });
    if spawned.is_err() {
        crate::log!(Error, "cannot start the statsd thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsq_protocol::api::stats::{ChannelStats, E2eLatency};

    #[test]
    fn prefix_like_nsq() {
        assert_eq!(
            prefix("nsq.%s", "host.example.com", 4151),
            "nsq.host_example_com_4151."
        );
        assert_eq!(prefix("custom.", "h", 1), "custom.");
        assert_eq!(prefix("", "h", 1), "");
    }

    fn topic(name: &str, count: u64) -> TopicStats {
        TopicStats {
            topic_name: name.into(),
            channels: vec![ChannelStats {
                channel_name: "c".into(),
                message_count: count,
                depth: 2,
                client_count: 1,
                e2e_processing_latency: E2eLatency {
                    count: 0,
                    percentiles: None,
                },
                ..ChannelStats::default()
            }],
            message_count: count,
            message_bytes: count * 10,
            depth: 3,
            e2e_processing_latency: E2eLatency {
                count: 0,
                percentiles: None,
            },
            ..TopicStats::default()
        }
    }

    #[test]
    fn counters_are_deltas_and_names_are_nsqs() {
        let first = lines("p.", &[topic("t", 5)], &[], None, false);
        assert!(first.contains(&"p.topic.t.message_count:5|c".to_string()));
        assert!(first.contains(&"p.topic.t.message_bytes:50|c".to_string()));
        assert!(first.contains(&"p.topic.t.depth:3|g".to_string()));
        assert!(first.contains(&"p.topic.t.channel.c.depth:2|g".to_string()));
        assert!(first.contains(&"p.topic.t.channel.c.clients:1|g".to_string()));
        let second = lines("p.", &[topic("t", 8)], &[topic("t", 5)], None, false);
        assert!(second.contains(&"p.topic.t.message_count:3|c".to_string()));
        assert!(second.contains(&"p.topic.t.channel.c.message_count:3|c".to_string()));
        let eph = lines("p.", &[topic("t#ephemeral", 1)], &[], None, true);
        assert!(eph.is_empty());
        let mem = lines("p.", &[], &[], Some(&MemoryStats::default()), false);
        assert!(mem.contains(&"p.mem.heap_objects:0|g".to_string()));
        assert!(mem.contains(&"p.mem.gc_runs:0|c".to_string()));
    }

    #[test]
    fn packets_keep_whole_lines_within_the_size() {
        let lines: Vec<String> = (0..50)
            .map(|i| format!("nsq.topic.t{i}.depth:{i}|g"))
            .collect();
        let packets = pack(&lines, 100);
        assert!(packets.iter().all(|p| p.len() <= 100 && p.ends_with(b"\n")));
        let joined: Vec<u8> = packets.concat();
        let expect: String = lines.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(joined, expect.into_bytes());
    }
}
