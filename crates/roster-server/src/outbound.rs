//! Outbound HTTP on a tenant's word: the addresses Roster fetches because an
//! organization registered them (identity providers' JWKS, webhooks). Such
//! a URL is a server-side request forgery risk, so every request goes
//! through [`Outbound`]: only `https` (webhooks: `http` too); never an address that
//! is loopback, private (RFC 1918, CGNAT, ULA), link-local (cloud metadata
//! at 169.254.169.254 included), unspecified, multicast, reserved or
//! documentation, nor an IPv6 address embedding one. Names are checked
//! after DNS resolution, by the resolver the client connects through, so
//! a name cannot rebind between the check and the connection; redirects
//! are not followed; time and body size are bounded.
//!
//! `roster serve --allow-private-targets` lifts the address rule and allows
//! `http` (development and tests only).

use axum::http::HeaderMap;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// Longest wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a whole request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an outbound request was refused or failed. Its message names the
/// host at most, never a query string or a body.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Not `https` (or `http` where the operator allows it).
    #[error("only `https` URLs are fetched")]
    Scheme,
    /// The host is, or resolves only to, an address Roster never fetches from.
    #[error("`{host}` is a loopback, private, link-local or otherwise non-public address")]
    Forbidden {
        /// The host as named.
        host: String,
    },
    /// The host does not resolve.
    #[error("`{host}` does not resolve")]
    Unresolved {
        /// The host as named.
        host: String,
    },
    /// The target answered with something other than `2xx` (a redirect
    /// included: they are not followed).
    #[error("the server answered {0}")]
    Status(u16),
    /// The body is over the limit.
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    /// Connecting, sending or reading failed or timed out.
    #[error("the request failed: {0}")]
    Transport(String),
}

/// A fetched answer.
#[derive(Debug)]
pub struct Fetched {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body (at most the limit asked for).
    pub body: Vec<u8>,
}

/// The one outbound HTTP client, with its guard. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl Outbound {
    /// A client; with `allow_private`, `http` and every address are allowed.
    pub fn new(allow_private: bool) -> Result<Self, OutboundError> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve and connect on its own, past the guard.
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            b = b.dns_resolver(Arc::new(PublicOnly));
        }
        let client = b
            .build()
            .map_err(|e| OutboundError::Transport(e.to_string()))?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// Whether private targets and `http` are allowed.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks `url` as a registration is checked: its scheme, and every
    /// address its host resolves to now (a fetch checks again).
    pub async fn check(&self, url: &Url) -> Result<(), OutboundError> {
        self.check_scheme(url)?;
        self.check_addresses(url).await
    }

    /// Checks a webhook's `url` as its registration is checked: `http` or
    /// `https`, and every address its host resolves to now must be public
    /// (each delivery checks again, at connection time).
    pub async fn check_webhook(&self, url: &Url) -> Result<(), OutboundError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::Scheme);
        }
        self.check_addresses(url).await
    }

    /// `POST url` with a JSON `body` and `headers` (a webhook delivery, which
    /// may be `http`): the answer's status, reading at most `max_bytes` of
    /// its body (the rest is not read). Redirects are not followed: a `3xx`
    /// is an answer like any other. Bounded by [`REQUEST_TIMEOUT`].
    pub async fn post_webhook(
        &self,
        url: &Url,
        headers: HeaderMap,
        body: Vec<u8>,
        max_bytes: usize,
    ) -> Result<u16, OutboundError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::Scheme);
        }
        if !self.allow_private {
            // The resolver guards names; literal addresses never reach it.
            match host_of(url)? {
                Host::Ipv4(ip) => forbid(IpAddr::V4(ip), url)?,
                Host::Ipv6(ip) => forbid(IpAddr::V6(ip), url)?,
                Host::Domain(_) => {}
            }
        }
        let mut resp = self
            .client
            .post(url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| transport(e, url))?;
        let status = resp.status().as_u16();
        // Read (and drop) at most `max_bytes` of the answer, so the
        // connection can be reused when the answer is small.
        let mut read = 0usize;
        while read < max_bytes {
            match resp.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(status)
    }

    /// Every address `url`'s host resolves to now must be public (unless
    /// private targets are allowed).
    async fn check_addresses(&self, url: &Url) -> Result<(), OutboundError> {
        if self.allow_private {
            return Ok(());
        }
        let host = host_of(url)?;
        match host {
            Host::Ipv4(ip) => forbid(IpAddr::V4(ip), url),
            Host::Ipv6(ip) => forbid(IpAddr::V6(ip), url),
            Host::Domain(name) => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, 0))
                    .await
                    .map_err(|_| OutboundError::Unresolved {
                        host: name.to_owned(),
                    })?
                    .collect();
                if addrs.is_empty() {
                    return Err(OutboundError::Unresolved {
                        host: name.to_owned(),
                    });
                }
                // Every address must be public: a name that also points
                // inside is refused whole.
                for a in addrs {
                    forbid(a.ip(), url)?;
                }
                Ok(())
            }
        }
    }

    /// `GET url`, reading at most `max_bytes` of the body.
    pub async fn get(&self, url: &Url, max_bytes: usize) -> Result<Fetched, OutboundError> {
        self.check_scheme(url)?;
        if !self.allow_private {
            // The resolver guards names; literal addresses never reach it.
            match host_of(url)? {
                Host::Ipv4(ip) => forbid(IpAddr::V4(ip), url)?,
                Host::Ipv6(ip) => forbid(IpAddr::V6(ip), url)?,
                Host::Domain(_) => {}
            }
        }
        let mut resp = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| transport(e, url))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(OutboundError::Status(status.as_u16()));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(OutboundError::TooLarge(max_bytes));
        }
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(e, url))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(OutboundError::TooLarge(max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { headers, body })
    }

    fn check_scheme(&self, url: &Url) -> Result<(), OutboundError> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_private => Ok(()),
            _ => Err(OutboundError::Scheme),
        }
    }
}

fn host_of(url: &Url) -> Result<Host<&str>, OutboundError> {
    url.host().ok_or_else(|| OutboundError::Unresolved {
        host: String::new(),
    })
}

fn forbid(ip: IpAddr, url: &Url) -> Result<(), OutboundError> {
    if is_forbidden(ip) {
        return Err(OutboundError::Forbidden {
            host: url.host_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(())
}

/// A transport error, its message without the URL (which may carry a
/// tenant's query string).
fn transport(e: reqwest::Error, url: &Url) -> OutboundError {
    let e = e.without_url();
    // The resolver's refusal travels inside the error chain.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<Refused>().is_some() {
            return OutboundError::Forbidden {
                host: url.host_str().unwrap_or_default().to_owned(),
            };
        }
        source = s.source();
    }
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        e.to_string()
    };
    OutboundError::Transport(what)
}

/// The resolver's refusal: every address of the name is non-public.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` resolves only to non-public addresses")]
struct Refused(String);

/// A DNS resolver that hands the connector only public addresses, so the
/// address checked is the address connected to.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // INVARIANT: a name with any non-public address is refused whole,
            // as at registration.
            if all.is_empty() || all.iter().any(|a| is_forbidden(a.ip())) {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(all.into_iter()) as Addrs)
        })
    }
}

/// Whether Roster never connects to `ip` on a tenant's word: anything but
/// a public unicast address.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || a == 0 // "this network" 0.0.0.0/8
        || ip.is_loopback() // 127.0.0.0/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || ip.is_link_local() // 169.254.0.0/16, cloud metadata included
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || ip.is_documentation() // 192.0.2/24, 198.51.100/24, 203.0.113/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || ip.is_multicast() // 224.0.0.0/4
        || a >= 240 // reserved 240.0.0.0/4 and broadcast
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4); // ::ffff:a.b.c.d
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || ip.is_multicast() // ff00::/8
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32 (tunnels to anywhere)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        // IPv4-compatible ::a.b.c.d (deprecated) and NAT64 64:ff9b::/96
        || (s[..6] == [0; 6] && forbidden_v4(embedded(s[6], s[7])))
        || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && forbidden_v4(embedded(s[6], s[7])))
        // 6to4 2002::/16 carries an IPv4 address in its next 32 bits
        || (s[0] == 0x2002 && forbidden_v4(embedded(s[1], s[2])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn non_public_addresses_are_forbidden() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "192.0.0.170",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "100::1",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_forbidden(ip(s)), "{s} must be allowed");
        }
    }

    #[tokio::test]
    async fn registration_checks_scheme_and_addresses() {
        let guarded = Outbound::new(false).unwrap_or_else(|e| panic!("{e}"));
        for (url, scheme) in [
            ("http://idp.example/jwks", true),
            ("https://127.0.0.1/jwks", false),
            ("https://10.0.0.1/jwks", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://[::1]/jwks", false),
            ("https://[::ffff:127.0.0.1]/jwks", false),
            ("https://localhost/jwks", false),
        ] {
            let url = Url::parse(url).unwrap_or_else(|e| panic!("{e}"));
            let err = guarded.check(&url).await.err();
            match (scheme, err) {
                (true, Some(OutboundError::Scheme)) => {}
                (
                    false,
                    Some(OutboundError::Forbidden { .. } | OutboundError::Unresolved { .. }),
                ) => {}
                (_, other) => panic!("{url}: {other:?}"),
            }
        }
        let open = Outbound::new(true).unwrap_or_else(|e| panic!("{e}"));
        let url = Url::parse("http://127.0.0.1:1/jwks").unwrap_or_else(|e| panic!("{e}"));
        assert!(open.check(&url).await.is_ok());
    }
}
