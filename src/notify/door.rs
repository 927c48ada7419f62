//! Outgoing requests are a door too: which URLs a channel may name and which addresses a
//! notification may reach. Cloud metadata addresses are refused whatever the configuration,
//! and the check runs on every resolved address, not on the host string, so a name that
//! resolves to 169.254.169.254 is refused like the literal.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::NotifyError;

/// A receiver's URL: http or https, with a host, no credentials in it. Its `Debug` and
/// `Display` show scheme and host only, since chat webhooks carry their token in the path.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiverUrl(reqwest::Url);

impl ReceiverUrl {
    /// The full URL, for the one place that sends to it.
    pub fn expose(&self) -> &reqwest::Url {
        &self.0
    }

    /// Scheme and host, safe to show and log.
    pub fn redacted(&self) -> String {
        let host = self.0.host_str().unwrap_or("");
        match self.0.port() {
            Some(port) => format!("{}://{}:{}/…", self.0.scheme(), host, port),
            None => format!("{}://{}/…", self.0.scheme(), host),
        }
    }
}

impl FromStr for ReceiverUrl {
    type Err = NotifyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = reqwest::Url::parse(s.trim()).map_err(|e| NotifyError::Invalid(format!("bad URL: {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(NotifyError::Invalid(format!(
                "a receiver URL must be http or https, not {}",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(NotifyError::Invalid("a receiver URL needs a host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(NotifyError::Invalid(
                "a receiver URL must not carry credentials; use the channel's secret or token".into(),
            ));
        }
        Ok(ReceiverUrl(url))
    }
}

impl fmt::Debug for ReceiverUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReceiverUrl({})", self.redacted())
    }
}

impl Serialize for ReceiverUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for ReceiverUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Classes of destination address. Cloud metadata is not among them: it is never reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Everything routable on the internet.
    Public,
    /// RFC 1918, carrier-grade NAT (100.64.0.0/10), IPv6 unique local (fc00::/7).
    Private,
    /// 127.0.0.0/8 and ::1.
    Loopback,
    /// Link-local (169.254.0.0/16 and fe80::/10) — but never the metadata addresses.
    LinkLocal,
}

/// Which classes of address channels may reach: the documented setting
/// (`ERRATA_NOTIFY_ALLOW`, a comma-separated list of `public`, `private`, `loopback`,
/// `link-local`). The default is public, private and loopback, since self-hosted receivers
/// live there. Unspecified, multicast, broadcast, documentation and the cloud metadata
/// addresses (169.254.0.0/16 as a whole, fd00:ec2::254) are refused whatever it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPolicy {
    pub public: bool,
    pub private: bool,
    pub loopback: bool,
    pub link_local: bool,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        AddressPolicy {
            public: true,
            private: true,
            loopback: true,
            link_local: false,
        }
    }
}

impl FromStr for AddressPolicy {
    type Err = NotifyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut policy = AddressPolicy {
            public: false,
            private: false,
            loopback: false,
            link_local: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "public" => policy.public = true,
                "private" => policy.private = true,
                "loopback" => policy.loopback = true,
                "link-local" | "link_local" => policy.link_local = true,
                _ => {
                    return Err(NotifyError::Invalid(format!(
                        "unknown address class {part:?} (public, private, loopback, link-local)"
                    )));
                }
            }
        }
        Ok(policy)
    }
}

/// Why an address may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is a cloud metadata address, never reachable")]
    Metadata(IpAddr),
    #[error("{0} is not a destination address")]
    NotADestination(IpAddr),
    #[error("{0} is in a range this server may not reach ({1:?})")]
    NotAllowed(IpAddr, AddressClass),
    #[error("{0} resolves to no address this server may reach")]
    NoAllowedAddress(String),
    #[error("could not resolve {0}")]
    Unresolved(String),
}

impl AddressPolicy {
    /// Whether `ip` may be reached, and if not, why.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if is_metadata(ip) {
            return Err(Refusal::Metadata(ip));
        }
        let class = classify(ip).ok_or(Refusal::NotADestination(ip))?;
        let allowed = match class {
            AddressClass::Public => self.public,
            AddressClass::Private => self.private,
            AddressClass::Loopback => self.loopback,
            AddressClass::LinkLocal => self.link_local,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refusal::NotAllowed(ip, class))
        }
    }

    /// The URL's host, if it is an IP literal, checked before any connection is tried
    /// (the HTTP client does not resolve literals, so the resolver never sees them).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Refusal> {
        let host = url.host_str().unwrap_or("");
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.check(ip),
            Err(_) => Ok(()),
        }
    }

    /// Keeps the resolved addresses that may be reached; an error when none is left, naming
    /// the first refusal.
    pub fn filter(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refusal> {
        if addrs.is_empty() {
            return Err(Refusal::Unresolved(host.to_string()));
        }
        let mut first_refusal = None;
        let mut kept = Vec::new();
        for addr in addrs {
            match self.check(addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        if kept.is_empty() {
            Err(first_refusal.unwrap_or_else(|| Refusal::NoAllowedAddress(host.to_string())))
        } else {
            Ok(kept)
        }
    }
}

/// IPv4 addresses carried in IPv6 (mapped, compatible, NAT64) checked as the IPv4 they reach.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // NAT64 well-known prefix 64:ff9b::/96 and the deprecated compatible form ::a.b.c.d.
            let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0];
            let compatible = s[0..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1);
            if nat64 || compatible {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            ip
        }
        IpAddr::V4(_) => ip,
    }
}

/// AWS, GCP, Azure, OpenStack and others answer instance metadata (and credentials) on
/// 169.254.169.254; AWS also on fd00:ec2::254. The whole IPv4 link-local range is refused
/// since providers use more of it (169.254.170.2 for ECS task credentials).
fn is_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 169 && v4.octets()[1] == 254,
        IpAddr::V6(v6) => v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
    }
}

/// The class of a destination address; `None` for what is no destination at all.
fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || v4.is_documentation() || a == 0 {
                None
            } else if v4.is_loopback() {
                Some(AddressClass::Loopback)
            } else if v4.is_link_local() {
                Some(AddressClass::LinkLocal)
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) || a >= 240 {
                // 240.0.0.0/4 is reserved; treated as private rather than public.
                Some(AddressClass::Private)
            } else {
                Some(AddressClass::Public)
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_unspecified() || v6.is_multicast() || (first == 0x2001 && v6.segments()[1] == 0x0db8) {
                None
            } else if v6.is_loopback() {
                Some(AddressClass::Loopback)
            } else if (first & 0xffc0) == 0xfe80 {
                Some(AddressClass::LinkLocal)
            } else if (first & 0xfe00) == 0xfc00 {
                Some(AddressClass::Private)
            } else {
                Some(AddressClass::Public)
            }
        }
    }
}

/// Resolves host names with the system resolver, then drops every address the policy
/// refuses: the HTTP client connects only to what this returns.
#[derive(Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<AddressPolicy>) -> GuardedResolver {
        GuardedResolver { policy }
    }

    /// Resolves `host` and keeps the allowed addresses (with `port`).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => addrs.collect(),
            Err(_) => return Err(Refusal::Unresolved(host.to_string())),
        };
        self.policy.filter(host, addrs)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = GuardedResolver::resolve(&this, name.as_str(), 0).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn metadata_is_refused_whatever_the_policy() {
        let everything = AddressPolicy::from_str("public,private,loopback,link-local").unwrap();
        for addr in [
            "169.254.169.254",
            "169.254.170.2",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::169.254.169.254",
        ] {
            assert!(
                matches!(everything.check(ip(addr)), Err(Refusal::Metadata(_))),
                "{addr} must be refused"
            );
        }
        // Other link-local addresses follow the setting.
        assert!(everything.check(ip("fe80::1")).is_ok());
        assert!(AddressPolicy::default().check(ip("fe80::1")).is_err());
    }

    #[test]
    fn default_reaches_public_private_and_loopback() {
        let policy = AddressPolicy::default();
        for addr in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "fd12::1",
            "1.1.1.1",
            "2606:4700::1111",
        ] {
            assert!(policy.check(ip(addr)).is_ok(), "{addr} should be allowed");
        }
        for addr in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::",
            "ff02::1",
            "192.0.2.1",
            "2001:db8::1",
        ] {
            assert!(policy.check(ip(addr)).is_err(), "{addr} is no destination");
        }
    }

    #[test]
    fn public_only_refuses_internal_ranges() {
        let policy = AddressPolicy::from_str("public").unwrap();
        assert!(policy.check(ip("8.8.8.8")).is_ok());
        for addr in ["127.0.0.1", "10.0.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"] {
            assert!(policy.check(ip(addr)).is_err(), "{addr}");
        }
        assert!(AddressPolicy::from_str("public,intranet").is_err());
    }

    #[test]
    fn a_name_resolving_to_metadata_is_refused() {
        let policy = AddressPolicy::default();
        let resolved = vec![SocketAddr::new(ip("169.254.169.254"), 80)];
        assert!(matches!(
            policy.filter("evil.example", resolved),
            Err(Refusal::Metadata(_))
        ));
        // Mixed answers keep only the allowed addresses.
        let mixed = vec![
            SocketAddr::new(ip("169.254.169.254"), 80),
            SocketAddr::new(ip("127.0.0.1"), 80),
        ];
        assert_eq!(
            policy.filter("mixed.example", mixed).unwrap(),
            vec![SocketAddr::new(ip("127.0.0.1"), 80)]
        );
        assert!(matches!(
            policy.filter("none.example", vec![]),
            Err(Refusal::Unresolved(_))
        ));
    }

    #[tokio::test]
    async fn the_resolver_filters_real_lookups() {
        let resolver = GuardedResolver::new(Arc::new(AddressPolicy::from_str("public").unwrap()));
        assert!(resolver.resolve("localhost", 80).await.is_err());
        let resolver = GuardedResolver::new(Arc::new(AddressPolicy::default()));
        let addrs = resolver.resolve("127.0.0.1", 80).await.unwrap();
        assert_eq!(addrs, vec![SocketAddr::new(ip("127.0.0.1"), 80)]);
    }

    #[test]
    fn receiver_urls_are_http_only_and_print_redacted() {
        for bad in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "gopher://x",
            "http://user:pw@example.com/",
            "not a url",
            "http://",
        ] {
            assert!(bad.parse::<ReceiverUrl>().is_err(), "{bad:?} should be refused");
        }
        let url: ReceiverUrl = "https://hooks.slack.com/services/T000/B000/XXXXSECRET".parse().unwrap();
        assert_eq!(format!("{url:?}"), "ReceiverUrl(https://hooks.slack.com/…)");
        assert!(!url.redacted().contains("SECRET"));
        let literal: ReceiverUrl = "http://169.254.169.254/latest/meta-data/".parse().unwrap();
        assert!(AddressPolicy::default().check_url(literal.expose()).is_err());
        let v6: ReceiverUrl = "http://[fd00:ec2::254]/".parse().unwrap();
        assert!(AddressPolicy::default().check_url(v6.expose()).is_err());
    }

    proptest! {
        #[test]
        fn no_policy_reaches_any_ipv4_link_local(c in 0u8..=255, d in 0u8..=255, mapped in any::<bool>()) {
            let everything = AddressPolicy::from_str("public,private,loopback,link-local").unwrap();
            let v4 = Ipv4Addr::new(169, 254, c, d);
            let addr = if mapped { IpAddr::V6(v4.to_ipv6_mapped()) } else { IpAddr::V4(v4) };
            prop_assert!(everything.check(addr).is_err());
        }

        #[test]
        fn mapped_addresses_are_judged_as_ipv4(a in any::<u8>(), b in any::<u8>(), c in any::<u8>(), d in any::<u8>()) {
            let policy = AddressPolicy::from_str("public").unwrap();
            let v4 = Ipv4Addr::new(a, b, c, d);
            prop_assert_eq!(
                policy.check(IpAddr::V4(v4)).is_ok(),
                policy.check(IpAddr::V6(v4.to_ipv6_mapped())).is_ok()
            );
        }
    }
}
