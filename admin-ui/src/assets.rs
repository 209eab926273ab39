//! The front end, embedded in the binary (no CDN, no fonts: nsqadmin runs
//! on closed networks): plain JavaScript modules and CSS from `static/`,
//! served under `/static/`, and `index.html` for every page route with the
//! settings the pages need as a JSON block (`<` escaped, so no value can
//! close the script element). A strict Content-Security-Policy forbids
//! inline scripts, so an escaping slip could not run injected code either.

use serde_json::json;

use crate::app::App;
use crate::server::{Answer, Request};

/// `(name, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("style.css", CSS, include_bytes!("../static/style.css")),
    ("app.js", JS, include_bytes!("../static/app.js")),
    ("dom.js", JS, include_bytes!("../static/dom.js")),
    ("api.js", JS, include_bytes!("../static/api.js")),
    ("chart.js", JS, include_bytes!("../static/chart.js")),
    ("table.js", JS, include_bytes!("../static/table.js")),
    (
        "page-topics.js",
        JS,
        include_bytes!("../static/page-topics.js"),
    ),
    (
        "page-topic.js",
        JS,
        include_bytes!("../static/page-topic.js"),
    ),
    (
        "page-channel.js",
        JS,
        include_bytes!("../static/page-channel.js"),
    ),
    (
        "page-nodes.js",
        JS,
        include_bytes!("../static/page-nodes.js"),
    ),
    ("page-node.js", JS, include_bytes!("../static/page-node.js")),
    (
        "page-counter.js",
        JS,
        include_bytes!("../static/page-counter.js"),
    ),
    (
        "page-lookup.js",
        JS,
        include_bytes!("../static/page-lookup.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../static/favicon.svg"),
    ),
];

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const INDEX: &str = include_str!("../static/index.html");

/// The Content-Security-Policy of every page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

fn secure(mut a: Answer) -> Answer {
    a.headers
        .push(("X-Content-Type-Options".into(), "nosniff".into()));
    a.headers.push(("Cache-Control".into(), "no-cache".into()));
    a
}

/// `/static/<name>` (or `/fonts/<name>`): embedded, or from
/// `--dev-static-dir` when set.
pub fn asset(app: &App, name: &str) -> Answer {
    let Some(&(_, ct, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return Answer::error(404, "NOT_FOUND");
    };
    let dev = &app.opts.flags.dev_static_dir;
    let body = if dev.is_empty() {
        bytes.to_vec()
    } else {
        // `name` is one of ASSETS: no path tricks possible.
        std::fs::read(std::path::Path::new(dev).join(name)).unwrap_or_else(|_| bytes.to_vec())
    };
    secure(Answer::plain(ct, body))
}

/// Escape a string for an HTML attribute or text.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script type="application/json">` element.
pub fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `index.html` with this request's settings.
pub fn index(app: &App, req: &Request) -> Answer {
    let f = &app.opts.flags;
    let base = if app.opts.base_path == "/" {
        String::new()
    } else {
        app.opts.base_path.clone()
    };
    let settings = json!({
        "version": crate::options::NSQ_VERSION,
        "build": env!("CARGO_PKG_VERSION"),
        "base_path": base,
        "graphite_url": f.graphite_url,
        "proxy_graphite": f.proxy_graphite,
        "statsd_prefix": f.statsd_prefix,
        "statsd_counter_format": f.statsd_counter_format,
        "statsd_gauge_format": f.statsd_gauge_format,
        "statsd_interval": f.statsd_interval.as_secs(),
        "nsqlookupd": *app.lookupds.read().map(|l| l.clone()).unwrap_or_default(),
        "lookupd_mode": !app.lookupds.read().map(|l| l.is_empty()).unwrap_or(true),
        "is_admin": crate::api::request_is_admin(app, req),
        "user": req.header(&f.acl_http_header).unwrap_or_default(),
    });
    let html = INDEX
        .replace("{{BASE}}", &html_escape(&base))
        .replace("{{SETTINGS}}", &script_json(&settings));
    let mut a = secure(Answer::plain("text/html; charset=utf-8", html.into_bytes()));
    a.headers
        .push(("Content-Security-Policy".into(), CSP.into()));
    a.headers
        .push(("Referrer-Policy".into(), "no-referrer".into()));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The front end never turns data into markup or code: no innerHTML and
    /// friends anywhere, so every string reaches the page through text nodes.
    #[test]
    fn front_end_never_parses_markup() {
        for (name, _, bytes) in ASSETS {
            let text = String::from_utf8_lossy(bytes);
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "createContextualFragment",
            ] {
                let code: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(!code.contains(banned), "{name} uses {banned}");
            }
        }
    }

    #[test]
    fn every_module_import_is_embedded() {
        for (name, _, bytes) in ASSETS {
            let text = String::from_utf8_lossy(bytes);
            for part in text.split("from \"./").skip(1) {
                let target = part.split('"').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == target),
                    "{name} imports {target}, which is not embedded"
                );
            }
            assert!(!bytes.is_empty(), "{name} is empty");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let v = json!({"user": "</script><script>alert(1)</script>"});
        let s = script_json(&v);
        assert!(!s.contains('<') && !s.contains('>'));
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
