//! Where a webhook may point. Tenants must not be able to make this service
//! call its own network (SSRF): only https URLs to public addresses, unless the
//! host is on the operator's allowlist (e.g. a local receiver in development).
//! The same IP rules apply again at delivery time, to what DNS answers then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRejection {
    #[error("must be an absolute URL")]
    Malformed,
    #[error("must be at most {MAX_URL_LEN} characters")]
    TooLong,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry credentials")]
    HasCredentials,
    #[error("must not point to a loopback, private, link-local or reserved address")]
    ForbiddenAddress,
}

/// Hosts (names or IP literals, exact match, case-insensitive) that may be
/// reached even though they are local, and over plain http.
#[derive(Debug, Clone, Default)]
pub struct HostAllowlist(Vec<String>);

impl HostAllowlist {
    pub fn new(hosts: impl IntoIterator<Item = String>) -> Self {
        HostAllowlist(
            hosts
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        )
    }

    pub fn permits(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.0
            .iter()
            .any(|allowed| allowed.trim_start_matches('[').trim_end_matches(']') == host)
    }
}

pub fn check_url(raw: &str, allowlist: &HostAllowlist) -> Result<Url, UrlRejection> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlRejection::TooLong);
    }
    let url = Url::parse(raw).map_err(|_| UrlRejection::Malformed)?;
    let host = url.host_str().ok_or(UrlRejection::Malformed)?.to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRejection::HasCredentials);
    }
    let allowed = allowlist.permits(&host);
    match url.scheme() {
        "https" => {}
        "http" if allowed => {}
        "http" => return Err(UrlRejection::NotHttps),
        _ => return Err(UrlRejection::Malformed),
    }
    if allowed {
        return Ok(url);
    }
    let forbidden = match url.host() {
        Some(url::Host::Ipv4(ip)) => is_forbidden_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_forbidden_ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => is_local_name(name),
        None => true,
    };
    if forbidden {
        return Err(UrlRejection::ForbiddenAddress);
    }
    Ok(url)
}

fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || !name.contains('.')
}

/// Addresses a webhook may never reach (unless allowlisted).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_v4(v4);
            }
            is_forbidden_v6(v6)
        }
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 to anywhere, incl. private v4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<Url, UrlRejection> {
        check_url(url, &HostAllowlist::default())
    }

    #[test]
    fn public_https_urls_pass() {
        assert!(check("https://hooks.example.com/integration-sync?x=1").is_ok());
        assert!(check("https://93.184.216.34/hook").is_ok());
    }

    #[test]
    fn local_and_private_targets_are_refused_in_every_spelling() {
        for url in [
            "https://localhost/hook",
            "https://api.localhost/hook",
            "https://127.0.0.1/hook",
            "https://2130706433/hook",
            "https://0x7f.1/hook",
            "https://10.1.2.3/hook",
            "https://172.16.0.1/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/hook",
            "https://0.0.0.0/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://[fd00::1]/hook",
            "https://[fe80::1]/hook",
            "https://metadata.internal/hook",
            "https://intranet/hook",
        ] {
            assert_eq!(check(url), Err(UrlRejection::ForbiddenAddress), "{url}");
        }
    }

    #[test]
    fn other_schemes_credentials_and_garbage_are_refused() {
        assert_eq!(
            check("http://hooks.example.com/x"),
            Err(UrlRejection::NotHttps)
        );
        assert_eq!(
            check("ftp://hooks.example.com/x"),
            Err(UrlRejection::Malformed)
        );
        assert_eq!(
            check("https://user:pw@hooks.example.com/x"),
            Err(UrlRejection::HasCredentials)
        );
        assert_eq!(check("not a url"), Err(UrlRejection::Malformed));
        assert_eq!(
            check(&format!("https://example.com/{}", "a".repeat(3000))),
            Err(UrlRejection::TooLong)
        );
    }

    #[test]
    fn the_allowlist_permits_local_receivers_over_http() {
        let allow = HostAllowlist::new(["127.0.0.1".to_owned(), "LocalHost".to_owned()]);
        assert!(check_url("http://127.0.0.1:8080/hook", &allow).is_ok());
        assert!(check_url("http://localhost:9/hook", &allow).is_ok());
        assert_eq!(
            check_url("http://10.0.0.1/hook", &allow),
            Err(UrlRejection::NotHttps)
        );
    }
}
