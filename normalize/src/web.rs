//! Websites and e-mail addresses: canonical forms, and what identifies a site.

/// Longest website URL accepted, in bytes (browsers and CDNs reject much past 2 KB).
pub const URL_BYTES_MAX: usize = 2_000;

/// Query parameters that only track the visitor; they never change the page.
fn is_tracking_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("utm_")
        || matches!(
            key.as_str(),
            "gclid" | "fbclid" | "mc_cid" | "mc_eid" | "ref" | "ref_src" | "msclkid" | "igshid"
        )
}

/// Whether `s` starts with a URL scheme other than a host with a port: "mailto:",
/// "javascript:", "tel:"... (but not "example.com:8080").
fn has_non_web_scheme(s: &str) -> bool {
    let Some(colon) = s.find(':') else {
        return false;
    };
    let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
    let scheme_like = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let is_port = !port.is_empty() && port.chars().all(|c| c.is_ascii_digit());
    scheme_like && !is_port
}

/// A valid host name: at least two non-empty labels of letters, digits and hyphens (not
/// at a label's ends), the last one not all digits unless the whole host is an IPv4
/// address.
fn valid_host(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || host.len() > 253 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return false;
    }
    let numeric = |l: &&str| l.chars().all(|c| c.is_ascii_digit());
    let last = labels[labels.len() - 1];
    !numeric(&last) || (labels.len() == 4 && labels.iter().all(numeric))
}

/// A website URL in canonical form, or `None`.
///
/// - No scheme: `https://` is added (`powerleague.com` → `https://powerleague.com/`).
///   Schemes other than http and https (mailto:, javascript:, ftp:) are rejected.
/// - Scheme and host are lowercased; the host is otherwise kept as given (`www.` stays: a
///   site may serve different things with and without it). A trailing dot on the host,
///   default ports (80, 443) and the fragment are dropped.
/// - Tracking parameters (`utm_*`, gclid, fbclid, mc_cid, mc_eid, ref, ref_src, msclkid,
///   igshid) are removed; other parameters stay in order.
/// - Trailing slashes of a non-root path are removed; the root path is "/".
/// - Rejected: hosts without a dot, user info (`user@host`), whitespace, bad ports, URLs
///   longer than [`URL_BYTES_MAX`].
pub fn website(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty()
        || s.len() > URL_BYTES_MAX
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let (scheme, rest) = match s.find("://") {
        Some(i) => (s[..i].to_ascii_lowercase(), &s[i + 3..]),
        None if s.starts_with("//") => ("https".to_string(), &s[2..]),
        None if has_non_web_scheme(s) => return None,
        None => ("https".to_string(), s),
    };
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_lowercase();
    if !valid_host(&host) {
        return None;
    }
    let port = match port {
        None | Some("") => String::new(),
        Some(p) => {
            let n: u16 = p.parse().ok()?;
            let default = (scheme == "http" && n == 80) || (scheme == "https" && n == 443);
            if default {
                String::new()
            } else {
                format!(":{n}")
            }
        }
    };
    let tail = tail.split('#').next().unwrap_or("");
    let (path, query) = match tail.find('?') {
        Some(i) => (&tail[..i], &tail[i + 1..]),
        None => (tail, ""),
    };
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !is_tracking_param(p.split('=').next().unwrap_or("")))
        .collect();
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    Some(format!("{scheme}://{host}{port}{path}{query}"))
}

/// The host of a website, canonical and without a leading `www.`, for matching two
/// sources' websites (`https://www.powerleague.com/club/x` → `powerleague.com`).
pub fn website_host(url: &str) -> Option<String> {
    let url = website(url)?;
    let after = &url[url.find("://")? + 3..];
    let host = after.split(['/', ':', '?']).next()?;
    Some(host.strip_prefix("www.").unwrap_or(host).to_string())
}

/// An e-mail address: trimmed, `mailto:` removed, domain lowercased (the local part keeps
/// its case: it is the mail server's to interpret). `None` unless it is one `local@domain`
/// with a valid domain and no whitespace.
pub fn email(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = s.split_once('@')?;
    let domain = domain.to_lowercase();
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !valid_host(&domain) {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

// ---------------------------------------------------------------------------------------
/// A website as matching compares it: the host without `www.`/`m.`, credentials and port,
/// lowercase ("https://www.Powerleague.com/club/x/?utm=1" → "powerleague.com"), and the
/// path without query, fragment, trailing `/` or `index.*`/`/home` ("/club/x"). `None`
/// when there is no host with a dot.
pub fn host_and_path(url: &str) -> Option<(String, String)> {
    let url = crate::text::clip(url.trim(), 256).to_ascii_lowercase();
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url.as_str(),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("");
    let host = host.trim_end_matches('.');
    let host = host
        .strip_prefix("www.")
        .or_else(|| host.strip_prefix("m."))
        .unwrap_or(host);
    if host.is_empty() || !host.contains('.') || host.contains(char::is_whitespace) {
        return None;
    }
    let mut path = path.trim_end_matches('/');
    for index in ["/index.html", "/index.htm", "/index.php", "/home"] {
        if let Some(p) = path.strip_suffix(index) {
            path = p;
        }
    }
    Some((host.to_string(), path.trim_end_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten thousand bytes of text, for the "huge input" rows.
    fn huge(unit: &str) -> String {
        unit.repeat(10_240 / unit.len().max(1))
    }

    #[test]
    fn websites_are_canonical() {
        let rows: &[(&str, Option<&str>)] = &[
            ("powerleague.com", Some("https://powerleague.com/")),
            (
                "www.powerleague.com/club/edinburgh-portobello/",
                Some("https://www.powerleague.com/club/edinburgh-portobello"),
            ),
            (
                "HTTPS://WWW.Powerleague.COM/Club/X",
                Some("https://www.powerleague.com/Club/X"),
            ),
            ("http://example.com:80/a", Some("http://example.com/a")),
            ("https://example.com:443", Some("https://example.com/")),
            (
                "https://example.com:8443/a",
                Some("https://example.com:8443/a"),
            ),
            (
                "https://example.com/a?utm_source=x&id=3&gclid=1#top",
                Some("https://example.com/a?id=3"),
            ),
            (
                "https://example.com/?fbclid=abc&ref=home",
                Some("https://example.com/"),
            ),
            (
                "https://www.instagram.com/thistlepadel/?hl=en",
                Some("https://www.instagram.com/thistlepadel?hl=en"),
            ),
            ("//cdn.example.com/x", Some("https://cdn.example.com/x")),
            ("https://example.com./", Some("https://example.com/")),
            ("https://example.co.uk//", Some("https://example.co.uk/")),
            ("https://münchen.de/", Some("https://münchen.de/")),
            ("mailto:info@example.com", None),
            ("javascript:alert(1)", None),
            ("ftp://example.com/file", None),
            ("https://localhost/", None),
            ("https://user:pw@example.com/", None),
            ("https://example.com:99999/", None),
            ("https://exa mple.com/", None),
            ("https://-bad-.com/", None),
            ("https://example.123/", None),
            ("http://192.168.1.10/", Some("http://192.168.1.10/")),
            ("'; DROP TABLE places; --", None),
            ("🎾.com", None),
            ("", None),
            ("n/a", None),
        ];
        for (raw, want) in rows {
            assert_eq!(website(raw).as_deref(), *want, "{raw:?}");
        }
        assert_eq!(website(&format!("https://example.com/{}", huge("a"))), None);
    }

    #[test]
    fn website_hosts_drop_www() {
        let rows: &[(&str, Option<&str>)] = &[
            (
                "https://www.powerleague.com/club/x",
                Some("powerleague.com"),
            ),
            ("powerleague.com", Some("powerleague.com")),
            ("http://WWW.Example.co.uk:8080/a", Some("example.co.uk")),
            ("https://www2.example.com", Some("www2.example.com")),
            (
                "https://edinburghleisure.co.uk/venues?x=1",
                Some("edinburghleisure.co.uk"),
            ),
            ("mailto:a@b.com", None),
            ("", None),
            ("not a url", None),
        ];
        for (raw, want) in rows {
            assert_eq!(website_host(raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn emails() {
        let rows: &[(&str, Option<&str>)] = &[
            ("info@mortonhallgc.co.uk", Some("info@mortonhallgc.co.uk")),
            (" Info@MortonhallGC.co.uk ", Some("Info@mortonhallgc.co.uk")),
            ("mailto:a@b.com", Some("a@b.com")),
            ("a@b", None),
            ("@b.com", None),
            ("a@@b.com", None),
            ("a b@c.com", None),
            ("'; DROP TABLE x; --@evil.com", None),
            ("", None),
        ];
        for (raw, want) in rows {
            assert_eq!(email(raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn matching_reads_a_site_as_host_and_path() {
        let hp = |u: &str| host_and_path(u).map(|(h, p)| format!("{h}{p}"));
        assert_eq!(
            hp("https://www.Powerleague.com/club/x/?utm=1").as_deref(),
            Some("powerleague.com/club/x")
        );
        assert_eq!(
            hp("powerleague.com/club/x/index.html").as_deref(),
            Some("powerleague.com/club/x")
        );
        assert_eq!(
            hp("http://user@m.example.org:8080/").as_deref(),
            Some("example.org")
        );
        assert_eq!(hp("not a url"), None);
        assert_eq!(hp(""), None);
    }
}
