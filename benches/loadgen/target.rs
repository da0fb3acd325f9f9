//! The only addresses the benchmark tools talk to or listen on: loopback,
//! that is 127.0.0.0/8 and [::1]. Host names are rejected rather than
//! resolved, so no name can lead the traffic off this machine.

// The load generator, the floor server and the tests each use a different
// part of this module.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Parses `text` as an IP address and port and checks that it is loopback.
pub fn parse_loopback(text: &str) -> Result<SocketAddr, String> {
    let address: SocketAddr = text.parse().map_err(|_| {
        format!(
            "{text:?} is not an IP address and port, such as 127.0.0.1:9443: host names are not \
             resolved, so that traffic cannot leave this machine"
        )
    })?;

    check_loopback(address)
}

/// Returns `address` when it is in 127.0.0.0/8 or is [::1].
pub fn check_loopback(address: SocketAddr) -> Result<SocketAddr, String> {
    if is_loopback(address.ip()) {
        return Ok(address);
    }
    Err(format!(
        "{address} is not a loopback address: use an address in 127.0.0.0/8 or [::1], because \
         benchmark traffic must stay on this machine"
    ))
}

/// Reports whether `ip` is in 127.0.0.0/8 or is ::1. An IPv4-mapped IPv6
/// address such as ::ffff:127.0.0.1 does not count.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}
