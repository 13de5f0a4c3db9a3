//! What orderly reads from a PostgreSQL URL before tokio-postgres does:
//! libpq's TLS parameters (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`),
//! which tokio-postgres' parser only partly knows (it refuses
//! `verify-ca` and `verify-full`), and the URL of each host of a
//! multi-host URL, so that every host is tried, and named when it fails,
//! on its own. Both URL forms libpq takes are understood:
//! `postgres://user@h1:5432,h2:5433/db?sslmode=require` and
//! `host=h1,h2 port=5432 sslmode=require`.

use std::collections::BTreeMap;

use anyhow::bail;
use percent_encoding::percent_decode_str;

/// The parameters orderly handles itself, as libpq names them.
const OWN: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// libpq's TLS parameters that orderly does not support: refused by name
/// rather than silently ignored.
const UNSUPPORTED: [&str; 4] = ["sslpassword", "sslcrl", "sslcrldir", "sslsni"];

/// A URL with orderly's own parameters taken out.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// The rest, for tokio-postgres.
    pub rest: String,
    /// The taken parameters, by name, their values decoded.
    pub own: BTreeMap<String, String>,
}

/// Takes the TLS parameters out of `url`.
pub fn split(url: &str) -> anyhow::Result<Split> {
    let mut own = BTreeMap::new();
    let mut take = |key: &str, value: &str| -> anyhow::Result<bool> {
        if UNSUPPORTED.contains(&key) {
            bail!("the URL parameter {key} is not supported");
        }
        if !OWN.contains(&key) {
            return Ok(false);
        }
        own.insert(key.to_owned(), value.to_owned());
        Ok(true)
    };
    let rest = if is_url_form(url) {
        let Some((base, query)) = url.split_once('?') else {
            return Ok(Split {
                rest: url.to_owned(),
                own,
            });
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value).decode_utf8_lossy();
            if !take(&percent_decode_str(key).decode_utf8_lossy(), &value)? {
                kept.push(pair);
            }
        }
        match kept.is_empty() {
            true => base.to_owned(),
            false => format!("{base}?{}", kept.join("&")),
        }
    } else {
        let mut kept = Vec::new();
        for token in url.split_whitespace() {
            let (key, value) = token.split_once('=').unwrap_or((token, ""));
            if !take(key, value.trim_matches('\''))? {
                kept.push(token);
            }
        }
        kept.join(" ")
    };
    Ok(Split { rest, own })
}

fn is_url_form(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// One URL per host of `url` (tls parameters already taken out), in the
/// order given: the same URL with only that host (and its port). `None`
/// when it names one host, or hosts in a way this does not split
/// (`hostaddr`), which tokio-postgres then tries as one.
pub fn per_host(url: &str) -> Option<Vec<String>> {
    let urls = match is_url_form(url) {
        true => per_host_in_url(url)?,
        false => per_host_in_keywords(url)?,
    };
    (urls.len() > 1).then_some(urls)
}

/// `postgres://user:pw@h1:1,h2:2/db?x` → `postgres://user:pw@h1:1/db?x`, ...
fn per_host_in_url(url: &str) -> Option<Vec<String>> {
    let scheme_end = url.find("://")? + 3;
    let after = &url[scheme_end..];
    let authority_len = after.find(['/', '?']).unwrap_or(after.len());
    let authority = &after[..authority_len];
    let hosts_start = authority.rfind('@').map_or(0, |at| at + 1);
    let (head, hosts) = (&url[..scheme_end + hosts_start], &authority[hosts_start..]);
    let tail = &after[authority_len..];
    if url.contains("hostaddr=") {
        return None;
    }
    Some(
        hosts
            .split(',')
            .map(|host| format!("{head}{host}{tail}"))
            .collect(),
    )
}

/// `host=h1,h2 port=1,2 dbname=x` → `host=h1 port=1 dbname=x`, ...
fn per_host_in_keywords(url: &str) -> Option<Vec<String>> {
    let tokens: Vec<&str> = url.split_whitespace().collect();
    let value = |key: &str| {
        tokens
            .iter()
            .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
    };
    if value("hostaddr").is_some() {
        return None;
    }
    let hosts: Vec<&str> = value("host")?.split(',').collect();
    let ports: Vec<&str> = value("port").map_or_else(Vec::new, |p| p.split(',').collect());
    let others: Vec<&str> = tokens
        .iter()
        .filter(|t| !t.starts_with("host=") && !t.starts_with("port="))
        .copied()
        .collect();
    Some(
        hosts
            .iter()
            .enumerate()
            .map(|(n, host)| {
                let mut url = format!("host={host}");
                match ports.get(n).or(ports.first()) {
                    Some(port) if ports.len() == 1 || ports.len() == hosts.len() => {
                        url.push_str(&format!(" port={port}"))
                    }
                    _ => {}
                }
                for other in &others {
                    url.push(' ');
                    url.push_str(other);
                }
                url
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_a_url_and_the_rest_kept() {
        let split = split(
            "postgres://u:p@db:5432/app?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(split.rest, "postgres://u:p@db:5432/app?application_name=x");
        assert_eq!(split.own["sslmode"], "verify-full");
        assert_eq!(split.own["sslrootcert"], "/etc/ca.pem");
    }

    #[test]
    fn a_url_with_only_tls_parameters_loses_its_question_mark() {
        let split = split("postgresql://db/app?sslmode=require").unwrap();
        assert_eq!(split.rest, "postgresql://db/app");
    }

    #[test]
    fn tls_parameters_are_taken_out_of_keywords() {
        let split = split("host=db sslmode=verify-ca sslrootcert='/ca.pem' dbname=app").unwrap();
        assert_eq!(split.rest, "host=db dbname=app");
        assert_eq!(split.own["sslmode"], "verify-ca");
        assert_eq!(split.own["sslrootcert"], "/ca.pem");
    }

    #[test]
    fn unsupported_tls_parameters_are_refused_by_name() {
        let e = split("postgres://db/app?sslpassword=x").unwrap_err();
        assert!(e.to_string().contains("sslpassword"), "{e}");
    }

    #[test]
    fn each_host_of_a_url_gets_a_url_of_its_own() {
        let urls = per_host("postgres://u:p@h1:5432,h2:5433/app?target_session_attrs=read-write");
        assert_eq!(
            urls.unwrap(),
            [
                "postgres://u:p@h1:5432/app?target_session_attrs=read-write",
                "postgres://u:p@h2:5433/app?target_session_attrs=read-write"
            ]
        );
        assert_eq!(per_host("postgres://u@h1:5432/app"), None);
    }

    #[test]
    fn each_host_of_keywords_gets_its_port() {
        let urls = per_host("host=h1,h2 port=1,2 dbname=app").unwrap();
        assert_eq!(
            urls,
            ["host=h1 port=1 dbname=app", "host=h2 port=2 dbname=app"]
        );
        let urls = per_host("host=h1,h2 port=7 dbname=app").unwrap();
        assert_eq!(
            urls,
            ["host=h1 port=7 dbname=app", "host=h2 port=7 dbname=app"]
        );
    }
}
