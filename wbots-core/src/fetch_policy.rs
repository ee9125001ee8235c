//! Which URLs the bridge may download files from, and which addresses it may connect to.
//!
//! Attachment URLs arrive in webhooks, so whoever gets a message through chooses them: a
//! customer on Meta's side, an agent (or a forged webhook) on the inbox side. Fetched
//! unchecked, a URL naming an internal service or the cloud metadata endpoint
//! (`169.254.169.254`) has the bridge read it and deliver the body as a file (SSRF). This
//! module is the one policy both adapters apply to every hop of a download. It does no I/O:
//! the adapters connect, and ask it first — for the URL before each request, and for the
//! resolved addresses inside their DNS resolver, so a name cannot resolve one way when
//! checked and another way when connected (DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use url::{Host, Origin, Url};

use crate::{DeliveryError, DeliveryErrorKind};

/// How many redirects one download may follow.
pub const MAX_REDIRECTS: usize = 5;

/// How a permitted URL is to be fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchRoute {
    /// An origin the operator configured (Chatwoot's URL, the Graph API): connected to
    /// wherever it resolves, private networks and loopback included, because the operator
    /// chose it (and tests and the sandbox run their fakes on loopback).
    Trusted,
    /// Any other host: connect only if every address it resolves to is public
    /// ([`check_resolved`]), enforced by the caller's resolver at connect time.
    PublicOnly,
}

/// Why a URL was not fetched: a sentence for the agent or the conversation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchRefusal(String);

impl FetchRefusal {
    fn new(reason: impl Into<String>) -> Self {
        Self(format!("not downloaded: {}", reason.into()))
    }

    /// The reason, as shown to people.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl From<FetchRefusal> for DeliveryError {
    /// Permanent: the same URL is refused on every attempt, so the part fails at once.
    fn from(refusal: FetchRefusal) -> Self {
        DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, refusal.0)
    }
}

/// Where one adapter may download files from.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    scope: String,
    trusted: Vec<Origin>,
    host_suffixes: Vec<String>,
    public_redirects: bool,
}

impl FetchPolicy {
    /// A policy that allows nothing yet. `scope` names what is allowed, for refusals
    /// ("the Chatwoot server", "Meta's media hosts").
    pub fn new(scope: impl Into<String>) -> Self {
        Self {
            scope: scope.into(),
            trusted: Vec::new(),
            host_suffixes: Vec::new(),
            public_redirects: false,
        }
    }

    /// Trusts `url`'s origin (scheme, host and port): URLs there are fetched wherever the
    /// host resolves ([`FetchRoute::Trusted`]).
    pub fn trust_origin(mut self, url: &Url) -> Self {
        let origin = url.origin();
        if origin.is_tuple() && !self.trusted.contains(&origin) {
            self.trusted.push(origin);
        }
        self
    }

    /// Allows hosts equal to or under each domain (`fbcdn.net` allows `scontent.xx.fbcdn.net`),
    /// on public addresses only.
    pub fn allow_domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.host_suffixes.extend(
            domains
                .into_iter()
                .map(|d| d.as_ref().trim_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty()),
        );
        self
    }

    /// Lets a redirect lead to any host on public addresses (the object storage Chatwoot's
    /// ActiveStorage redirects to: S3, GCS, Azure, a CDN in front of them).
    pub fn allow_public_redirects(mut self) -> Self {
        self.public_redirects = true;
        self
    }

    /// Whether the first URL of a download may be fetched, and how.
    pub fn check(&self, url: &Url) -> Result<FetchRoute, FetchRefusal> {
        self.check_hop(url, false)
    }

    /// Where a redirect from `from` leads and how to fetch it; `followed` is how many
    /// redirects this download has already followed.
    pub fn check_redirect(
        &self,
        from: &Url,
        location: &str,
        followed: usize,
    ) -> Result<(Url, FetchRoute), FetchRefusal> {
        if followed >= MAX_REDIRECTS {
            return Err(FetchRefusal::new(format!("more than {MAX_REDIRECTS} redirects")));
        }
        let next = from
            .join(location)
            .map_err(|_| FetchRefusal::new("the server redirected to an invalid URL"))?;
        let route = self.check_hop(&next, true)?;
        Ok((next, route))
    }

    fn check_hop(&self, url: &Url, redirected: bool) -> Result<FetchRoute, FetchRefusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchRefusal::new(format!(
                "only http and https URLs are fetched, not {}:",
                url.scheme()
            )));
        }
        let Some(host) = url.host() else {
            return Err(FetchRefusal::new("the URL has no host"));
        };
        if self.trusted.contains(&url.origin()) {
            return Ok(FetchRoute::Trusted);
        }
        let listed = match &host {
            Host::Domain(domain) => self.host_suffixes.iter().any(|s| is_within(domain, s)),
            Host::Ipv4(_) | Host::Ipv6(_) => false,
        };
        let allowed = listed || (redirected && self.public_redirects);
        if !allowed {
            let scope = &self.scope;
            return Err(FetchRefusal::new(if redirected {
                format!("the redirect leads to {host}, which is not {scope}")
            } else {
                format!("{host} is not {scope}")
            }));
        }
        // An address in the URL is never resolved, so it is checked here.
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        };
        if let Some(ip) = literal.filter(|ip| !is_public_address(*ip)) {
            return Err(FetchRefusal::new(format!("{ip} is not a public address")));
        }
        Ok(FetchRoute::PublicOnly)
    }
}

/// Whether `domain` is `suffix` or a subdomain of it.
fn is_within(domain: &str, suffix: &str) -> bool {
    let (domain, suffix) = (domain.as_bytes(), suffix.as_bytes());
    match domain.len().checked_sub(suffix.len()) {
        Some(0) => domain.eq_ignore_ascii_case(suffix),
        Some(start) => domain[start - 1] == b'.' && domain[start..].eq_ignore_ascii_case(suffix),
        None => false,
    }
}

/// Checks what `host` resolved to before connecting on a [`FetchRoute::PublicOnly`] route:
/// every address must be public, so a name pointing (even partly) inside is refused.
pub fn check_resolved(
    host: &str,
    addresses: impl IntoIterator<Item = IpAddr>,
) -> Result<(), FetchRefusal> {
    let mut any = false;
    for ip in addresses {
        if !is_public_address(ip) {
            return Err(FetchRefusal::new(format!(
                "{host} resolves to {ip}, not a public address"
            )));
        }
        any = true;
    }
    if any { Ok(()) } else { Err(FetchRefusal::new(format!("{host} has no address"))) }
}

/// IPv4 ranges std has no stable predicate for, none of them reachable on the internet.
const V4_NOT_PUBLIC: [Ipv4Net; 5] = [
    Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8), // "this network"
    // Carrier-grade NAT, also cloud-internal (Alibaba's metadata is 100.100.100.200).
    Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10),
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments
    Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking
    Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4),  // reserved, broadcast
];

/// IPv6 ranges std has no stable predicate for.
const V6_NOT_PUBLIC: [Ipv6Net; 6] = [
    Ipv6Net::new_assert(Ipv6Addr::UNSPECIFIED, 96), // IPv4-compatible (deprecated)
    Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local NAT64
    Ipv6Net::new_assert(Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only
    // IETF protocol assignments: Teredo (an obfuscated IPv4 inside), benchmarking, ORCHID.
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    Ipv6Net::new_assert(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),     // site-local
];

/// NAT64 (RFC 6052): the last 32 bits are the IPv4 address reached.
const NAT64: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
/// 6to4 (RFC 3056): bits 16..48 are the IPv4 address reached.
const SIX_TO_FOUR: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918), link-local
/// (cloud metadata at `169.254.169.254`), unique-local (`fc00::/7`, AWS's `fd00:ec2::254`),
/// shared, reserved, multicast or documentation, including IPv4 addresses wrapped in IPv6
/// (`::ffff:127.0.0.1`, NAT64, 6to4).
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || V4_NOT_PUBLIC.iter().any(|net| net.contains(&ip)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let bits = ip.to_bits();
    if NAT64.contains(&ip) {
        return is_public_v4(Ipv4Addr::from_bits(bits as u32));
    }
    if SIX_TO_FOUR.contains(&ip) {
        return is_public_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || V6_NOT_PUBLIC.iter().any(|net| net.contains(&ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_and_special_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "240.0.0.1",
            "224.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(!is_public_address(ip(s)), "{s} counted as public");
        }
    }

    #[test]
    fn internet_addresses_are_public() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "157.240.22.35",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a03:2880:f12f:83:face:b00c:0:25de",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public_address(ip(s)), "{s} counted as not public");
        }
    }

    fn chatwoot() -> FetchPolicy {
        FetchPolicy::new("the Chatwoot server")
            .trust_origin(&"http://127.0.0.1:3000/app".parse().unwrap())
            .allow_public_redirects()
    }

    fn meta() -> FetchPolicy {
        FetchPolicy::new("one of Meta's media hosts")
            .trust_origin(&"https://graph.facebook.com".parse().unwrap())
            .allow_domains(["fbcdn.net", "fbsbx.com", "cdninstagram.com"])
    }

    fn url(s: &str) -> Url {
        s.parse().unwrap()
    }

    #[test]
    fn only_http_and_https_are_fetched() {
        for s in ["file:///etc/passwd", "ftp://127.0.0.1:3000/x", "gopher://127.0.0.1:3000/"] {
            let e = chatwoot().check(&url(s)).unwrap_err();
            assert!(e.reason().contains("only http and https"), "{s}: {e}");
        }
        let e = meta().check_redirect(&url("https://graph.facebook.com/x"), "data:,hi", 0);
        assert!(e.unwrap_err().reason().contains("not data:"));
    }

    #[test]
    fn chatwoot_files_come_only_from_its_origin() {
        let p = chatwoot();
        assert_eq!(
            p.check(&url("http://127.0.0.1:3000/rails/active_storage/b/1")),
            Ok(FetchRoute::Trusted)
        );
        for s in [
            "http://127.0.0.1:6379/",
            "https://127.0.0.1:3000/x",
            "http://localhost:3000/x",
            "http://169.254.169.254/latest/meta-data/",
            "https://storage.googleapis.com/bucket/x",
        ] {
            let e = p.check(&url(s)).unwrap_err();
            assert!(e.reason().ends_with("is not the Chatwoot server"), "{s}: {e}");
        }
    }

    #[test]
    fn a_chatwoot_redirect_goes_to_public_storage_or_back_home_only() {
        let p = chatwoot();
        let from = url("http://127.0.0.1:3000/rails/active_storage/blobs/redirect/x/a.png");
        let (next, route) =
            p.check_redirect(&from, "https://bucket.s3.amazonaws.com/a.png?sig=1", 0).unwrap();
        assert_eq!(
            (next.host_str(), route),
            (Some("bucket.s3.amazonaws.com"), FetchRoute::PublicOnly)
        );
        assert_eq!(p.check_redirect(&from, "/other", 1).unwrap().1, FetchRoute::Trusted);
        for location in [
            "http://127.0.0.1/",
            "http://127.0.0.1:6379/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:3000/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://10.0.0.5/",
        ] {
            let e = p.check_redirect(&from, location, 0).unwrap_err();
            assert!(e.reason().ends_with("is not a public address"), "{location}: {e}");
        }
        let e = p.check_redirect(&from, "/again", MAX_REDIRECTS).unwrap_err();
        assert!(e.reason().contains("more than 5 redirects"));
    }

    #[test]
    fn meta_files_come_from_its_cdn_and_the_configured_graph_only() {
        let p = meta();
        for s in [
            "https://scontent.xx.fbcdn.net/v/t1.15752-9/1.jpg?oh=x",
            "https://video.fsgn2-1.fna.fbcdn.net/v.mp4",
            "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1",
            "https://cdn.fbsbx.com/v/t59.2708-21/file.pdf",
            "https://scontent.cdninstagram.com/v/x.jpg",
            "https://FBCDN.NET/x",
        ] {
            assert_eq!(p.check(&url(s)), Ok(FetchRoute::PublicOnly), "{s}");
        }
        assert_eq!(p.check(&url("https://graph.facebook.com/v23.0/x")), Ok(FetchRoute::Trusted));
        for s in [
            "https://evilfbcdn.net/x",
            "https://fbcdn.net.evil.example/x",
            "https://graph.facebook.com.evil.example/x",
            "http://graph.facebook.com/x",
            "https://www.facebook.com/x",
            "http://127.0.0.1/x",
            "https://cdn.example/x",
        ] {
            let e = p.check(&url(s)).unwrap_err();
            assert!(e.reason().ends_with("is not one of Meta's media hosts"), "{s}: {e}");
        }
        // Meta's own redirects stay on its hosts; anywhere else is refused.
        let from = url("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1");
        assert!(p.check_redirect(&from, "https://scontent.xx.fbcdn.net/a.jpg", 0).is_ok());
        let e = p.check_redirect(&from, "https://example.org/a.jpg", 0).unwrap_err();
        assert!(e.reason().contains("the redirect leads to example.org"), "{e}");
    }

    #[test]
    fn resolved_addresses_must_all_be_public() {
        assert!(check_resolved("cdn.example", [ip("157.240.22.35")]).is_ok());
        let e = check_resolved("cdn.example", [ip("157.240.22.35"), ip("10.0.0.1")]).unwrap_err();
        assert_eq!(
            e.reason(),
            "not downloaded: cdn.example resolves to 10.0.0.1, not a public address"
        );
        assert!(check_resolved("cdn.example", []).is_err());
    }

    #[test]
    fn a_refusal_fails_the_part_for_good_with_its_reason() {
        let e: DeliveryError = chatwoot().check(&url("file:///etc/passwd")).unwrap_err().into();
        assert!(e.is_permanent());
        assert_eq!(e.message(), "not downloaded: only http and https URLs are fetched, not file:");
    }
}
