//! Hostile and broken clients: malformed input on every listener (each a
//! complete request the daemon must answer or close the connection on),
//! clients that stall in the middle of a request, clients that never read,
//! and connection floods up to the daemon's open-file limit. They use the
//! topic `chaos-hostile`, never a checked one.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::chaos::clients::http;
use crate::chaos::consumer::CHANNELS;
use crate::chaos::ctx::Ctx;
use crate::chaos::rng::Rng;
use crate::chaos::schedule::{Listener, Target};
use crate::chaos::watch::Outcome;

/// The topic hostile clients publish to.
pub const HOSTILE_TOPIC: &str = "chaos-hostile";

fn sized(cmd: &str, body: &[u8]) -> Vec<u8> {
    let mut v = cmd.as_bytes().to_vec();
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn junk(rng: &mut Rng, n: usize, printable: bool) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rng.fill(&mut b);
    if printable {
        for x in &mut b {
            *x = b'A' + (*x % 26);
        }
    }
    b
}

/// A complete malformed V2 exchange (magic included): nsqd must answer
/// with an error or close.
fn v2_probe(rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let t = HOSTILE_TOPIC;
    let mut v = b"  V2".to_vec();
    let name = match rng.below(22) {
        0 => {
            v = b"  V3NOP\n".to_vec();
            "bad magic"
        }
        1 => {
            v = junk(rng, 68, false);
            v[0] = b'X';
            "random bytes"
        }
        2 => {
            v.extend_from_slice(b"X");
            v.extend(junk(rng, 30, true));
            v.push(b'\n');
            "unknown command"
        }
        3 => {
            v.extend_from_slice(format!("PUB {t}\n").as_bytes());
            v.extend_from_slice(&u32::MAX.to_be_bytes());
            "PUB size 2^32-1"
        }
        4 => {
            v.extend(sized(&format!("PUB {t}\n"), b""));
            "PUB empty body"
        }
        5 => {
            v.extend(sized(&format!("MPUB {t}\n"), &0u32.to_be_bytes()));
            "MPUB of 0"
        }
        6 => {
            v.extend(sized(&format!("MPUB {t}\n"), &100_000u32.to_be_bytes()));
            "MPUB count beyond body"
        }
        7 => {
            v.extend(sized("IDENTIFY\n", b"not json!!"));
            "IDENTIFY not JSON"
        }
        8 => {
            v.extend_from_slice(b"IDENTIFY\n");
            v.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
            "IDENTIFY size 2^31-1"
        }
        9 => {
            v.extend_from_slice(b"SUB bad/topic! ch\n");
            "SUB bad topic"
        }
        10 => {
            v.extend_from_slice(b"RDY -5\n");
            "RDY -5"
        }
        11 => {
            v.extend_from_slice(b"FIN 0123456789abcdef\n");
            "FIN before SUB"
        }
        12 => {
            v.extend_from_slice(b"REQ xyz abc\n");
            "REQ garbage"
        }
        13 => {
            v.extend(junk(rng, 100_000, true));
            v.push(b'\n');
            "100 KB line"
        }
        14 => {
            v.extend_from_slice(b"PUB\n");
            "PUB without topic"
        }
        15 => {
            v.extend(sized(&format!("DPUB {t} -1\n"), b"x"));
            "DPUB negative delay"
        }
        16 => {
            v.extend_from_slice(b"\0\0\0\0\0\n");
            "NUL command"
        }
        17 => {
            v.extend(sized(
                "IDENTIFY\n",
                br#"{"heartbeat_interval":-5,"output_buffer_size":999999999,"msg_timeout":-1}"#,
            ));
            "IDENTIFY out of range"
        }
        18 => {
            v.extend_from_slice(b"CLS\n");
            "CLS before SUB"
        }
        19 => {
            v.extend_from_slice(b"TOUCH\n");
            "TOUCH without id"
        }
        20 => {
            v.extend(sized(
                &format!("MPUB {t}\n"),
                &[0, 0, 0, 2, 0, 0, 0, 9, b'x'],
            ));
            "MPUB truncated body"
        }
        _ => {
            v.extend(sized(&format!("PUB {t}\n"), b"fine"));
            v.extend_from_slice(b"SUB nope\n");
            "PUB then bad SUB"
        }
    };
    (v, name)
}

/// A complete malformed HTTP request: the daemon must answer or close.
fn http_probe(rng: &mut Rng, lookupd: bool) -> (Vec<u8>, &'static str) {
    let t = HOSTILE_TOPIC;
    let head = |s: &str| s.replace('\n', "\r\n").into_bytes();
    match rng.below(14) {
        0 => {
            let mut v = junk(rng, 200, false);
            v.extend_from_slice(b"\r\n\r\n");
            (v, "random bytes")
        }
        1 => {
            let mut v = head("GET /ping HTTP/1.1\nHost: x\nX-Big: ");
            v.extend(junk(rng, 100_000, true));
            v.extend_from_slice(b"\r\n\r\n");
            (v, "100 KB header")
        }
        2 => (
            head(&format!(
                "POST /pub?topic={t} HTTP/1.1\nHost: x\nContent-Length: abc\n\n"
            )),
            "bad Content-Length",
        ),
        3 => (
            head(&format!(
                "POST /pub?topic={t} HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\nzz\n\n"
            )),
            "bad chunk",
        ),
        4 => (
            head("GET /no/such/path HTTP/1.1\nHost: x\n\n"),
            "unknown path",
        ),
        5 => (
            head("POST /pub HTTP/1.1\nHost: x\nContent-Length: 0\n\n"),
            "pub without topic",
        ),
        6 => (head("BREW /pot HTCPCP/1.0\n\n"), "unknown method"),
        7 => (
            head("GET /ping HTTP/1.1\nHost: x\nNoColonHere\n\n"),
            "header without colon",
        ),
        8 => (b"\0\0\0\0\r\n\r\n".to_vec(), "NUL request"),
        9 => {
            let mut v = b"GET /".to_vec();
            v.extend(junk(rng, 70_000, true));
            v.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
            (v, "70 KB URL")
        }
        10 => (
            head("GET /ping HTTP/1.1\nHost: x\n\n").repeat(200),
            "200 pipelined pings",
        ),
        11 => (
            head(&format!(
                "POST /mpub?topic={t}&binary=true HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc"
            )),
            "binary mpub garbage",
        ),
        12 if lookupd => (
            head("GET /lookup HTTP/1.1\nHost: x\n\n"),
            "lookup without topic",
        ),
        12 => (
            head("POST /topic/create?topic=bad..name! HTTP/1.1\nHost: x\nContent-Length: 0\n\n"),
            "invalid topic",
        ),
        _ => (head("GET /ping HTTP/9.9\nHost: x\n\n"), "HTTP/9.9"),
    }
}

/// A complete malformed lookupd V1 exchange.
fn v1_probe(rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let mut v = b"  V1".to_vec();
    let name = match rng.below(9) {
        0 => {
            v = b"  V2PING\n".to_vec();
            "V2 magic"
        }
        1 => {
            v.extend_from_slice(b"BOGUS\n");
            "unknown command"
        }
        2 => {
            v.extend_from_slice(format!("REGISTER {HOSTILE_TOPIC}\n").as_bytes());
            "REGISTER before IDENTIFY"
        }
        3 => {
            v.extend_from_slice(b"IDENTIFY\n");
            v.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
            "IDENTIFY size 2^31-1"
        }
        4 => {
            v.extend(sized("IDENTIFY\n", b"junk!"));
            "IDENTIFY not JSON"
        }
        5 => {
            v.extend(sized("IDENTIFY\n", b"{}"));
            "IDENTIFY missing fields"
        }
        6 => {
            v.extend_from_slice(b"UNREGISTER\n");
            "UNREGISTER without args"
        }
        7 => {
            v.extend(junk(rng, 100_000, true));
            v.push(b'\n');
            "100 KB line"
        }
        _ => {
            v.extend_from_slice(b"PING\n");
            "PING"
        }
    };
    (v, name)
}

fn addr_of(ctx: &Ctx, l: Listener) -> Option<SocketAddr> {
    let spec = &ctx.cluster.daemon(l.target())?.spec;
    match l {
        Listener::NsqdTcp(_) | Listener::LookupdTcp => Some(spec.tcp),
        Listener::NsqdHttp(_) | Listener::LookupdHttp => Some(spec.http),
        Listener::NsqdHttps(_) => spec.https,
    }
}

/// Wait for the first byte or the close.
fn await_answer(s: &mut impl Read, sent_ms: u64, ctx: &Ctx) -> Outcome {
    let mut b = [0u8; 256];
    loop {
        return match s.read(&mut b) {
            Ok(0) => Outcome::Closed,
            Ok(_) => Outcome::Answered(ctx.ms().saturating_sub(sent_ms)),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Outcome::TimedOut
            }
            Err(_) => Outcome::Closed,
        };
    }
}

/// Send one probe and report how it was answered.
fn probe(ctx: &Ctx, l: Listener, bytes: &[u8], name: &str, rng: &mut Rng) {
    let Some(addr) = addr_of(ctx, l) else { return };
    let Ok(sock) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return;
    };
    let timeout = ctx.tracker.timeout();
    let _ = sock.set_read_timeout(Some(timeout));
    let _ = sock.set_write_timeout(Some(timeout));
    let what = format!("malformed input to {l}: {name}");
    let sent = ctx.ms();
    // HTTPS: half the probes in the clear (not TLS at all), half through a
    // proper TLS session.
    let outcome = if matches!(l, Listener::NsqdHttps(_)) && rng.chance(0.5) {
        let Ok(conn) = ClientConnection::new(
            ctx.https.clone(),
            ServerName::try_from("127.0.0.1").expect("IP server name"),
        ) else {
            return;
        };
        let mut s = StreamOwned::new(conn, sock);
        match s.write_all(bytes).and_then(|_| s.flush()) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Outcome::TimedOut
            }
            Err(_) => Outcome::Closed,
            Ok(()) => await_answer(&mut s, sent, ctx),
        }
    } else {
        let mut s = sock;
        match s.write_all(bytes) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Outcome::TimedOut
            }
            // Closed while we wrote: an answer too.
            Err(_) => Outcome::Closed,
            Ok(()) => await_answer(&mut s, sent, ctx),
        }
    };
    ctx.tracker.outcome(l.target(), &what, sent, outcome);
}

/// `probes` malformed inputs to `l`.
pub fn malformed(ctx: &Ctx, l: Listener, probes: u32, seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..probes {
        if ctx.stopping() {
            return;
        }
        let (bytes, name) = match l {
            Listener::NsqdTcp(_) => v2_probe(&mut rng),
            Listener::LookupdTcp => v1_probe(&mut rng),
            Listener::NsqdHttp(_) | Listener::NsqdHttps(_) => http_probe(&mut rng, false),
            Listener::LookupdHttp => http_probe(&mut rng, true),
        };
        probe(ctx, l, &bytes, name, &mut rng);
    }
}

/// The first part of a request, never finished.
fn partial(l: Listener, i: u32) -> Vec<u8> {
    let t = HOSTILE_TOPIC;
    match (l, i % 3) {
        (Listener::NsqdTcp(_), 0) => {
            let mut v = format!("  V2PUB {t}\n").into_bytes();
            v.extend_from_slice(&1000u32.to_be_bytes());
            v.extend_from_slice(b"only ten b");
            v
        }
        (Listener::NsqdTcp(_), 1) => b"  V2IDEN".to_vec(),
        (Listener::NsqdTcp(_), _) => b"  V".to_vec(),
        (Listener::LookupdTcp, 0) => {
            let mut v = b"  V1IDENTIFY\n".to_vec();
            v.extend_from_slice(&100u32.to_be_bytes());
            v.extend_from_slice(b"{\"a\"");
            v
        }
        (Listener::LookupdTcp, _) => b"  V1REGI".to_vec(),
        // A TLS record header promising 200 bytes, and 10 of them.
        (Listener::NsqdHttps(_), _) => vec![0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3, 0, 0, 0, 0],
        (_, 0) => format!(
            "POST /pub?topic={t} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly ten b"
        )
        .into_bytes(),
        (_, 1) => b"GET /pi".to_vec(),
        (_, _) => b"GET /ping HTTP/1.1\r\nHost: x\r\n".to_vec(),
    }
}

/// `conns` clients send part of a request to `l` and stall for `hold`.
pub fn stall(ctx: &Ctx, l: Listener, conns: u32, hold: Duration) {
    let Some(addr) = addr_of(ctx, l) else { return };
    let mut held = Vec::new();
    for i in 0..conns {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = s.write_all(&partial(l, i));
            held.push(s);
        }
    }
    ctx.sleep(hold);
}

/// `conns` subscribers with RDY 500 on checked channels and `conns`
/// publishers, none of which ever read, for `hold`.
pub fn never_read(ctx: &Ctx, nsqd: usize, conns: u32, hold: Duration, rng: &mut Rng) {
    let addr = ctx.cluster.nsqds[nsqd].spec.tcp;
    let mut held = Vec::new();
    for _ in 0..conns {
        let topic = rng.pick(&ctx.topics).clone();
        let channel = rng.pick(&CHANNELS);
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            let mut v = b"  V2".to_vec();
            let id = br#"{"client_id":"never-reads","msg_timeout":3000,"heartbeat_interval":1000}"#;
            v.extend(sized("IDENTIFY\n", id));
            v.extend_from_slice(format!("SUB {topic} {channel}\nRDY 500\n").as_bytes());
            let _ = s.write_all(&v);
            held.push(s);
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            let _ = s.set_nonblocking(true);
            let mut one = Vec::new();
            let _ = s.write_all(b"  V2");
            one.extend(sized(&format!("PUB {HOSTILE_TOPIC}\n"), &[b'n'; 1000]));
            let many = one.repeat(64);
            // Until the socket buffers are full (nsqd stopped reading
            // because its answers are not read), at most 32 MiB.
            for _ in 0..512 {
                match s.write(&many) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            held.push(s);
        }
    }
    ctx.sleep(hold);
}

/// Open connections to `target`'s TCP port up to its open-file limit,
/// hold them, close them; then it must answer again.
pub fn flood(ctx: &Arc<Ctx>, target: Target, hold: Duration) {
    let Some(d) = ctx.cluster.daemon(target) else {
        return;
    };
    let addr = d.spec.tcp;
    let want = d.spec.fd_limit + 64;
    d.excuse_begin(&ctx.clock);
    let mut held = Vec::new();
    let mut failures = 0;
    while (held.len() as u64) < want && failures < 3 && !ctx.stopping() {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => failures += 1,
        }
    }
    ctx.clock
        .detail(&format!("{target}: flood holds {} connections", held.len()));
    ctx.sleep(hold);
    drop(held);
    let grace = Duration::from_secs(3);
    d.excuse_end(&ctx.clock, grace);
    ctx.sleep(grace);
    // Serving again: this one is not excused.
    let _ = http(
        ctx,
        target,
        &d.spec.http.to_string(),
        false,
        "GET",
        "/ping",
        b"",
    );
}
