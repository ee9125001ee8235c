//! Wrong credentials, derived from a correctly signed request without knowing the scheme:
//! every part the signer added (a header, the path token, a query parameter) whose removal
//! alone makes `verify` refuse is a credential; each is then removed, emptied, cut short,
//! lengthened, and changed at its first and at its last character. An adapter that checks
//! only that a token is present, compares a prefix, or ignores one of two headers is caught.

use http::{HeaderName, HeaderValue};

use super::request::OwnedRequest;

/// Where a credential travels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Carrier {
    Header(HeaderName),
    PathToken,
    Query(String),
}

impl Carrier {
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Header(name) => format!("header `{name}`"),
            Self::PathToken => "the secret path segment".into(),
            Self::Query(name) => format!("query parameter `{name}`"),
        }
    }
}

/// The parts of `signed` a signer added to the bare POST of `body`.
pub(crate) fn added_parts(signed: &OwnedRequest) -> Vec<Carrier> {
    let mut parts: Vec<Carrier> = signed.headers.keys().cloned().map(Carrier::Header).collect();
    parts.dedup();
    if signed.path_token.is_some() {
        parts.push(Carrier::PathToken);
    }
    parts.extend(
        url::form_urlencoded::parse(signed.query.as_bytes())
            .map(|(k, _)| Carrier::Query(k.into_owned())),
    );
    parts
}

/// `request` without the carrier.
pub(crate) fn without(request: &OwnedRequest, carrier: &Carrier) -> OwnedRequest {
    let mut r = request.clone();
    match carrier {
        Carrier::Header(name) => {
            r.headers.remove(name);
        }
        Carrier::PathToken => r.path_token = None,
        Carrier::Query(name) => r.query = rewrite_query(&r.query, name, None),
    }
    r
}

/// `request` with every carrier removed.
pub(crate) fn stripped(request: &OwnedRequest) -> OwnedRequest {
    added_parts(request).iter().fold(request.clone(), |r, c| without(&r, c))
}

/// `request` with the carrier's value replaced by `value`; `None` when the value cannot
/// travel there (a header value with a forbidden byte).
fn with_value(request: &OwnedRequest, carrier: &Carrier, value: &str) -> Option<OwnedRequest> {
    let mut r = request.clone();
    match carrier {
        Carrier::Header(name) => {
            r.headers.insert(name.clone(), HeaderValue::from_str(value).ok()?);
        }
        Carrier::PathToken => r.path_token = Some(value.to_owned()),
        Carrier::Query(name) => r.query = rewrite_query(&r.query, name, Some(value)),
    }
    Some(r)
}

fn value_of(request: &OwnedRequest, carrier: &Carrier) -> Option<String> {
    match carrier {
        Carrier::Header(name) => request.headers.get(name)?.to_str().ok().map(str::to_owned),
        Carrier::PathToken => request.path_token.clone(),
        Carrier::Query(name) => url::form_urlencoded::parse(request.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned()),
    }
}

fn rewrite_query(query: &str, name: &str, value: Option<&str>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k != name {
            out.append_pair(&k, &v);
        } else if let Some(value) = value {
            out.append_pair(&k, value);
        }
    }
    out.finish()
}

/// A different character of the same class, so a changed value still looks plausible
/// (a hex digest stays hex, a timestamp stays a number).
fn other_char(c: char) -> char {
    match c {
        '0'..='8' | 'a'..='y' | 'A'..='Y' => char::from(c as u8 + 1),
        '9' => '0',
        'z' => 'a',
        'Z' => 'A',
        _ => 'x',
    }
}

/// Wrong versions of a credential value, each with what was done to it.
pub(crate) fn wrong_values(value: &str) -> Vec<(&'static str, String)> {
    let chars: Vec<char> = value.chars().collect();
    let mut out =
        vec![("emptied", String::new()), ("lengthened by one character", format!("{value}0"))];
    if let (Some(first), Some(last)) = (chars.first(), chars.last()) {
        let mut changed = chars.clone();
        changed[0] = other_char(*first);
        out.push(("changed at its first character", changed.iter().collect()));
        let mut changed = chars.clone();
        let end = changed.len() - 1;
        changed[end] = other_char(*last);
        out.push(("changed at its last character", changed.iter().collect()));
        if chars.len() > 1 {
            out.push(("cut short by one character", chars[..end].iter().collect()));
        }
    }
    out
}

/// Every wrong-credential variant of `signed` for the carriers in `credentials`, each with
/// a description naming the carrier and the change (never the secret itself).
pub(crate) fn wrong_credentials(
    signed: &OwnedRequest,
    credentials: &[Carrier],
) -> Vec<(String, OwnedRequest)> {
    let mut out = Vec::new();
    for carrier in credentials {
        out.push((format!("{} removed", carrier.describe()), without(signed, carrier)));
        let Some(value) = value_of(signed, carrier) else { continue };
        for (change, wrong) in wrong_values(&value) {
            if let Some(r) = with_value(signed, carrier, &wrong) {
                out.push((format!("{} {change}", carrier.describe()), r));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_values_all_differ_from_the_right_one() {
        for value in ["sha256=00ff9a", "1700000000", "secret-token", "x", "Z9"] {
            for (change, wrong) in wrong_values(value) {
                assert_ne!(wrong, value, "{change}");
            }
        }
    }

    #[test]
    fn every_added_part_is_found_and_varied() {
        let signed =
            OwnedRequest::post(b"{}".to_vec()).header("x-token", "abc").path_token("path-secret");
        let signed = OwnedRequest { query: "key=k1&other=2".into(), ..signed };
        let parts = added_parts(&signed);
        assert_eq!(parts.len(), 4, "{parts:?}");
        let variants = wrong_credentials(&signed, &parts);
        assert!(
            variants.iter().any(|(d, r)| d.contains("x-token")
                && r.headers.get("x-token").is_some_and(|v| v == "abd"))
        );
        assert!(variants.iter().any(|(_, r)| r.query == "key=k2&other=2"));
        assert_eq!(stripped(&signed).query, "");
        assert!(stripped(&signed).headers.is_empty() && stripped(&signed).path_token.is_none());
    }
}
