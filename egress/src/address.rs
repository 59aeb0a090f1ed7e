//! Where the proxy may connect: names are resolved here, every resolved address is checked, and
//! the connection goes to the address that was checked (no second lookup that a rebinding DNS
//! server could answer differently).
//!
//! Refused unless the operator lists the exact address in `allow_addresses` (tests and
//! `make dev` list 127.0.0.1): everything that is not a public unicast destination. That is
//! loopback, unspecified, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local
//! (169.254/16, fe80::/10), CGNAT (100.64/10), multicast, broadcast and the reserved 240/4,
//! documentation and benchmarking ranges, the cloud metadata endpoints (169.254.169.254,
//! fd00:ec2::254, named for the log line), and IPv6 forms that carry an IPv4 address
//! (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`),
//! which are judged by the IPv4 address they carry. Teredo (2001::/32) is refused outright: its
//! embedded server and client addresses do not say where packets really go.
//!
//! `allow_addresses` is an exact match on the resolved address: allowing 127.0.0.1 does not
//! allow ::ffff:127.0.0.1 or 127.0.0.2, so an operator's exception stays as narrow as written.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;

use crate::Refusal;

/// Resolves a host name to socket addresses. Production: [`SystemResolver`]; tests: a
/// [`StaticResolver`] (a map), so hostile names can resolve to private addresses on demand.
pub trait Resolver: Send + Sync + 'static {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>>;
}

/// The host's resolver (`getaddrinfo` through tokio's blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// A fixed name -> addresses map; unknown names fail like NXDOMAIN.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver(pub HashMap<String, Vec<IpAddr>>);

impl StaticResolver {
    pub fn with(mut self, host: &str, address: IpAddr) -> Self {
        self.0.entry(host.to_owned()).or_default().push(address);
        self
    }
}

impl Resolver for StaticResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        let found = self.0.get(host).map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        Box::pin(
            async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no such host {host}"))) },
        )
    }
}

/// The operator's exceptions to the blocked ranges.
#[derive(Debug, Clone, Default)]
pub struct AddressFilter {
    allow: HashSet<IpAddr>,
}

impl AddressFilter {
    pub fn new(allow: impl IntoIterator<Item = IpAddr>) -> Self {
        Self { allow: allow.into_iter().collect() }
    }

    /// `Err(range)` naming why `ip` is refused.
    pub fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        if self.allow.contains(&ip) {
            return Ok(());
        }
        match blocked_range(ip) {
            Some(range) => Err(range),
            None => Ok(()),
        }
    }

    /// The first resolved address that may be used, or the refusal naming the first blocked one.
    /// Mixed answers (a public and a private address) use the public one: the connection goes
    /// to the address checked, so the private one is never contacted.
    pub fn pick(&self, host: &str, addresses: &[SocketAddr]) -> Result<SocketAddr, Refusal> {
        let mut first_blocked = None;
        for address in addresses {
            match self.check(address.ip()) {
                Ok(()) => return Ok(*address),
                Err(range) => {
                    first_blocked.get_or_insert((address.ip(), range));
                }
            }
        }
        match first_blocked {
            Some((address, range)) => Err(Refusal::BlockedAddress { host: host.to_owned(), address, range }),
            None => Err(Refusal::Upstream(format!("{host} resolved to no address"))),
        }
    }
}

/// The blocked range `ip` falls in, if any.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([169, 254, 169, 254], 32, "cloud metadata"),
        ([0, 0, 0, 0], 8, "this network / unspecified"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol assignments"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([255, 255, 255, 255], 32, "broadcast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    RANGES.iter().find(|(net, bits, _)| in_v4(ip, *net, *bits)).map(|(_, _, name)| *name)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    // Forms carrying an IPv4 address are judged by it (the low 32 bits, or bits 16..48 for 6to4).
    let low_v4 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if ip == Ipv6Addr::UNSPECIFIED {
        return Some("unspecified");
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Some("loopback");
    }
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        return blocked_v4(low_v4);
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return blocked_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    const RANGES: &[([u16; 8], u32, &str)] = &[
        ([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128, "cloud metadata"),
        ([0, 0, 0, 0, 0xffff, 0, 0, 0], 96, "IPv4-translated"),
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use NAT64"),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo"),
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48, "benchmarking"),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (private)"),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
    ];
    RANGES.iter().find(|(net, bits, _)| in_v6(ip, *net, *bits)).map(|(_, _, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(s: &str) -> Option<&'static str> {
        blocked_range(s.parse().expect("address"))
    }

    #[test]
    fn non_public_ranges_are_blocked() {
        for (ip, range) in [
            ("127.0.0.1", "loopback"),
            ("0.0.0.0", "this network / unspecified"),
            ("10.1.2.3", "private"),
            ("172.31.255.255", "private"),
            ("192.168.0.1", "private"),
            ("169.254.169.254", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("192.0.2.1", "documentation"),
            ("198.19.0.1", "benchmarking"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fc00::1", "unique local (private)"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("::10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("2002:c0a8:0101::1", "private"),
            ("2001::1", "Teredo"),
        ] {
            assert_eq!(blocked(ip), Some(range), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert_eq!(blocked(ip), None, "{ip}");
        }
    }

    #[tokio::test]
    async fn the_system_resolver_resolves_and_the_filter_judges_the_result() {
        let found = SystemResolver.resolve("localhost", 80).await.expect("localhost resolves");
        assert!(!found.is_empty() && found.iter().all(|a| a.port() == 80));
        assert!(matches!(AddressFilter::default().pick("localhost", &found), Err(Refusal::BlockedAddress { .. })));
    }

    #[test]
    fn allow_list_is_exact_and_pick_uses_an_allowed_address() {
        let filter = AddressFilter::new(["127.0.0.1".parse().expect("ip")]);
        assert!(filter.check("127.0.0.1".parse().expect("ip")).is_ok());
        assert!(filter.check("127.0.0.2".parse().expect("ip")).is_err());
        assert!(filter.check("::ffff:127.0.0.1".parse().expect("ip")).is_err());
        let private: SocketAddr = "10.0.0.1:80".parse().expect("addr");
        let public: SocketAddr = "8.8.8.8:80".parse().expect("addr");
        assert_eq!(filter.pick("h", &[private, public]), Ok(public));
        assert!(matches!(filter.pick("h", &[private]), Err(Refusal::BlockedAddress { range: "private", .. })));
    }
}
