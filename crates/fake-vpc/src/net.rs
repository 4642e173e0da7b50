//! IPv4 prefixes and MAC addresses, parsed once at the edge.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 prefix such as `198.18.1.0/24` (host bits must be zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// The netmask as an integer.
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The netmask in dotted form, e.g. `255.255.255.0`.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    /// Whether `ip` lies inside this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    /// Whether `other` lies wholly inside this prefix.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    /// Whether the two prefixes share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The broadcast (last) address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// The gateway the VPC puts on every subnet: the first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(1))
    }

    /// Addresses a VPC keeps for itself: the network address, the gateway and the broadcast
    /// address. They can be neither primary nor secondary IPs.
    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        ip == self.network || ip == self.gateway() || ip == self.broadcast()
    }

    /// Every assignable host address, in ascending order.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let first = u32::from(self.network);
        let last = u32::from(self.broadcast());
        (first..=last)
            .map(Ipv4Addr::from)
            .filter(move |ip| !self.is_reserved(*ip))
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR block (expected a.b.c.d/n)"))?;
        let network: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{prefix:?} is not a prefix length (0..=32)"))?;
        let cidr = Cidr { network, prefix };
        if u32::from(network) & !cidr.mask() != 0 {
            return Err(format!("{s:?} has host bits set"));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A MAC address. Displayed upper-case (as the API reports it); [`Mac::lower`] gives the
/// metadata service's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// `52:54:00:00:01:11`, the form the metadata service lists.
    pub fn lower(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

impl FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!("{s:?} is not a MAC address (six hex octets)"));
        }
        for (slot, part) in out.iter_mut().zip(&parts) {
            if part.len() != 2 {
                return Err(format!("{s:?} is not a MAC address (six hex octets)"));
            }
            *slot = u8::from_str_radix(part, 16)
                .map_err(|_| format!("{s:?} is not a MAC address (six hex octets)"))?;
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cidr_contains_and_reserved() {
        let c: Cidr = "198.18.1.0/24".parse().unwrap();
        assert!(c.contains("198.18.1.100".parse().unwrap()));
        assert!(!c.contains("198.18.2.1".parse().unwrap()));
        assert!(c.is_reserved("198.18.1.1".parse().unwrap()));
        assert!(c.is_reserved("198.18.1.255".parse().unwrap()));
        assert_eq!(c.hosts().next(), Some("198.18.1.2".parse().unwrap()));
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert!("198.18.1.1/24".parse::<Cidr>().is_err());
        assert!("198.18.1.0/33".parse::<Cidr>().is_err());
        let big: Cidr = "198.18.0.0/16".parse().unwrap();
        assert!(big.covers(&c) && !c.covers(&big) && c.overlaps(&big));
    }

    #[test]
    fn mac_forms() {
        let m: Mac = "52:54:00:ab:01:11".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:AB:01:11");
        assert_eq!(m.lower(), "52:54:00:ab:01:11");
        assert!("52:54:00:ab:01".parse::<Mac>().is_err());
        assert!("52:54:00:ab:01:1g".parse::<Mac>().is_err());
    }
}
