//! The nsqlookupd HTTP route table (docs/lookupd.md#http-api), exact paths as
//! NSQ's router (httprouter): a known path with another method is 405 (with
//! `Allow`), `OPTIONS` on a known path is 200 with `Allow`, a known path plus a
//! trailing slash redirects (301 for GET, 307 otherwise), anything else
//! (including `/debug/pprof`, docs/compatibility.md#go-runtime) is 404.

/// An nsqlookupd endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// GET /ping.
    Ping,
    /// GET /info.
    Info,
    /// GET /debug.
    Debug,
    /// GET /lookup.
    Lookup,
    /// GET /topics.
    Topics,
    /// GET /channels.
    Channels,
    /// GET /nodes.
    Nodes,
    /// GET /metrics (Prometheus; extension).
    Metrics,
    /// POST /topic/create.
    TopicCreate,
    /// POST /topic/delete.
    TopicDelete,
    /// POST /topic/tombstone.
    TopicTombstone,
    /// POST /channel/create.
    ChannelCreate,
    /// POST /channel/delete.
    ChannelDelete,
}

/// What the router decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// Run this endpoint.
    Endpoint(Route),
    /// 404.
    NotFound,
    /// 405 with these allowed methods.
    MethodNotAllowed(String),
    /// 200 to OPTIONS with these allowed methods.
    Options(String),
    /// Redirect (status, location path).
    Redirect(u16, String),
}

/// The table: path, method, endpoint.
const TABLE: &[(&str, &str, Route)] = &[
    ("/ping", "GET", Route::Ping),
    ("/info", "GET", Route::Info),
    ("/debug", "GET", Route::Debug),
    ("/lookup", "GET", Route::Lookup),
    ("/topics", "GET", Route::Topics),
    ("/channels", "GET", Route::Channels),
    ("/nodes", "GET", Route::Nodes),
    ("/metrics", "GET", Route::Metrics),
    ("/topic/create", "POST", Route::TopicCreate),
    ("/topic/delete", "POST", Route::TopicDelete),
    ("/topic/tombstone", "POST", Route::TopicTombstone),
    ("/channel/create", "POST", Route::ChannelCreate),
    ("/channel/delete", "POST", Route::ChannelDelete),
];

fn endpoint(method: &str, path: &str) -> Option<Route> {
    TABLE
        .iter()
        .find(|(p, m, _)| *p == path && *m == method)
        .map(|(_, _, r)| *r)
}

fn allow_header(path: &str) -> Option<String> {
    let mut methods: Vec<&str> = TABLE
        .iter()
        .filter(|(p, _, _)| *p == path)
        .map(|(_, m, _)| *m)
        .collect();
    if methods.is_empty() {
        return None;
    }
    methods.push("OPTIONS");
    methods.sort_unstable();
    Some(methods.join(", "))
}

/// Route a request.
pub fn route(method: &str, path: &str) -> Routed {
    if let Some(allow) = allow_header(path) {
        return match endpoint(method, path) {
            Some(r) => Routed::Endpoint(r),
            None if method == "OPTIONS" => Routed::Options(allow),
            None => Routed::MethodNotAllowed(allow),
        };
    }
    if let Some(stripped) = path.strip_suffix('/') {
        if !stripped.is_empty() && endpoint(method, stripped).is_some() {
            let status = if method == "GET" { 301 } else { 307 };
            return Routed::Redirect(status, stripped.to_string());
        }
    }
    Routed::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(route("GET", "/lookup"), Routed::Endpoint(Route::Lookup));
        assert_eq!(
            route("POST", "/topic/tombstone"),
            Routed::Endpoint(Route::TopicTombstone)
        );
        assert_eq!(
            route("POST", "/lookup"),
            Routed::MethodNotAllowed("GET, OPTIONS".into())
        );
        assert_eq!(
            route("GET", "/channel/create"),
            Routed::MethodNotAllowed("OPTIONS, POST".into())
        );
        assert_eq!(
            route("OPTIONS", "/nodes"),
            Routed::Options("GET, OPTIONS".into())
        );
        assert_eq!(
            route("GET", "/topics/"),
            Routed::Redirect(301, "/topics".into())
        );
        assert_eq!(
            route("POST", "/topic/create/"),
            Routed::Redirect(307, "/topic/create".into())
        );
        assert_eq!(route("GET", "/debug/pprof"), Routed::NotFound);
        assert_eq!(route("GET", "/debug/pprof/"), Routed::NotFound);
        assert_eq!(route("GET", "/"), Routed::NotFound);
        assert_eq!(route("GET", "/topic/pause"), Routed::NotFound);
    }
}
