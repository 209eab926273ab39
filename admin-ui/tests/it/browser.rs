//! End-to-end tests in headless Chromium (issue 8, item 6): every page of
//! nsqadmin against a live cluster with real traffic, driven through
//! chromedriver with a tiny blocking W3C WebDriver client (std TcpStream +
//! serde_json). Screenshots of each page go to
//! `target/nsqadmin-screenshots/`.
//!
//! Without `chromium` or `chromedriver` on PATH each test prints
//! `SKIPPED: <reason>` and passes (`scripts/install-test-deps.sh` installs
//! Debian's `chromium` and `chromium-driver` when it can).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::*;

/// A client_id that runs script if a page ever treats it as markup.
const HOSTILE_ID: &str = "<img src=x onerror=window.__pwned=1>";
/// A hostname that does the same.
const HOSTILE_HOST: &str = "<script>window.__pwned=2</script>evil-host";

/// One Chromium at a time: two loaded cores.
pub(crate) static BROWSER: Mutex<()> = Mutex::new(());

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// An executable on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `target/nsqadmin-screenshots/` (next to the profile directory).
fn screenshot_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_nsqadmin"));
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("nsqadmin-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver plus one session of headless Chromium; both ended on drop.
pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
    shots: PathBuf,
}

impl Browser {
    /// Start chromedriver and a session, or say why the test is skipped.
    fn start() -> Result<Browser, String> {
        let chromium = ["chromium", "chromium-browser"]
            .iter()
            .find_map(|n| which(n))
            .ok_or("chromium not found on PATH")?;
        let chromedriver = which("chromedriver").ok_or("chromedriver not found on PATH")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", chromedriver.display()))?;
        let mut b = Browser {
            driver,
            port,
            session: String::new(),
            shots: screenshot_dir(),
        };
        wait_for("chromedriver /status ready", || {
            b.call("GET", "/status", None)
                .ok()
                .filter(|v| v["ready"] == true)
                .map(|_| ())
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"],
            },
        }}});
        let v = b
            .call("POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("new WebDriver session: {e}"));
        b.session = v["sessionId"].as_str().expect("sessionId").to_string();
        println!("screenshots: {}", b.shots.display());
        Ok(b)
    }

    /// One WebDriver command; `Err` carries the W3C error and message.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        s.write_all(body.as_bytes()).map_err(|e| e.to_string())?;
        // Read the head, then exactly Content-Length bytes (or to EOF).
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        let (head_len, len) = loop {
            let n = s
                .read(&mut buf)
                .map_err(|e| format!("{method} {path}: {e}"))?;
            if n == 0 {
                return Err(format!("{method} {path}: connection closed early"));
            }
            raw.extend_from_slice(&buf[..n]);
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
                let len = head.lines().find_map(|l| {
                    l.strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse::<usize>().ok())
                });
                break (i + 4, len);
            }
        };
        loop {
            if len.is_some_and(|l| raw.len() >= head_len + l) {
                break;
            }
            let n = s
                .read(&mut buf)
                .map_err(|e| format!("{method} {path}: {e}"))?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let end = len.map_or(raw.len(), |l| (head_len + l).min(raw.len()));
        let v: Value = serde_json::from_slice(&raw[head_len..end])
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if let Some(err) = value.get("error").and_then(Value::as_str) {
            return Err(format!("{err}: {}", value["message"]));
        }
        Ok(value)
    }

    fn cmd(&self, method: &str, rest: &str, body: Option<&Value>) -> Result<Value, String> {
        self.call(method, &format!("/session/{}{rest}", self.session), body)
    }

    /// Load a page of nsqadmin and wait for its first data refresh.
    pub(crate) fn open(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })))
            .unwrap_or_else(|e| panic!("navigate {url}: {e}"));
        self.wait_js(
            &format!("{url} to load its data"),
            "return Number((document.getElementById('main')||{dataset:{}}).dataset.loaded||0) > 0",
        );
    }

    /// Run a script in the page.
    pub(crate) fn js(&self, script: &str, args: &[Value]) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
        .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// Poll a script until it returns a truthy value (≤ [`WAIT`]).
    pub(crate) fn wait_js(&self, what: &str, script: &str) -> Value {
        wait_for(what, || {
            let v = self.js(script, &[]);
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            truthy.then_some(v)
        })
    }

    /// The visible text of the first element matching `css` ("" if none).
    pub(crate) fn text(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            &[json!(css)],
        )
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Wait until the text of `css` contains every one of `needles`.
    pub(crate) fn wait_text(&self, css: &str, needles: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let t = self.text(css);
            if needles.iter().all(|n| t.contains(n)) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {css} to show {needles:?}; it shows {t:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The cells' texts of the row of table `testid` whose first cell starts
    /// with `first`, once `pred` holds for them (≤ [`WAIT`]).
    pub(crate) fn wait_row(
        &self,
        testid: &str,
        first: &str,
        pred: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let script =
            "const rows = document.querySelectorAll(`[data-testid='${arguments[0]}'] tbody tr`);
            for (const r of rows) {
              const cells = [...r.cells].map((c) => c.innerText.trim());
              if (cells.length && cells[0].startsWith(arguments[1])) return cells;
            }
            return null;";
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(script, &[json!(testid), json!(first)]);
            let cells: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| c.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            if !cells.is_empty() && pred(&cells) {
                return cells;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for the row {first:?} of {testid}; it shows {cells:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn find(&self, using: &str, value: &str) -> Result<String, String> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(&json!({ "using": using, "value": value })),
        )?;
        v[ELEMENT]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no element id in {v}"))
    }

    /// Find and click (a real WebDriver click), retrying while the element
    /// is missing, hidden, covered or replaced by a refresh (≤ [`WAIT`]).
    fn click(&self, using: &str, value: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let r = self
                .find(using, value)
                .and_then(|id| self.cmd("POST", &format!("/element/{id}/click"), Some(&json!({}))));
            match r {
                Ok(_) => return,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "timed out clicking {using} {value:?}: {e}"
                ),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Click the enabled button labelled `label`.
    fn press(&self, label: &str) {
        self.click(
            "xpath",
            &format!("//main//button[normalize-space()='{label}' and not(@disabled)]"),
        );
    }

    /// Answer the confirm step with Confirm and wait for it to close.
    fn confirm(&self, expect: &str) {
        self.wait_text("#confirm-text", &[expect]);
        self.click("css selector", "#confirm-ok");
        self.wait_js(
            "the confirm dialog to close",
            "return document.getElementById('confirm').hidden",
        );
    }

    /// Type into the input matching `css`.
    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let id = wait_for(&format!("input {css}"), || {
            self.find("css selector", css).ok()
        });
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": text })),
        )
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Save a PNG of the viewport as `<name>.png` in the screenshot folder.
    pub(crate) fn screenshot(&self, name: &str) {
        let v = self
            .cmd("GET", "/screenshot", None)
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let png = nsq_protocol::base64::decode(v.as_str().expect("a screenshot string"))
            .expect("base64 screenshot");
        assert!(
            png.starts_with(b"\x89PNG"),
            "screenshot {name} is not a PNG"
        );
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }

    /// Script run by hostile data, if any ever ran.
    fn assert_not_pwned(&self) {
        assert_eq!(
            self.js("return typeof window.__pwned", &[]),
            json!("undefined"),
            "a hostile client_id or hostname ran as script"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Start the browser or print why the test is skipped.
pub(crate) fn browser_or_skip() -> Option<Browser> {
    match Browser::start() {
        Ok(b) => Some(b),
        Err(reason) => {
            println!("SKIPPED: {reason}");
            None
        }
    }
}

/// A producer on a raw TCP V2 connection.
struct Publisher {
    s: TcpStream,
}

impl Publisher {
    fn connect(nsqd: &Daemon) -> Publisher {
        let mut s = TcpStream::connect(nsqd.tcp.unwrap()).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(b"  V2").unwrap();
        Publisher { s }
    }

    /// PUB `n` messages to `topic`, each answered OK.
    fn publish(&mut self, topic: &str, n: usize) {
        for i in 0..n {
            let body = format!("message {i}");
            let mut cmd = format!("PUB {topic}\n").into_bytes();
            cmd.extend_from_slice(&(body.len() as u32).to_be_bytes());
            cmd.extend_from_slice(body.as_bytes());
            self.s.write_all(&cmd).unwrap();
            loop {
                let mut head = [0u8; 8];
                self.s.read_exact(&mut head).unwrap();
                let size = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
                let kind = u32::from_be_bytes(head[4..].try_into().unwrap());
                let mut data = vec![0u8; size - 4];
                self.s.read_exact(&mut data).unwrap();
                if data == b"_heartbeat_" {
                    self.s.write_all(b"NOP\n").unwrap();
                    continue;
                }
                assert_eq!(
                    (kind, data.as_slice()),
                    (0, b"OK".as_slice()),
                    "PUB {topic}: {}",
                    String::from_utf8_lossy(&data)
                );
                break;
            }
        }
    }
}

/// A consumer that sent this IDENTIFY and subscribed, with RDY 0 (so
/// messages stay queued in the channel).
pub(crate) fn subscribe(nsqd: &Daemon, identify: &Value, topic: &str, channel: &str) -> TcpStream {
    let mut s = TcpStream::connect(nsqd.tcp.unwrap()).unwrap();
    let ident = identify.to_string();
    let mut msg = b"  V2IDENTIFY\n".to_vec();
    msg.extend_from_slice(&(ident.len() as u32).to_be_bytes());
    msg.extend_from_slice(ident.as_bytes());
    msg.extend_from_slice(format!("SUB {topic} {channel}\n").as_bytes());
    s.write_all(&msg).unwrap();
    s
}

/// A consumer with a hostile client_id and hostname.
fn hostile_consumer(nsqd: &Daemon, topic: &str, channel: &str) -> TcpStream {
    let ident = json!({
        "client_id": HOSTILE_ID,
        "hostname": HOSTILE_HOST,
        "user_agent": "browser-test/1.0",
        "feature_negotiation": false,
    });
    subscribe(nsqd, &ident, topic, channel)
}

/// nsqd's stats of one channel (None if it does not exist).
fn channel_stats(nsqd: &Daemon, topic: &str, channel: &str) -> Option<Value> {
    let v = get_json(&nsqd.addr(), "/stats?format=json");
    let v = if v.get("data").is_some() {
        &v["data"]
    } else {
        &v
    };
    v["topics"]
        .as_array()?
        .iter()
        .find(|t| t["topic_name"] == topic)?["channels"]
        .as_array()?
        .iter()
        .find(|c| c["channel_name"] == channel)
        .cloned()
}

/// lookupd + nsqd + nsqadmin; topic `orders` with channels `audit` (the
/// hostile consumer, RDY 0) and `spare`, 7 messages published.
struct Cluster {
    lookupd: Daemon,
    nsqd: Daemon,
    admin: Daemon,
    publisher: Publisher,
    _consumer: TcpStream,
}

impl Cluster {
    fn start() -> Cluster {
        let lookupd = lookupd();
        let nsqd = nsqd(Some(&lookupd));
        let n = nsqd.addr();
        post_ok(&n, "/topic/create?topic=orders", "");
        post_ok(&n, "/channel/create?topic=orders&channel=spare", "");
        let consumer = hostile_consumer(&nsqd, "orders", "audit");
        wait_for("the hostile consumer subscribed", || {
            channel_stats(&nsqd, "orders", "audit")
                .filter(|c| c["clients"].as_array().is_some_and(|a| !a.is_empty()))
        });
        let mut publisher = Publisher::connect(&nsqd);
        publisher.publish("orders", 7);
        let l = lookupd.addr();
        wait_for("lookupd to list the producer of orders", || {
            let r = http(&l, "GET", "/lookup?topic=orders", &[], "");
            (r.status == 200
                && r.json()["producers"]
                    .as_array()
                    .is_some_and(|p| p.len() == 1))
            .then_some(())
        });
        let admin = nsqadmin(&[format!("--lookupd-http-address={l}")]);
        Cluster {
            lookupd,
            nsqd,
            admin,
            publisher,
            _consumer: consumer,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin.addr())
    }

    fn node(&self) -> String {
        format!("127.0.0.1:{}", self.nsqd.http.port())
    }
}

/// The counter's number as shown ("1,234" → 1234).
fn counter_value(b: &Browser) -> Option<u64> {
    b.text("[data-testid=counter]")
        .replace(',', "")
        .trim()
        .parse()
        .ok()
}

#[test]
fn browser_every_page_shows_the_live_cluster() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(b) = browser_or_skip() else { return };
    let mut c = Cluster::start();

    // Topics.
    b.open(&c.url("/topics"));
    let row = b.wait_row("topics", "orders", |r| r.get(2).is_some_and(|m| m == "7"));
    assert_eq!(row[4], "2", "channels of orders: {row:?}");
    b.screenshot("topics");

    // Topic: its nsqd row, its channels with their depths.
    b.open(&c.url("/topics/orders"));
    b.wait_text("[data-testid=topic-name]", &["orders"]);
    // First cell: the nsqd's hostname and address.
    let node = b.wait_row("topic-nodes", "", |r| r.get(3).is_some_and(|m| m == "7"));
    assert!(node[0].contains(&c.node()), "topic node row: {node:?}");
    let audit = b.wait_row("topic-channels", "audit", |r| {
        r.get(1).is_some_and(|d| d == "7")
    });
    assert_eq!(audit[9], "1", "audit has one connection: {audit:?}");
    b.wait_row("topic-channels", "spare", |r| {
        r.get(1).is_some_and(|d| d == "7")
    });
    b.screenshot("topic");

    // Channel: depth, and the client row with the hostile client_id and
    // hostname shown literally, never run.
    b.open(&c.url("/topics/orders/audit"));
    b.wait_text("[data-testid=channel-name]", &["audit"]);
    b.wait_row("channel-nodes", "Total", |r| {
        r.get(1).is_some_and(|d| d == "7")
    });
    let client = b.wait_row("clients", HOSTILE_ID, |_| true);
    assert!(client[0].contains(HOSTILE_HOST), "client row: {client:?}");
    assert!(
        client[1].contains("browser-test/1.0"),
        "client row: {client:?}"
    );
    assert_eq!(client[3], c.node(), "client row: {client:?}");
    assert_eq!(
        b.js(
            "return document.querySelectorAll('main img, main script').length",
            &[]
        ),
        json!(0),
        "hostile markup became elements"
    );
    b.assert_not_pwned();
    b.screenshot("channel");

    // Nodes.
    b.open(&c.url("/nodes"));
    let row = b.wait_row("nodes", "", |r| {
        r.get(6).is_some_and(|t| t.contains("orders"))
    });
    assert_eq!(row[1], "127.0.0.1", "nodes row: {row:?}");
    assert_eq!(row[3], c.nsqd.http.port().to_string(), "nodes row: {row:?}");
    b.screenshot("nodes");

    // Node: totals and its topic/channel rows.
    b.open(&c.url(&format!("/nodes/{}", c.node())));
    b.wait_text("main .totals", &["Topics: 1", "Messages: 7", "Clients: 1"]);
    b.wait_row("node-topics", "orders", |r| {
        r.get(5).is_some_and(|m| m == "7")
    });
    b.wait_text("[data-testid=node-topics]", &["audit", "spare"]);
    b.assert_not_pwned();
    b.screenshot("node");

    // Counter: 7 messages in each of 2 channels, then it moves as we publish.
    b.open(&c.url("/counter"));
    let before = wait_for("the counter to show 14", || {
        counter_value(&b).filter(|&v| v == 14)
    });
    b.screenshot("counter-before");
    c.publisher.publish("orders", 5);
    wait_for("the counter to reach 24", || {
        counter_value(&b).filter(|&v| v == before + 10)
    });
    b.screenshot("counter");

    // Lookup: no inactive topic yet.
    b.open(&c.url("/lookup"));
    b.wait_text("main", &[&c.lookupd.addr(), "No inactive topics."]);
    b.screenshot("lookup");
    b.assert_not_pwned();
}

#[test]
fn browser_actions_change_the_cluster() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(b) = browser_or_skip() else { return };
    let c = Cluster::start();
    let stat = |ch: &str, key: &str| channel_stats(&c.nsqd, "orders", ch).map(|s| s[key].clone());

    // Pause → confirm → nsqd reports the channel paused; the page says so.
    b.open(&c.url("/topics/orders/audit"));
    b.wait_row("channel-nodes", "Total", |r| {
        r.get(1).is_some_and(|d| d == "7")
    });
    b.press("Pause Channel");
    b.confirm("Pause channel audit of topic orders?");
    wait_for("nsqd to report audit paused", || {
        (stat("audit", "paused") == Some(json!(true))).then_some(())
    });
    b.wait_text("main h1", &["paused"]);
    b.screenshot("action-paused");

    // Cancel leaves the channel alone.
    b.press("UnPause Channel");
    b.wait_text("#confirm-text", &["Unpause channel audit"]);
    b.click("css selector", "#confirm-cancel");
    b.wait_js(
        "the confirm dialog to close",
        "return document.getElementById('confirm').hidden",
    );
    assert_eq!(stat("audit", "paused"), Some(json!(true)));

    // Unpause.
    b.press("UnPause Channel");
    b.confirm("Unpause channel audit of topic orders?");
    wait_for("nsqd to report audit unpaused", || {
        (stat("audit", "paused") == Some(json!(false))).then_some(())
    });
    b.wait_text("main h1", &["active"]);

    // Empty: depth 0 in nsqd and on the page.
    b.press("Empty Queue");
    b.confirm("Empty the queue of channel audit?");
    wait_for("nsqd to report audit empty", || {
        (stat("audit", "depth") == Some(json!(0))).then_some(())
    });
    b.wait_row("channel-nodes", "Total", |r| {
        r.get(1).is_some_and(|d| d == "0")
    });
    b.screenshot("action-emptied");

    // Delete channel spare: gone from nsqd; the page goes back to the topic.
    b.open(&c.url("/topics/orders/spare"));
    b.wait_text("[data-testid=channel-name]", &["spare"]);
    b.press("Delete Channel");
    b.confirm("Delete channel spare of topic orders?");
    wait_for("nsqd to drop channel spare", || {
        stat("spare", "depth").is_none().then_some(())
    });
    b.wait_js(
        "the page to go back to the topic",
        "return location.pathname === '/topics/orders'",
    );
    b.wait_text("[data-testid=topic-channels]", &["audit"]);
    assert!(
        !b.text("[data-testid=topic-channels]").contains("spare"),
        "spare still listed"
    );

    // Create topic + channel on the lookup page: lookupd has both, and the
    // page lists them as inactive (no producer yet).
    b.open(&c.url("/lookup"));
    b.type_into("input[name=topic]", "fresh");
    b.type_into("input[name=channel]", "fresh-ch");
    b.press("Create");
    b.confirm("Create topic fresh and channel fresh-ch?");
    let l = c.lookupd.addr();
    wait_for("lookupd to have topic fresh and channel fresh-ch", || {
        let topics = get_json(&l, "/topics");
        let channels = get_json(&l, "/channels?topic=fresh");
        let has = |v: &Value, key: &str, name: &str| {
            let v = if v.get("data").is_some() {
                &v["data"]
            } else {
                v
            };
            v[key]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == name))
        };
        (has(&topics, "topics", "fresh") && has(&channels, "channels", "fresh-ch")).then_some(())
    });
    b.wait_text("[data-testid=inactive]", &["fresh", "fresh-ch"]);
    b.screenshot("action-created");

    // Its topic page: NSQ's API answers 502 (no nsqd to ask); the page
    // says no nsqd has the topic.
    b.open(&c.url("/topics/fresh"));
    b.wait_text("main h1", &["fresh", "no nsqd has it"]);
    b.assert_not_pwned();
}

#[test]
fn browser_dead_letters_redrive_and_drain() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(b) = browser_or_skip() else { return };
    let c = Cluster::start();
    let stat = |key: &str| channel_stats(&c.nsqd, "orders", "spare").map(|s| s[key].clone());

    // No limit yet: the page says so.
    b.open(&c.url("/topics/orders/spare"));
    b.wait_text("[data-testid=dead-letters]", &["No max attempts"]);
    b.type_into("[data-testid=max-attempts-input]", "1");
    b.press("Set Max Attempts");
    b.confirm("Set the max attempts of channel spare to 1?");
    wait_for("nsqd to report max_attempts 1", || {
        (stat("max_attempts") == Some(json!(1))).then_some(())
    });
    b.wait_text(
        "[data-testid=dead-letters]",
        &["Max attempts: 1", "orders.spare.dead"],
    );

    // A consumer requeues all 7: they go to orders.spare.dead.
    let mut consumer = crate::extensions::Raw::subscribe(&c.nsqd, "orders", "spare", 7);
    for _ in 0..7 {
        let id = consumer.next_id();
        consumer.send(&format!("REQ {id} 0\n"));
    }
    b.wait_text("[data-testid=dead-letters]", &["Dead letters: 7"]);
    b.screenshot("dead-letters");

    b.press("Redrive");
    b.confirm("Move every message of the dead-letter topic of channel spare");
    b.wait_text("#notice", &["Redrive: 7 messages moved back into spare"]);
    wait_for("the messages back in spare", || {
        (stat("in_flight_count")
            .and_then(|n| n.as_i64())
            .unwrap_or(0)
            + stat("depth").and_then(|n| n.as_i64()).unwrap_or(0)
            == 7)
            .then_some(())
    });
    drop(consumer);

    // Drain the node: audit's messages (a consumer with RDY 0) hold it
    // draining; the node page says so.
    b.open(&c.url(&format!("/nodes/{}", c.node())));
    b.wait_text("main .totals", &["Topics:"]);
    b.press("Drain node");
    b.confirm(&format!("Drain node {}?", c.node()));
    wait_for("nsqd to report draining", || {
        (get_json(&c.nsqd.addr(), "/stats?format=json")["draining"] == true).then_some(())
    });
    b.wait_text("main h1", &["draining"]);
    b.screenshot("node-draining");
    b.assert_not_pwned();
}
