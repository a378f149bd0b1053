//! Which webhook receivers bankd refuses to call: a webhook URL is chosen by a client app, so
//! without this rule an app could make bankd reach into its own network — a database, a cloud's
//! metadata service (credentials), an admin page on loopback. Checked when a URL is registered
//! and again on the addresses it resolves to at delivery (DNS can change in between).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("a webhook URL must be http or https, not {0}")]
    Scheme(String),
    #[error("a webhook URL must name a host")]
    NoHost,
    #[error("a webhook URL must not carry credentials")]
    Credentials,
    #[error("{0} is a private, loopback, link-local or otherwise internal address")]
    Internal(IpAddr),
    #[error("not a valid URL: {0}")]
    Malformed(String),
    #[error("{0} does not resolve to any address")]
    Unresolved(String),
}

/// Checks a URL a client app registers: its form, and the addresses its host resolves to now
/// (delivery checks them again: DNS can change in between).
pub async fn check_webhook_url(text: &str, allow_private: bool) -> Result<Url, UrlRefused> {
    let url = Url::parse(text).map_err(|e| UrlRefused::Malformed(e.to_string()))?;
    check_url(&url, allow_private)?;
    let host = url.host_str().ok_or(UrlRefused::NoHost)?;
    if !allow_private && host.parse::<IpAddr>().is_err() && !host.starts_with('[') {
        let addresses =
            tokio::net::lookup_host((host, 0)).await.map_err(|_| UrlRefused::Unresolved(host.to_owned()))?;
        for address in addresses {
            check_address(address.ip(), allow_private)?;
        }
    }
    Ok(url)
}

/// Checks a URL's form, and its host when the host is an IP address (a name is checked on the
/// addresses it resolves to, by [`check_address`]).
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), UrlRefused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefused::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused::Credentials);
    }
    let host = url.host_str().ok_or(UrlRefused::NoHost)?;
    // An IPv6 host is written in brackets.
    match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => check_address(ip, allow_private),
        Err(_) => Ok(()),
    }
}

/// Refuses an address of bankd's own networks unless `allow_private` (on while the sandbox is, so
/// a developer's receiver on loopback works).
pub fn check_address(ip: IpAddr, allow_private: bool) -> Result<(), UrlRefused> {
    if allow_private || is_public(ip) { Ok(()) } else { Err(UrlRefused::Internal(ip)) }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        // An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is that IPv4 address.
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, cloud metadata services included
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 (could reach IPv4 internals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Result<(), UrlRefused> {
        check_url(&Url::parse(text).unwrap(), false)
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let internal = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ];
        for text in internal {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(check_address(ip, false), Err(UrlRefused::Internal(ip)), "{text}");
            assert_eq!(check_address(ip, true), Ok(()), "{text} with the sandbox on");
        }
        for text in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(check_address(text.parse().unwrap(), false), Ok(()), "{text}");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_addresses() {
        assert_eq!(url("https://hooks.example.com/bankd?x=1"), Ok(()));
        assert_eq!(url("ftp://hooks.example.com/"), Err(UrlRefused::Scheme("ftp".into())));
        assert_eq!(url("https://user:pw@hooks.example.com/"), Err(UrlRefused::Credentials));
        assert!(matches!(url("http://127.0.0.1:8080/hook"), Err(UrlRefused::Internal(_))));
        assert!(matches!(url("http://[::1]/hook"), Err(UrlRefused::Internal(_))));
        assert!(matches!(url("http://169.254.169.254/latest/meta-data"), Err(UrlRefused::Internal(_))));
        // A name is checked once resolved, at delivery.
        assert_eq!(url("http://localhost.example/hook"), Ok(()));
    }
}
