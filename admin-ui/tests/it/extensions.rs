//! nsqadmin's actions for nsqd's extensions (docs/nsqadmin.md#dead-letters,
//! #draining) against a live cluster: setting a channel's max attempts on
//! every nsqd of its topic, the figures on the channel, Redrive summed over
//! the nodes, and draining a node.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};

use crate::harness::*;

/// A raw V2 consumer that reads message frames and answers them.
pub(crate) struct Raw {
    s: TcpStream,
}

impl Raw {
    /// Subscribed to `topic`/`channel` with RDY `rdy`.
    pub(crate) fn subscribe(nsqd: &Daemon, topic: &str, channel: &str, rdy: u64) -> Raw {
        let mut s = TcpStream::connect(nsqd.tcp.unwrap()).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(format!("  V2SUB {topic} {channel}\nRDY {rdy}\n").as_bytes())
            .unwrap();
        let mut raw = Raw { s };
        assert_eq!(raw.frame(), (0, b"OK".to_vec()));
        raw
    }

    /// The next frame: (type, data).
    fn frame(&mut self) -> (u32, Vec<u8>) {
        let mut head = [0u8; 8];
        self.s.read_exact(&mut head).unwrap();
        let size = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
        let kind = u32::from_be_bytes(head[4..].try_into().unwrap());
        let mut data = vec![0; size - 4];
        self.s.read_exact(&mut data).unwrap();
        (kind, data)
    }

    /// The next message's ID (heartbeats answered).
    pub(crate) fn next_id(&mut self) -> String {
        loop {
            match self.frame() {
                (2, data) => return String::from_utf8(data[10..26].to_vec()).unwrap(),
                (0, data) if data == b"_heartbeat_" => self.s.write_all(b"NOP\n").unwrap(),
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Send one command line.
    pub(crate) fn send(&mut self, command: &str) {
        self.s.write_all(command.as_bytes()).unwrap();
    }
}

fn act(a: &str, path: &str, body: Value) -> (u16, Value) {
    let r = http(a, "POST", path, &[], &body.to_string());
    (r.status, r.json())
}

fn nsqd_channel(n: &Daemon, topic: &str, channel: &str) -> Value {
    let s = get_json(
        &n.addr(),
        &format!("/stats?format=json&topic={topic}&channel={channel}"),
    );
    s["topics"][0]["channels"][0].clone()
}

#[test]
fn set_max_attempts_and_redrive_on_every_nsqd_with_the_channel() {
    let lookupd = lookupd();
    let nsqd = [nsqd(Some(&lookupd)), nsqd(Some(&lookupd))];
    // A third nsqd has the topic but not the channel: left alone. It
    // announces to a lookupd of its own, which never hears of the channel
    // (so no channel pre-creation gives it one).
    let lookupd2 = crate::harness::lookupd();
    let other = crate::harness::nsqd(Some(&lookupd2));
    post_ok(&other.addr(), "/topic/create?topic=jobs", "");
    for n in &nsqd {
        post_ok(&n.addr(), "/topic/create?topic=jobs", "");
        post_ok(&n.addr(), "/channel/create?topic=jobs&channel=work", "");
        for i in 0..2 {
            post_ok(&n.addr(), "/pub?topic=jobs", &format!("j{i}"));
        }
    }
    let l = lookupd.addr();
    wait_for("lookupd to list two producers of jobs", || {
        let r = http(&l, "GET", "/lookup?topic=jobs", &[], "");
        (r.status == 200
            && r.json()["producers"]
                .as_array()
                .is_some_and(|p| p.len() == 2))
        .then_some(())
    });
    let l2 = lookupd2.addr();
    wait_for("the other lookupd to list the third", || {
        let r = http(&l2, "GET", "/lookup?topic=jobs", &[], "");
        (r.status == 200).then_some(())
    });
    let admin = nsqadmin(&[
        format!("--lookupd-http-address={l}"),
        format!("--lookupd-http-address={l2}"),
    ]);
    let a = admin.addr();
    let path = "/api/topics/jobs/work";
    // Nothing configured: nsqadmin shows nothing of it either.
    let before = get_json(&a, path);
    assert!(before.get("max_attempts").is_none(), "{before}");

    assert_eq!(
        act(
            &a,
            path,
            json!({"action": "set_max_attempts", "max_attempts": 1})
        ),
        (200, json!({"message": ""}))
    );
    for n in &nsqd {
        let c = nsqd_channel(n, "jobs", "work");
        assert_eq!(
            (&c["max_attempts"], &c["dead_letter_topic"]),
            (&json!(1), &json!("jobs.work.dead"))
        );
    }
    // Each nsqd's consumer requeues its two messages once: four dead letters.
    for n in &nsqd {
        let mut c = Raw::subscribe(n, "jobs", "work", 2);
        for _ in 0..2 {
            let id = c.next_id();
            c.send(&format!("REQ {id} 0\n"));
        }
    }
    let channel = wait_for("four dead letters", || {
        let v = get_json(&a, path);
        (v["dead_letter_count"] == 4).then_some(v)
    });
    assert_eq!(
        (&channel["max_attempts"], &channel["dead_letter_topic"]),
        (&json!(1), &json!("jobs.work.dead"))
    );
    assert_eq!(channel["nodes"][0]["dead_letter_count"], 2, "{channel}");

    assert_eq!(
        act(&a, path, json!({"action": "redrive"})),
        (200, json!({"moved": 4, "message": ""}))
    );
    let untouched = get_json(&other.addr(), "/stats?format=json&topic=jobs");
    assert_eq!(untouched["topics"][0]["channels"], json!([]), "{untouched}");
    for n in &nsqd {
        assert_eq!(nsqd_channel(n, "jobs", "work")["depth"], 2);
    }

    for (body, message) in [
        (
            json!({"action": "set_max_attempts"}),
            "INVALID_MAX_ATTEMPTS",
        ),
        (
            json!({"action": "set_max_attempts", "max_attempts": 70000}),
            "INVALID_MAX_ATTEMPTS",
        ),
        (
            json!({"action": "set_max_attempts", "max_attempts": 3, "dead_letter_topic": "bad name"}),
            "INVALID_DEAD_LETTER_TOPIC",
        ),
    ] {
        assert_eq!(
            act(&a, path, body.clone()),
            (400, json!({ "message": message })),
            "{body}"
        );
    }
    // nsqd's own refusals come back as warnings, as for NSQ's actions.
    let (status, v) = act(
        &a,
        path,
        json!({"action": "set_max_attempts", "max_attempts": 3, "dead_letter_topic": "jobs"}),
    );
    assert_eq!(status, 200);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("DEAD_LETTER_TOPIC_IS_SOURCE"),
        "{v}"
    );
}

#[test]
fn drain_a_node() {
    let lookupd = lookupd();
    let mut n = nsqd(Some(&lookupd));
    post_ok(&n.addr(), "/topic/create?topic=t", "");
    post_ok(&n.addr(), "/channel/create?topic=t&channel=c", "");
    post_ok(&n.addr(), "/pub?topic=t", "x");
    let admin = nsqadmin(&[format!("--lookupd-http-address={}", lookupd.addr())]);
    let a = admin.addr();
    let node = format!("127.0.0.1:{}", n.http.port());
    let page = format!("/api/nodes/{node}");
    let v = wait_for("the node in nsqadmin", || try_json(&a, &page));
    assert!(v.get("draining").is_none(), "{v}");
    // One message in flight holds the drain.
    let mut c = Raw::subscribe(&n, "t", "c", 1);
    let id = c.next_id();

    assert_eq!(
        act(&a, &page, json!({"action": "explode"})),
        (400, json!({"message": "INVALID_ACTION"}))
    );
    assert_eq!(
        act(&a, "/api/nodes/127.0.0.1:1", json!({"action": "drain"})),
        (404, json!({"message": "NODE_NOT_FOUND"}))
    );
    assert_eq!(
        act(&a, &page, json!({"action": "drain"})),
        (200, json!({"message": ""}))
    );
    assert_eq!(get_json(&a, &page)["draining"], true);
    c.send(&format!("FIN {id}\n"));
    let status = n.wait_exit();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}
