//! Which addresses the proxy may connect to: every address a target resolves to is classified
//! here, in the connector, after DNS and before the socket is opened, so that neither a numeric
//! spelling nor DNS rebinding can reach a private network.
//!
//! Refused unless the operator allows private networks: loopback, private (RFC 1918, ULA,
//! site-local), link-local (where cloud metadata lives, `169.254.169.254`), shared address space
//! (CGNAT), unspecified, multicast and broadcast, documentation and benchmarking ranges, and every
//! other reserved range. IPv6 forms that carry an IPv4 address (IPv4-mapped and -compatible,
//! 6to4, NAT64) are judged by the address they carry; Teredo, whose IPv4 address is obfuscated,
//! is refused outright.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Range {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918), `fc00::/7` (unique local),
    /// `fec0::/10` (site-local), `64:ff9b:1::/48` (local-use NAT64).
    Private,
    /// `169.254.0.0/16`, `fe80::/10`: the link, and cloud metadata services.
    LinkLocal,
    /// `100.64.0.0/10` (RFC 6598): carrier-grade NAT.
    SharedAddressSpace,
    /// `0.0.0.0/8`, `::`: "this host", which connects to the local machine.
    Unspecified,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`.
    Documentation,
    /// `198.18.0.0/15`.
    Benchmarking,
    /// Every other special-purpose range: `192.0.0.0/24`, `192.88.99.0/24`, `240.0.0.0/4`,
    /// IPv6 outside `2000::/3`, Teredo (`2001::/32`), ORCHID, discard-only.
    Reserved,
}

impl Range {
    /// A stable kebab-case code.
    pub fn code(self) -> &'static str {
        match self {
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::LinkLocal => "link-local",
            Range::SharedAddressSpace => "shared-address-space",
            Range::Unspecified => "unspecified",
            Range::Multicast => "multicast",
            Range::Broadcast => "broadcast",
            Range::Documentation => "documentation",
            Range::Benchmarking => "benchmarking",
            Range::Reserved => "reserved",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Range::Loopback => "a loopback address",
            Range::Private => "a private-network address",
            Range::LinkLocal => "a link-local address (where cloud metadata services live)",
            Range::SharedAddressSpace => "a carrier-grade NAT (shared address space) address",
            Range::Unspecified => "the unspecified address (this host)",
            Range::Multicast => "a multicast address",
            Range::Broadcast => "the broadcast address",
            Range::Documentation => "a documentation address",
            Range::Benchmarking => "a benchmarking address",
            Range::Reserved => "a reserved address",
        }
    }
}

/// An address the proxy will not connect to, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The address as resolved.
    pub addr: IpAddr,
    /// The range that refuses it.
    pub range: Range,
    /// The IPv4 address an IPv6 address carries, when that is what was judged.
    pub carried: Option<Ipv4Addr>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.carried {
            Some(v4) => write!(f, "{} carries {v4}, {}", self.addr, self.range.describe()),
            None => write!(f, "{} is {}", self.addr, self.range.describe()),
        }
    }
}

/// Whether the proxy may connect to `addr`: `Ok` for a public unicast address.
pub fn check(addr: IpAddr) -> Result<(), Refusal> {
    let refuse = |range, carried| Refusal {
        addr,
        range,
        carried,
    };
    match addr {
        IpAddr::V4(v4) => match classify_v4(v4) {
            Some(range) => Err(refuse(range, None)),
            None => Ok(()),
        },
        IpAddr::V6(v6) => match classify_v6(v6) {
            Some(V6::Range(range)) => Err(refuse(range, None)),
            Some(V6::Carries(v4)) => match classify_v4(v4) {
                Some(range) => Err(refuse(range, Some(v4))),
                None => Ok(()),
            },
            None => Ok(()),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Range> {
    let [a, b, c, _] = ip.octets();
    let range = match (a, b, c) {
        (0, _, _) => Range::Unspecified,
        (10, _, _) => Range::Private,
        (100, 64..=127, _) => Range::SharedAddressSpace,
        (127, _, _) => Range::Loopback,
        (169, 254, _) => Range::LinkLocal,
        (172, 16..=31, _) => Range::Private,
        (192, 0, 0) => Range::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Range::Documentation,
        (192, 88, 99) => Range::Reserved,
        (192, 168, _) => Range::Private,
        (198, 18..=19, _) => Range::Benchmarking,
        (224..=239, _, _) => Range::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => Range::Broadcast,
        (240..=255, _, _) => Range::Reserved,
        _ => return None,
    };
    Some(range)
}

enum V6 {
    Range(Range),
    /// Judged by the IPv4 address it carries.
    Carries(Ipv4Addr),
}

fn classify_v6(ip: Ipv6Addr) -> Option<V6> {
    let s = ip.segments();
    let v4_low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip.is_unspecified() {
        return Some(V6::Range(Range::Unspecified));
    }
    if ip.is_loopback() {
        return Some(V6::Range(Range::Loopback));
    }
    let class = match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => V6::Carries(v4_low()),
        // 64:ff9b::/96, well-known NAT64: the last 32 bits are the IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => V6::Carries(v4_low()),
        // 64:ff9b:1::/48, local-use NAT64 (RFC 8215).
        [0x64, 0xff9b, 1, ..] => V6::Range(Range::Private),
        // 2002::/16, 6to4: bits 16..48 are the IPv4 address.
        [0x2002, hi, lo, ..] => V6::Carries(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        // 2001:db8::/32, documentation.
        [0x2001, 0x0db8, ..] => V6::Range(Range::Documentation),
        // 2001::/32 Teredo (the IPv4 address is obfuscated), 2001:10::/28 and 2001:20::/28
        // ORCHID, and the rest of 2001::/23's IETF protocol assignments.
        [0x2001, 0x0000..=0x01ff, ..] => V6::Range(Range::Reserved),
        [first, ..] if first & 0xfe00 == 0xfc00 => V6::Range(Range::Private),
        [first, ..] if first & 0xffc0 == 0xfe80 => V6::Range(Range::LinkLocal),
        [first, ..] if first & 0xffc0 == 0xfec0 => V6::Range(Range::Private),
        [first, ..] if first & 0xff00 == 0xff00 => V6::Range(Range::Multicast),
        // Global unicast is 2000::/3; everything else is unassigned or special (100::/64
        // discard-only among them).
        [first, ..] if first & 0xe000 != 0x2000 => V6::Range(Range::Reserved),
        _ => return None,
    };
    Some(class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(addr: &str) -> String {
        let ip: IpAddr = addr.parse().expect("an address");
        match check(ip) {
            Ok(()) => "allowed".to_owned(),
            Err(r) => match r.carried {
                Some(v4) => format!("{} via {v4}", r.range.code()),
                None => r.range.code().to_owned(),
            },
        }
    }

    #[test]
    fn ipv4_ranges() {
        for (addr, expected) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("10.0.0.1", "private"),
            ("100.63.255.255", "allowed"),
            ("100.64.0.1", "shared-address-space"),
            ("100.127.255.255", "shared-address-space"),
            ("100.128.0.0", "allowed"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.169.254", "link-local"),
            ("172.15.255.255", "allowed"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("172.32.0.0", "allowed"),
            ("192.0.0.8", "reserved"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "reserved"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.20.0.0", "allowed"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.251", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("8.8.8.8", "allowed"),
            ("93.184.216.34", "allowed"),
            ("1.1.1.1", "allowed"),
        ] {
            assert_eq!(code(addr), expected, "{addr}");
        }
    }

    #[test]
    fn ipv6_ranges_and_the_ipv4_they_carry() {
        for (addr, expected) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback via 127.0.0.1"),
            ("::ffff:7f00:1", "loopback via 127.0.0.1"),
            ("::ffff:169.254.169.254", "link-local via 169.254.169.254"),
            ("::ffff:8.8.8.8", "allowed"),
            ("::10.0.0.1", "private via 10.0.0.1"),
            ("64:ff9b::7f00:1", "loopback via 127.0.0.1"),
            ("64:ff9b::a9fe:a9fe", "link-local via 169.254.169.254"),
            ("64:ff9b::808:808", "allowed"),
            ("64:ff9b:1::1", "private"),
            ("2002:7f00:1::1", "loopback via 127.0.0.1"),
            ("2002:c0a8:101::1", "private via 192.168.1.1"),
            ("2002:808:808::1", "allowed"),
            ("2001::1", "reserved"),
            ("2001:10::1", "reserved"),
            ("2001:db8::1", "documentation"),
            ("fc00::1", "private"),
            ("fd12:3456:789a::1", "private"),
            ("fe80::1", "link-local"),
            ("fec0::1", "private"),
            ("ff02::1", "multicast"),
            ("100::1", "reserved"),
            ("4000::1", "reserved"),
            ("2606:4700:4700::1111", "allowed"),
            ("2a00:1450:4001::200e", "allowed"),
        ] {
            assert_eq!(code(addr), expected, "{addr}");
        }
    }

    #[test]
    fn refusals_say_what_and_why() {
        let refusal = check("::ffff:169.254.169.254".parse().expect("v6")).expect_err("refused");
        assert_eq!(
            refusal.to_string(),
            "::ffff:169.254.169.254 carries 169.254.169.254, a link-local address (where cloud \
             metadata services live)"
        );
        let refusal = check("127.0.0.1".parse().expect("v4")).expect_err("refused");
        assert_eq!(refusal.to_string(), "127.0.0.1 is a loopback address");
    }

    #[test]
    fn numeric_spellings_are_the_address_they_spell() {
        // The proxy reads targets as browsers do (WHATWG URL): every spelling of 127.0.0.1 is
        // 127.0.0.1 by the time it reaches `check`.
        for spelled in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://0x7f000001/",
            "http://127.0.0.1./",
        ] {
            let url = url::Url::parse(spelled).expect("a URL");
            let Some(url::Host::Ipv4(ip)) = url.host() else {
                panic!("{spelled} is an IPv4 address");
            };
            assert_eq!(ip, Ipv4Addr::LOCALHOST, "{spelled}");
            assert_eq!(
                check(IpAddr::V4(ip)).map_err(|r| r.range),
                Err(Range::Loopback)
            );
        }
        let url = url::Url::parse("http://[::ffff:7f00:1]/").expect("a URL");
        let Some(url::Host::Ipv6(ip)) = url.host() else {
            panic!("an IPv6 host");
        };
        assert_eq!(
            check(IpAddr::V6(ip)).map_err(|r| r.range),
            Err(Range::Loopback)
        );
    }
}
