//! The nsqd HTTP route table (docs/http-api.md#endpoints), exact paths as NSQ's
//! router: a known path with another method is 405 (with `Allow`), `OPTIONS` on
//! a known path is 200 with `Allow`, a known path plus a trailing slash
//! redirects (301 for GET, 307 otherwise; docs/http-api.md#conventions),
//! anything else is 404.

/// An nsqd endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// GET /ping.
    Ping,
    /// GET /info.
    Info,
    /// POST /pub.
    Pub,
    /// POST /mpub.
    Mpub,
    /// GET /stats.
    Stats,
    /// GET /metrics (Prometheus; extension).
    Metrics,
    /// POST /topic/<op>.
    Topic(&'static str),
    /// POST /channel/<op>.
    Channel(&'static str),
    /// GET /channel/peek (extension: queued messages, not consumed).
    ChannelPeek,
    /// POST /channel/config (extension: a channel's dead-letter setting).
    ChannelConfig,
    /// POST /channel/redrive (extension: dead letters back to a channel).
    ChannelRedrive,
    /// POST /drain (extension: drain the node, then shut down).
    Drain,
    /// GET /config/:opt.
    ConfigGet(String),
    /// PUT /config/:opt.
    ConfigPut(String),
}

/// What the router decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Routed {
    /// Run this endpoint.
    Endpoint(Route),
    /// 404.
    NotFound,
    /// 405 with these allowed methods.
    MethodNotAllowed(String),
    /// 200 to OPTIONS with these allowed methods.
    Options(String),
    /// A redirect to the path without its trailing slash.
    Redirect {
        /// 301 or 307.
        status: u16,
        /// Where to.
        location: String,
    },
}

const OPS: [&str; 5] = ["create", "delete", "empty", "pause", "unpause"];

/// Methods registered for `path`, or none.
fn methods_for(path: &str) -> &'static [&'static str] {
    match path {
        "/ping" | "/info" | "/stats" | "/metrics" | "/channel/peek" => &["GET"],
        "/pub" | "/mpub" | "/channel/config" | "/channel/redrive" | "/drain" => &["POST"],
        p if p
            .strip_prefix("/topic/")
            .is_some_and(|op| OPS.contains(&op)) =>
        {
            &["POST"]
        }
        p if p
            .strip_prefix("/channel/")
            .is_some_and(|op| OPS.contains(&op)) =>
        {
            &["POST"]
        }
        p if p
            .strip_prefix("/config/")
            .is_some_and(|o| !o.is_empty() && !o.contains('/')) =>
        {
            &["GET", "PUT"]
        }
        _ => &[],
    }
}

fn allow_header(methods: &[&str]) -> String {
    let mut all: Vec<&str> = methods.iter().copied().chain(["OPTIONS"]).collect();
    all.sort_unstable();
    all.join(", ")
}

fn endpoint(method: &str, path: &str) -> Option<Route> {
    let op = |p: &str| OPS.iter().copied().find(|o| *o == p);
    Some(match (method, path) {
        ("GET", "/ping") => Route::Ping,
        ("GET", "/info") => Route::Info,
        ("POST", "/pub") => Route::Pub,
        ("POST", "/mpub") => Route::Mpub,
        ("GET", "/stats") => Route::Stats,
        ("GET", "/metrics") => Route::Metrics,
        ("GET", "/channel/peek") => Route::ChannelPeek,
        ("POST", "/channel/config") => Route::ChannelConfig,
        ("POST", "/channel/redrive") => Route::ChannelRedrive,
        ("POST", "/drain") => Route::Drain,
        ("POST", p) if p.starts_with("/topic/") => Route::Topic(op(&p[7..])?),
        ("POST", p) if p.starts_with("/channel/") => Route::Channel(op(&p[9..])?),
        ("GET", p) if p.starts_with("/config/") => Route::ConfigGet(p[8..].to_string()),
        ("PUT", p) if p.starts_with("/config/") => Route::ConfigPut(p[8..].to_string()),
        _ => return None,
    })
}

/// Route a request.
pub(crate) fn route(method: &str, path: &str) -> Routed {
    let methods = methods_for(path);
    if !methods.is_empty() {
        if let Some(r) = endpoint(method, path) {
            return Routed::Endpoint(r);
        }
        if method == "OPTIONS" {
            return Routed::Options(allow_header(methods));
        }
        return Routed::MethodNotAllowed(allow_header(methods));
    }
    if let Some(stripped) = path.strip_suffix('/') {
        // httprouter redirects only when the same method has the route.
        if !stripped.is_empty() && endpoint(method, stripped).is_some() {
            let status = if method == "GET" { 301 } else { 307 };
            return Routed::Redirect {
                status,
                location: stripped.to_string(),
            };
        }
    }
    Routed::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(route("GET", "/ping"), Routed::Endpoint(Route::Ping));
        assert_eq!(
            route("POST", "/topic/pause"),
            Routed::Endpoint(Route::Topic("pause"))
        );
        assert_eq!(
            route("POST", "/channel/empty"),
            Routed::Endpoint(Route::Channel("empty"))
        );
        assert_eq!(
            route("PUT", "/config/log_level"),
            Routed::Endpoint(Route::ConfigPut("log_level".into()))
        );
        assert_eq!(
            route("GET", "/pub"),
            Routed::MethodNotAllowed("OPTIONS, POST".into())
        );
        assert_eq!(
            route("OPTIONS", "/config/x"),
            Routed::Options("GET, OPTIONS, PUT".into())
        );
        assert_eq!(
            route("GET", "/stats/"),
            Routed::Redirect {
                status: 301,
                location: "/stats".into()
            }
        );
        assert_eq!(
            route("POST", "/pub/"),
            Routed::Redirect {
                status: 307,
                location: "/pub".into()
            }
        );
        assert_eq!(
            route("GET", "/channel/peek"),
            Routed::Endpoint(Route::ChannelPeek)
        );
        assert_eq!(
            route("POST", "/channel/redrive"),
            Routed::Endpoint(Route::ChannelRedrive)
        );
        assert_eq!(route("POST", "/drain"), Routed::Endpoint(Route::Drain));
        assert_eq!(
            route("GET", "/channel/config"),
            Routed::MethodNotAllowed("OPTIONS, POST".into())
        );
        assert_eq!(route("GET", "/topic/frobnicate"), Routed::NotFound);
        assert_eq!(route("GET", "/debug/pprof/"), Routed::NotFound);
        assert_eq!(route("GET", "/"), Routed::NotFound);
    }
}
