//! Who may do what: `--admin-user` with `--acl-http-header` for actions,
//! `--allow-config-from-cidr` for `/config` (docs/nsqadmin.md#api).

use std::net::IpAddr;

/// An IP network (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parse `ip/bits` as Go's `net.ParseCIDR`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let err = || format!("invalid CIDR address: {s}");
        let (ip, bits) = s.split_once('/').ok_or_else(err)?;
        let net: IpAddr = ip.parse().map_err(|_| err())?;
        let bits: u8 = bits.parse().map_err(|_| err())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        if bits > max || !bits.to_string().eq(bits_str(s)) {
            return Err(err());
        }
        Ok(Cidr { net, bits })
    }

    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

fn bits_str(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or_default()
}

/// Whether the request's user (the ACL header's value) may perform
/// actions: always when no `--admin-user` is set.
pub fn is_admin(admin_users: &[String], user: Option<&str>) -> bool {
    admin_users.is_empty() || user.is_some_and(|u| admin_users.iter().any(|a| a == u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("127.0.0.1/8").unwrap();
        assert!(c.contains("127.9.9.9".parse().unwrap()));
        assert!(c.contains("::ffff:127.0.0.2".parse().unwrap()));
        assert!(!c.contains("10.0.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        for bad in ["x", "1.2.3.4", "1.2.3.4/33", "1.2.3.4/+8", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn admins() {
        assert!(is_admin(&[], None));
        let users = ["alice".to_string()];
        assert!(is_admin(&users, Some("alice")));
        assert!(!is_admin(&users, Some("bob")));
        assert!(!is_admin(&users, None));
    }
}
