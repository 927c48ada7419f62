//! The client's address: the TCP peer, or — when the peer is a reverse proxy this server
//! trusts (`trusted_proxies`) — the address that proxy forwarded in `X-Forwarded-For`.
//! A client that is not a trusted proxy cannot choose its address with the header. Pure:
//! the request's parts come in, an address goes out.

use std::net::IpAddr;
use std::str::FromStr;

/// Entries of `X-Forwarded-For` looked at, from the right, before giving up on the header.
pub const MAX_FORWARDED_HOPS: usize = 32;
/// Entries of a `trusted_proxies` list accepted.
pub const MAX_TRUSTED_PROXIES: usize = 256;

/// The addresses whose `X-Forwarded-For` is believed: single addresses and CIDR ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

/// An address range `network/prefix` (a single address has the full prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

/// A `trusted_proxies` entry that is neither an IP address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTrustedProxies(String);

/// The address of the client: `peer` itself unless it is a trusted proxy; then the
/// rightmost `X-Forwarded-For` address (`forwarded_for` holds the header's values in order)
/// that is not itself a trusted proxy, each proxy having appended the address it saw. A
/// malformed entry, an empty header or one longer than `MAX_FORWARDED_HOPS` gives the peer.
/// When every entry is a trusted proxy, the leftmost is the client.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut entries = forwarded_for.iter().rev().flat_map(|v| v.rsplit(','));
    let mut leftmost = None;
    for _ in 0..MAX_FORWARDED_HOPS {
        let Some(entry) = entries.next() else {
            return leftmost.unwrap_or(peer);
        };
        let Ok(address) = entry.trim().parse::<IpAddr>().map(|a| a.to_canonical()) else {
            return peer;
        };
        if !trusted.contains(address) {
            return address;
        }
        leftmost = Some(address);
    }
    peer
}

impl TrustedProxies {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|range| range.contains(address))
    }
}

impl FromStr for TrustedProxies {
    type Err = BadTrustedProxies;

    /// A comma-separated list of IP addresses and CIDR ranges (`10.0.0.0/8, ::1`); empty
    /// trusts nobody.
    fn from_str(raw: &str) -> Result<TrustedProxies, BadTrustedProxies> {
        let ranges = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(IpRange::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if ranges.len() > MAX_TRUSTED_PROXIES {
            return Err(BadTrustedProxies(format!(
                "at most {MAX_TRUSTED_PROXIES} addresses and ranges, got {}",
                ranges.len()
            )));
        }
        Ok(TrustedProxies(ranges))
    }
}

impl IpRange {
    fn parse(entry: &str) -> Result<IpRange, BadTrustedProxies> {
        let bad = || BadTrustedProxies(format!("{entry:?} is neither an IP address nor a CIDR range"));
        let (address, prefix) = match entry.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (entry, None),
        };
        let network = address.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
        let width = bits(network);
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= width).ok_or_else(bad)?,
            None => width,
        };
        Ok(IpRange { network, prefix })
    }

    fn contains(self, address: IpAddr) -> bool {
        let mask = |width: u8| -> u128 {
            if self.prefix == 0 {
                0
            } else {
                (u128::MAX << (width - self.prefix)) & (u128::MAX >> (128 - width))
            }
        };
        match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = mask(32);
                u128::from(u32::from(n)) & m == u128::from(u32::from(a)) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = mask(128);
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

fn bits(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn trusted(list: &str) -> TrustedProxies {
        list.parse().expect("a valid list")
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(client_address(ip("10.0.0.5"), &["203.0.113.7"], &none), ip("10.0.0.5"));
    }

    #[test]
    fn a_client_that_is_not_a_trusted_proxy_cannot_choose_its_address() {
        let proxies = trusted("127.0.0.1");
        assert_eq!(
            client_address(ip("198.51.100.9"), &["203.0.113.7"], &proxies),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let proxies = trusted("127.0.0.1, 10.0.0.0/8");
        // The client forged the first entry; the proxies appended the rest.
        let header = ["1.2.3.4, 203.0.113.7, 10.1.2.3"];
        assert_eq!(client_address(ip("127.0.0.1"), &header, &proxies), ip("203.0.113.7"));
        // Several header lines read as one list, in order.
        let lines = ["1.2.3.4, 203.0.113.7", "10.1.2.3"];
        assert_eq!(client_address(ip("127.0.0.1"), &lines, &proxies), ip("203.0.113.7"));
        // Only proxies: the furthest one is the client.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["10.9.9.9, 10.1.1.1"], &proxies),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn a_malformed_missing_or_endless_header_gives_the_peer() {
        let proxies = trusted("127.0.0.1");
        let peer = ip("127.0.0.1");
        assert_eq!(client_address(peer, &["203.0.113.7, not-an-ip"], &proxies), peer);
        assert_eq!(client_address(peer, &["203.0.113.7:443"], &proxies), peer);
        assert_eq!(client_address(peer, &[], &proxies), peer);
        assert_eq!(client_address(peer, &[""], &proxies), peer);
        let endless = vec!["127.0.0.1"; MAX_FORWARDED_HOPS + 1].join(",");
        assert_eq!(
            client_address(peer, &[&format!("203.0.113.7,{endless}")], &proxies),
            peer
        );
    }

    #[test]
    fn ipv6_and_ipv4_mapped_addresses_match_their_ranges() {
        let proxies = trusted("::1, 2001:db8::/32, 192.168.0.0/16");
        assert_eq!(
            client_address(ip("::ffff:192.168.4.4"), &["2001:db9::1"], &proxies),
            ip("2001:db9::1")
        );
        assert_eq!(
            client_address(ip("::1"), &["::ffff:203.0.113.7"], &proxies),
            ip("203.0.113.7")
        );
        assert!(proxies.contains(ip("2001:db8:ffff::1")));
        assert!(!proxies.contains(ip("2001:db9::1")));
        assert!(!proxies.contains(ip("192.169.0.1")));
        assert!(trusted("0.0.0.0/0").contains(ip("8.8.8.8")));
    }

    #[test]
    fn a_list_is_ips_and_cidrs_and_nothing_else() {
        assert!(trusted("").is_empty());
        assert!(trusted(" , ").is_empty());
        assert!(!trusted("10.0.0.0/8,::1").is_empty());
        for bad in [
            "nginx",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.1/-1",
            "1.2.3.4:80",
        ] {
            let err = bad.parse::<TrustedProxies>().expect_err(bad).to_string();
            assert!(err.contains(bad), "{err}");
        }
        let many = vec!["10.0.0.1"; MAX_TRUSTED_PROXIES + 1].join(",");
        assert!(many.parse::<TrustedProxies>().is_err());
    }
}
