//! The OS hostname (nsqd's default broadcast address, node ID and `/info`,
//! nsqlookupd's, nsqadmin's `/api` and the tools' `client_id`/`hostname`).

/// The OS hostname, `localhost` if it cannot be read or is empty.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
