//! Safe destinations for outbound HTTP (agent callbacks, Slack, alert webhooks).
//!
//! A URL given to Countersign could point at the machine itself or its private network (a
//! database's admin port, a cloud metadata service). So: `https` only (plain `http` only with
//! `COUNTERSIGN_OUTBOUND_ALLOW_HTTP`), the host is resolved and every address it resolves to must
//! be public, and the connection goes to exactly the addresses checked (reqwest's `resolve`, no
//! second lookup a DNS server could answer differently). Redirects are never followed. The check
//! runs when a URL is configured (a clear error) and again before every send (DNS changes).
//! `COUNTERSIGN_OUTBOUND_ALLOW_PRIVATE=true` lifts the address rule, for tests and private setups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::Url;

/// What outbound destinations may be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Loopback, private, link-local, CGNAT and other non-public addresses are allowed.
    pub allow_private: bool,
    /// Plain `http` is allowed (development only: callbacks would travel in clear).
    pub allow_http: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("not a valid URL")]
    Syntax,
    #[error("the URL must use https (plain http only with COUNTERSIGN_OUTBOUND_ALLOW_HTTP=true)")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL must not carry a username or password")]
    Credentials,
    #[error("the host could not be resolved")]
    Unresolved,
    #[error(
        "the host resolves to {0}, a loopback, private, link-local, CGNAT or metadata address \
         (allowed only with COUNTERSIGN_OUTBOUND_ALLOW_PRIVATE=true)"
    )]
    Private(IpAddr),
}

/// A checked destination: the URL, and for a host name the addresses to connect to.
#[derive(Debug, Clone)]
pub struct Destination {
    pub url: Url,
    /// The host name and the checked addresses it resolved to (none for an IP literal).
    pub pinned: Option<(String, Vec<SocketAddr>)>,
}

/// Parses and checks `text` without resolving it: scheme, host, credentials, literal addresses.
pub fn parse(text: &str, policy: DestinationPolicy) -> Result<Url, Refused> {
    let url = Url::parse(text.trim()).map_err(|_| Refused::Syntax)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        _ => return Err(Refused::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    match url.host() {
        None => Err(Refused::NoHost),
        Some(url::Host::Ipv4(ip)) => allowed(IpAddr::V4(ip), policy).map(|()| url.clone()),
        Some(url::Host::Ipv6(ip)) => allowed(IpAddr::V6(ip), policy).map(|()| url.clone()),
        Some(url::Host::Domain(_)) => Ok(url.clone()),
    }
}

/// Parses, checks and resolves `text`: what to connect to, or why not.
pub async fn resolve(text: &str, policy: DestinationPolicy) -> Result<Destination, Refused> {
    let url = parse(text, policy)?;
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(Destination { url, pinned: None });
    };
    let host = host.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| Refused::Unresolved)?.collect();
    if addrs.is_empty() {
        return Err(Refused::Unresolved);
    }
    for addr in &addrs {
        allowed(addr.ip(), policy)?;
    }
    Ok(Destination { url, pinned: Some((host, addrs)) })
}

fn allowed(ip: IpAddr, policy: DestinationPolicy) -> Result<(), Refused> {
    if policy.allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(Refused::Private(ip))
    }
}

/// Whether `ip` is a globally routable unicast address (not loopback, private, link-local —
/// which holds the 169.254.169.254 metadata service —, CGNAT, documentation, multicast, …).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0                                  // "this network"
        || (a == 100 && (64..128).contains(&b))    // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0)          // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))      // benchmarking 198.18.0.0/15
        || a >= 240; // reserved
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address written as IPv6 (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96) is judged as IPv4.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        let [_, _, _, _, _, _, hi, lo] = segments;
        return is_public_v4(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8));
    }
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00       // unique local fc00::/7 (AWS metadata fd00:ec2::254)
        || (segments[0] & 0xffc0) == 0xfe80       // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0       // site-local fec0::/10 (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..6] == [0, 0, 0, 0, 0, 0]; // IPv4-compatible ::a.b.c.d (deprecated)
    !refused
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: DestinationPolicy = DestinationPolicy { allow_private: false, allow_http: false };

    #[test]
    fn private_loopback_link_local_cgnat_and_metadata_addresses_are_refused() {
        for text in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fe80::1]/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[64:ff9b::a00:1]/",
        ] {
            assert!(matches!(parse(text, STRICT), Err(Refused::Private(_))), "{text} must be refused");
        }
    }

    #[test]
    fn public_addresses_and_names_pass_the_syntax_check() {
        for text in ["https://8.8.8.8/hook", "https://[2606:4700:4700::1111]/", "https://hooks.slack.com/services/x"] {
            assert!(parse(text, STRICT).is_ok(), "{text} must pass");
        }
    }

    #[test]
    fn plain_http_needs_the_development_setting() {
        assert_eq!(parse("http://8.8.8.8/", STRICT).err(), Some(Refused::Scheme));
        assert!(parse("http://8.8.8.8/", DestinationPolicy { allow_http: true, ..STRICT }).is_ok());
        assert_eq!(
            parse("ftp://8.8.8.8/", DestinationPolicy { allow_http: true, ..STRICT }).err(),
            Some(Refused::Scheme)
        );
    }

    #[test]
    fn the_allow_private_setting_lets_loopback_through() {
        let open = DestinationPolicy { allow_private: true, allow_http: true };
        assert!(parse("http://127.0.0.1:9000/hook", open).is_ok());
    }

    #[test]
    fn credentials_in_the_url_and_garbage_are_refused() {
        assert_eq!(parse("https://user:pw@example.com/", STRICT).err(), Some(Refused::Credentials));
        assert_eq!(parse("not a url", STRICT).err(), Some(Refused::Syntax));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let refused = resolve("https://localhost/hook", STRICT).await;
        assert!(matches!(refused, Err(Refused::Private(ip)) if ip.is_loopback()), "{refused:?}");
    }
}
