//! The probes for a target: [`plan`] crafts the `Origin`s that catch each classic mistake, and
//! a preflight probe.

use url::{Host, Url};

use super::{ATTACKER_DOMAIN, AuditError, Class};
use crate::origin::Origin;

/// Hosting services where anyone can publish a page (and so script) under a shared domain. A
/// policy trusting one of them trusts every user of the service. The one list; probes take a
/// made-up subdomain of each wildcard entry.
pub const THIRD_PARTY_HOSTS: [&str; 16] = [
    "*.github.io",
    "*.gitlab.io",
    "*.herokuapp.com",
    "*.netlify.app",
    "*.vercel.app",
    "*.pages.dev",
    "*.web.app",
    "*.firebaseapp.com",
    "*.glitch.me",
    "*.surge.sh",
    "*.onrender.com",
    "*.azurewebsites.net",
    "*.ngrok.io",
    "codepen.io",
    "cdpn.io",
    "jsfiddle.net",
];

/// Characters a lax origin check may accept between the target's host and an attacker's domain
/// (`https://www.target.com_.evil.example`): each one Chromium 156's URL parser keeps in a host as
/// is, so a page there sends it in `Origin` (checked with `new URL()` in headless Chromium; `*`
/// is percent-encoded there, so it is not probed).
pub const SPECIAL_CHARACTERS: [char; 17] = [
    '_', '-', '~', '$', '=', '!', '\'', '(', ')', '+', ',', ';', '&', '`', '"', '{', '}',
];

/// One probe: an `Origin` to try and what it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// What it looks for.
    pub class: Class,
    /// The `Origin` sent.
    pub origin: String,
    /// Whether it is a preflight probe (OPTIONS with an unusual method and header).
    pub preflight: bool,
}

/// The method and header a preflight probe asks for: nobody allows these on purpose.
pub const PROBE_METHOD: &str = "CROSSGATE";
/// See [`PROBE_METHOD`].
pub const PROBE_HEADER: &str = "x-crossgate-probe";

/// The target and its probes.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The target URL.
    pub url: Url,
    /// The target's own origin.
    pub origin: String,
    /// Every probe: the target's own origin first.
    pub probes: Vec<Probe>,
    /// The target's registrable domain (or host, for an IP address or a bare name).
    pub site: String,
}

/// Builds the probes for a target (http or https URL).
pub fn plan(target: &str) -> Result<Plan, AuditError> {
    let url = Url::parse(target).map_err(|reason| AuditError::NotAUrl {
        target: target.to_owned(),
        reason,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AuditError::UnsupportedScheme {
            target: target.to_owned(),
        });
    }
    let origin = Origin::of_url(&url).to_string();
    let scheme = url.scheme().to_owned();
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_owned(),
        Some(h) => h.to_string(),
        None => {
            return Err(AuditError::NoHost {
                target: target.to_owned(),
            });
        }
    };
    let is_domain = matches!(url.host(), Some(Host::Domain(_)));
    let domain = if is_domain {
        psl::domain_str(&host).unwrap_or(&host).to_owned()
    } else {
        host.clone()
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let at = |h: &str| format!("{scheme}://{h}{port}");
    let mut probes: Vec<Probe> = Vec::new();
    let mut add = |class: Class, origin: String| {
        // Only an Origin a browser can send: what the URL parser serializes to itself.
        let sendable = origin == "null" || Origin::from_header(origin.as_bytes()).is_ok();
        if sendable && !probes.iter().any(|p| p.origin == origin && !p.preflight) {
            probes.push(Probe {
                class,
                origin,
                preflight: false,
            });
        }
    };
    // The target's own origin first: its answer tells whether Access-Control-Allow-Origin
    // depends on the request (and so needs `Vary: Origin`) even when no attacker origin passes.
    add(Class::MissingVary, origin.clone());
    add(
        Class::ArbitraryOrigin,
        format!("{scheme}://{}", ATTACKER_DOMAIN),
    );
    if is_domain {
        add(
            Class::PrefixMatch,
            format!("{scheme}://{host}.{ATTACKER_DOMAIN}"),
        );
        add(Class::SuffixMatch, at(&format!("crossgateevil{domain}")));
        if host != domain {
            add(Class::SuffixMatch, at(&format!("crossgateevil{host}")));
        }
        for dot in [host.find('.'), host.rfind('.')].into_iter().flatten() {
            let mut replaced = host.clone();
            replaced.replace_range(dot..=dot, "x");
            add(Class::UnescapedDot, at(&replaced));
        }
        if domain.len() > 1 {
            add(Class::SubstringMatch, at(&domain[1..]));
        }
        add(Class::AnySubdomain, at(&format!("crossgate-probe.{host}")));
        for c in SPECIAL_CHARACTERS {
            add(
                Class::SpecialCharacters,
                format!("{scheme}://{host}{c}.{ATTACKER_DOMAIN}"),
            );
        }
    }
    add(Class::NullOrigin, "null".to_owned());
    if scheme == "https" {
        let http_port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        add(Class::InsecureOrigin, format!("http://{host}{http_port}"));
    }
    for hosting in THIRD_PARTY_HOSTS {
        let h = hosting.replacen('*', "crossgate-probe", 1);
        add(Class::ThirdPartyHosting, format!("https://{h}"));
    }
    probes.push(Probe {
        class: Class::PreflightAnyMethod,
        origin: format!("{scheme}://{}", ATTACKER_DOMAIN),
        preflight: true,
    });
    Ok(Plan {
        url,
        origin,
        probes,
        site: domain,
    })
}
