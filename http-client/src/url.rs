//! The addresses NSQ's HTTP flags take: `http://host:port/path?query`,
//! `https://…`, or a bare `host:port[/path]` (plain HTTP), as
//! `--lookupd-http-address`, `--auth-http-address` and nsq_to_http's
//! `--get`/`--post` accept them.

use std::fmt;

use crate::error::HttpError;

/// A parsed plain-HTTP URL: where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `host:port`, the port added when missing (80, or 443 in an https
    /// [`Target`]); IPv6 literals stay bracketed.
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// The scheme prefix of `s` if it is `scheme://` in any case.
fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = s.split_once("://")?;
    head.eq_ignore_ascii_case(scheme).then_some(rest)
}

impl Url {
    /// Parse `http://…` or a bare `host:port/…`; any other scheme
    /// (`https://` included: see [`Target`]) is refused.
    pub fn parse(s: &str) -> Result<Url, HttpError> {
        let rest = if let Some(r) = strip_scheme(s, "http") {
            r
        } else if s.contains("://") {
            return Err(HttpError::BadUrl(s.to_string()));
        } else {
            s
        };
        Url::split(s, rest, 80)
    }

    /// `host[:port][/path][?query]` after the scheme.
    fn split(whole: &str, rest: &str, default_port: u16) -> Result<Url, HttpError> {
        let (host, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if host.is_empty() {
            return Err(HttpError::BadUrl(whole.to_string()));
        }
        let host = if host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']')) {
            host.to_string()
        } else {
            format!("{host}:{default_port}")
        };
        Ok(Url { host, path })
    }

    /// The host without its port (IPv6 literals stay bracketed).
    pub fn hostname(&self) -> &str {
        self.host.rsplit_once(':').map_or(&self.host, |(h, _)| h)
    }

    /// The same URL on another port of the same host.
    pub fn with_port(&self, port: u16) -> Url {
        Url {
            host: format!("{}:{port}", self.hostname()),
            path: self.path.clone(),
        }
    }

    /// The `Host` header: `host:port`, without the scheme's default port,
    /// as Go sends it for a URL that names none.
    pub fn host_header(&self, tls: bool) -> &str {
        let default = if tls { ":443" } else { ":80" };
        self.host.strip_suffix(default).unwrap_or(&self.host)
    }
}

/// A URL to call over HTTP or HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https://`.
    pub tls: bool,
    /// Host (port 443 added for https when missing) and path.
    pub url: Url,
}

impl Target {
    /// Parse `http://…`, `https://…` or a bare `host:port/…` (HTTP).
    pub fn parse(s: &str) -> Result<Target, HttpError> {
        match strip_scheme(s, "https") {
            Some(rest) => Ok(Target {
                tls: true,
                url: Url::split(s, rest, 443)?,
            }),
            None => Ok(Target {
                tls: false,
                url: Url::parse(s)?,
            }),
        }
    }

    /// A plain-HTTP target.
    pub fn http(url: Url) -> Target {
        Target { tls: false, url }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme(), self.url.host, self.url.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(u: &Url) -> (&str, &str) {
        (u.host.as_str(), u.path.as_str())
    }

    #[test]
    fn urls() {
        assert_eq!(
            parts(&Url::parse("127.0.0.1:4161").unwrap()),
            ("127.0.0.1:4161", "/")
        );
        let u = Url::parse("http://h:1/lookup?x=y").unwrap();
        assert_eq!(parts(&u), ("h:1", "/lookup?x=y"));
        assert_eq!(parts(&Url::parse("http://h?x").unwrap()), ("h:80", "/?x"));
        assert_eq!(parts(&Url::parse("HTTP://h:2").unwrap()), ("h:2", "/"));
        assert!(Url::parse("https://h:1/").is_err());
        assert!(Url::parse("http:///x").is_err());
        let u = Url::parse("http://[::1]/x").unwrap();
        assert_eq!(
            (u.hostname(), u.with_port(4).host.as_str()),
            ("[::1]", "[::1]:4")
        );
    }

    #[test]
    fn targets() {
        let t = Target::parse("https://h/x?y").unwrap();
        assert_eq!((t.tls, parts(&t.url)), (true, ("h:443", "/x?y")));
        assert_eq!(t.to_string(), "https://h:443/x?y");
        let t = Target::parse("h:1").unwrap();
        assert_eq!((t.tls, t.url.host.as_str()), (false, "h:1"));
        assert!(Target::parse("ftp://h/").is_err());
    }

    #[test]
    fn host_headers_leave_out_default_ports() {
        let host = |s: &str| {
            let t = Target::parse(s).unwrap();
            t.url.host_header(t.tls).to_string()
        };
        assert_eq!(host("http://h/x"), "h");
        assert_eq!(host("https://h/x"), "h");
        assert_eq!(host("http://h:443/x"), "h:443");
        assert_eq!(host("https://h:4443/x"), "h:4443");
        assert_eq!(host("127.0.0.1:4161"), "127.0.0.1:4161");
    }
}
