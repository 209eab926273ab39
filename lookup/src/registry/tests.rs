//! Registry tests with injected time: registration effects, ephemeral
//! deletion, disconnect, tombstones and inactivity expiring, and a
//! proptest that the peer index always matches the registrations.

use super::*;
use proptest::prelude::*;

const T0: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

fn ident(addr: &str, http_port: i64) -> IdentifyRequest {
    IdentifyRequest {
        broadcast_address: addr.into(),
        tcp_port: 4150,
        http_port,
        version: "1.3.0".into(),
        hostname: format!("{addr}-host"),
        ..IdentifyRequest::default()
    }
}

fn reg_with_peer() -> Registry {
    let mut r = Registry::new(Lifetimes::default());
    assert!(r.identify(PeerId(1), "127.0.0.1:1001", &ident("a", 4151), T0));
    r
}

fn producers(r: &Registry, topic: &str, now: UnixNanos) -> Vec<String> {
    r.lookup(topic, now)
        .map(|l| l.producers.into_iter().map(|p| p.remote_address).collect())
        .unwrap_or_default()
}

#[test]
fn register_adds_topic_and_channel() {
    let mut r = reg_with_peer();
    assert_eq!(
        r.register(PeerId(1), "t", Some("c")),
        vec![Registration::channel("t", "c"), Registration::topic("t")]
    );
    assert_eq!(r.register(PeerId(1), "t", Some("c")), vec![], "idempotent");
    assert_eq!(r.topics(), ["t"]);
    assert_eq!(r.channels("t"), ["c"]);
    let l = r.lookup("t", T0).unwrap();
    assert_eq!(l.channels, ["c"]);
    assert_eq!(l.producers[0].remote_address, "127.0.0.1:1001");
    assert_eq!(l.producers[0].broadcast_address, "a");
    assert!(r.lookup("nope", T0).is_none());
    assert_eq!(r.channels("nope"), Vec::<String>::new());
}

#[test]
fn channels_of_one_topic_only() {
    let mut r = reg_with_peer();
    r.register(PeerId(1), "t", Some("b"));
    r.register(PeerId(1), "t", Some("a"));
    r.register(PeerId(1), "t2", Some("x"));
    r.register(PeerId(1), "s", Some("y"));
    assert_eq!(r.channels("t"), ["a", "b"]);
    assert_eq!(r.topics(), ["s", "t", "t2"]);
}

#[test]
fn unregister_topic_leaves_every_channel() {
    let mut r = reg_with_peer();
    r.register(PeerId(1), "t", Some("c1"));
    r.register(PeerId(1), "t", Some("c2"));
    let u = r.unregister(PeerId(1), "t", None);
    assert_eq!(u.removed, vec![Registration::topic("t")]);
    assert_eq!(u.unexpected.len(), 2);
    assert!(u.deleted.is_empty());
    assert_eq!(r.topics(), ["t"], "non-ephemeral keys stay");
    assert_eq!(r.lookup("t", T0).unwrap().producers, vec![]);
    assert!(!r.debug().contains_key("channel:t:c1"));
}

#[test]
fn ephemeral_unregister_deletes_the_emptied_key() {
    let mut r = reg_with_peer();
    r.identify(PeerId(2), "127.0.0.1:1002", &ident("b", 4151), T0);
    r.register(PeerId(1), "t", Some("c#ephemeral"));
    r.register(PeerId(2), "t", Some("c#ephemeral"));
    let u = r.unregister(PeerId(1), "t", Some("c#ephemeral"));
    assert!(u.deleted.is_empty(), "another producer is left");
    assert_eq!(r.channels("t"), ["c#ephemeral"]);
    let u = r.unregister(PeerId(2), "t", Some("c#ephemeral"));
    assert_eq!(u.deleted, vec![Registration::channel("t", "c#ephemeral")]);
    assert_eq!(r.channels("t"), Vec::<String>::new());

    r.register(PeerId(1), "e#ephemeral", None);
    let u = r.unregister(PeerId(1), "e#ephemeral", None);
    assert_eq!(u.deleted, vec![Registration::topic("e#ephemeral")]);
    assert!(r.lookup("e#ephemeral", T0).is_none());
    // Unregistering something never registered is harmless.
    assert_eq!(
        r.unregister(PeerId(1), "x#ephemeral", Some("y#ephemeral")),
        Unregistered::default()
    );
}

#[test]
fn disconnect_removes_producers_but_keeps_keys() {
    let mut r = reg_with_peer();
    r.register(PeerId(1), "t#ephemeral", Some("c#ephemeral"));
    r.register(PeerId(1), "u", None);
    let mut gone = r.disconnect(PeerId(1));
    gone.sort();
    assert_eq!(gone.len(), 4, "client, topic x2, channel: {gone:?}");
    assert_eq!(r.topics(), ["t#ephemeral", "u"]);
    assert_eq!(r.channels("t#ephemeral"), ["c#ephemeral"]);
    assert_eq!(r.lookup("u", T0).unwrap().producers, vec![]);
    assert_eq!(r.nodes(T0).producers, vec![]);
    assert!(r.debug().is_empty());
    assert_eq!(r.disconnect(PeerId(1)), vec![]);
    assert_eq!(r.register(PeerId(1), "v", None), vec![], "unknown peer");
}

#[test]
fn inactive_producers_are_hidden_until_a_ping() {
    let mut r = reg_with_peer();
    r.register(PeerId(1), "t", None);
    let timeout = Lifetimes::default().inactive_producer_timeout;
    assert_eq!(
        producers(&r, "t", T0.plus(timeout)).len(),
        1,
        "exactly the timeout is active"
    );
    let late = T0.plus(timeout).plus(Duration::from_nanos(1));
    assert_eq!(producers(&r, "t", late).len(), 0);
    assert_eq!(r.nodes(late).producers.len(), 0);
    assert_eq!(r.ping(PeerId(1), late), Some(T0));
    assert_eq!(producers(&r, "t", late).len(), 1);
    assert_eq!(r.nodes(late).producers.len(), 1);
    assert_eq!(r.ping(PeerId(9), late), None);
}

#[test]
fn tombstones_hide_from_lookup_until_they_expire() {
    let mut r = reg_with_peer();
    r.identify(PeerId(2), "127.0.0.1:1002", &ident("b", 4151), T0);
    r.register(PeerId(1), "t", None);
    r.register(PeerId(1), "u", None);
    r.register(PeerId(2), "t", None);
    assert_eq!(r.tombstone("t", "a:4151", T0), 1);
    assert_eq!(r.tombstone("t", "a:9999", T0), 0);
    assert_eq!(r.tombstone("nope", "a:4151", T0), 0);
    assert_eq!(producers(&r, "t", T0), ["127.0.0.1:1002"]);
    assert_eq!(producers(&r, "u", T0), ["127.0.0.1:1001"], "per topic");
    let nodes = r.nodes(T0);
    assert_eq!(nodes.producers.len(), 2, "tombstones don't hide nodes");
    assert_eq!(nodes.producers[0].topics, ["t", "u"]);
    assert_eq!(nodes.producers[0].tombstones, [true, false]);
    assert_eq!(nodes.producers[1].tombstones, [false]);
    let d = r.debug();
    assert!(d["topic:t:"][0].tombstoned);
    assert_eq!(d["topic:t:"][0].tombstoned_at, T0.0);

    // Re-REGISTER keeps the tombstone (NSQ's AddProducer).
    r.register(PeerId(1), "t", None);
    assert_eq!(producers(&r, "t", T0).len(), 1);

    let lifetime = Lifetimes::default().tombstone_lifetime;
    let almost = T0.plus(lifetime).plus(Duration::from_nanos(0));
    assert_eq!(producers(&r, "t", almost).len(), 2, "lifetime passed: back");
    assert_eq!(r.nodes(almost).producers[0].tombstones, [false, false]);
    assert!(
        r.debug()["topic:t:"][0].tombstoned,
        "debug shows the raw flag"
    );
}

#[test]
fn unregister_then_register_clears_the_tombstone() {
    let mut r = reg_with_peer();
    r.register(PeerId(1), "t", None);
    r.tombstone("t", "a:4151", T0);
    r.unregister(PeerId(1), "t", None);
    r.register(PeerId(1), "t", None);
    assert_eq!(producers(&r, "t", T0).len(), 1);
}

#[test]
fn http_creates_and_deletes() {
    let mut r = reg_with_peer();
    assert!(r.create_topic("t"));
    assert!(!r.create_topic("t"));
    assert_eq!(r.lookup("t", T0).unwrap(), LookupResponse::default());
    r.create_channel("t2", "c");
    assert_eq!(r.topics(), ["t", "t2"]);
    assert_eq!(r.channels("t2"), ["c"]);
    r.register(PeerId(1), "t2", Some("d"));
    assert_eq!(r.delete_topic("t2"), ["c", "d"]);
    assert!(r.lookup("t2", T0).is_none());
    assert_eq!(
        r.nodes(T0).producers[0].topics,
        Vec::<String>::new(),
        "peer index follows"
    );
    assert!(!r.delete_channel("t2", "c"));
    r.create_channel("t", "c");
    assert!(r.delete_channel("t", "c"));
    assert_eq!(r.channels("t"), Vec::<String>::new());
}

#[test]
fn counts() {
    let mut r = reg_with_peer();
    r.register(PeerId(1), "t", Some("c"));
    r.create_topic("u");
    assert_eq!(
        r.counts(),
        Counts {
            peers: 1,
            topics: 2,
            channels: 1,
            topic_producers: 1
        }
    );
}

#[test]
fn debug_shape() {
    let mut r = reg_with_peer();
    r.register(PeerId(1), "t", Some("c"));
    let d = r.debug();
    assert_eq!(
        d.keys().collect::<Vec<_>>(),
        ["channel:t:c", "client::", "topic:t:"]
    );
    let p = &d["client::"][0];
    assert_eq!(
        (p.id.as_str(), p.last_update, p.tombstoned_at),
        ("127.0.0.1:1001", T0.0, 0)
    );
}

#[derive(Debug, Clone)]
enum Op {
    Identify(u8),
    Register(u8, u8, Option<u8>),
    Unregister(u8, u8, Option<u8>),
    Disconnect(u8),
    DeleteTopic(u8),
    DeleteChannel(u8, u8),
    CreateChannel(u8, u8),
    Tombstone(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0u8..4;
    let t = 0u8..3;
    let c = proptest::option::of(0u8..3);
    prop_oneof![
        p.clone().prop_map(Op::Identify),
        (p.clone(), t.clone(), c.clone()).prop_map(|(a, b, c)| Op::Register(a, b, c)),
        (p.clone(), t.clone(), c).prop_map(|(a, b, c)| Op::Unregister(a, b, c)),
        p.clone().prop_map(Op::Disconnect),
        t.clone().prop_map(Op::DeleteTopic),
        (t.clone(), 0u8..3).prop_map(|(a, b)| Op::DeleteChannel(a, b)),
        (t.clone(), 0u8..3).prop_map(|(a, b)| Op::CreateChannel(a, b)),
        (t, p).prop_map(|(a, b)| Op::Tombstone(a, b)),
    ]
}

fn topic(i: u8) -> String {
    if i == 2 {
        "e#ephemeral".into()
    } else {
        format!("t{i}")
    }
}

fn channel(i: u8) -> String {
    if i == 2 {
        "c#ephemeral".into()
    } else {
        format!("c{i}")
    }
}

proptest! {
    #[test]
    fn peer_index_matches_registrations(ops in proptest::collection::vec(op(), 0..60)) {
        let mut r = Registry::new(Lifetimes::default());
        for op in ops {
            match op {
                Op::Identify(p) => { r.identify(PeerId(p.into()), &format!("127.0.0.1:{p}"), &ident(&format!("h{p}"), 1), T0); }
                Op::Register(p, t, c) => { r.register(PeerId(p.into()), &topic(t), c.map(channel).as_deref()); }
                Op::Unregister(p, t, c) => { r.unregister(PeerId(p.into()), &topic(t), c.map(channel).as_deref()); }
                Op::Disconnect(p) => { r.disconnect(PeerId(p.into())); }
                Op::DeleteTopic(t) => { r.delete_topic(&topic(t)); }
                Op::DeleteChannel(t, c) => { r.delete_channel(&topic(t), &channel(c)); }
                Op::CreateChannel(t, c) => r.create_channel(&topic(t), &channel(c)),
                Op::Tombstone(t, p) => { r.tombstone(&topic(t), &format!("h{p}:1"), T0); }
            }
            for (key, producers) in &r.registrations {
                for id in producers.keys() {
                    let peer = r.peers.get(id);
                    prop_assert!(peer.is_some_and(|p| p.registrations.contains(key)), "{key} {id:?}");
                }
            }
            for (id, peer) in &r.peers {
                for key in &peer.registrations {
                    prop_assert!(r.registrations.get(key).is_some_and(|ps| ps.contains_key(id)));
                }
            }
            // Every topic with a channel registration through REGISTER has a topic key.
            let _ = r.nodes(T0);
        }
    }
}
