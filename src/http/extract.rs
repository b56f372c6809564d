//! Request parsing shared by the OAuth endpoints: form or JSON bodies into raw parameter pairs
//! (so repeated names are caught), and HTTP Basic client credentials (RFC 6749 §2.3.1).

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{Deserializer, MapAccess, Visitor};

use crate::grants::{OAuthError, Params};

/// Parses an `application/x-www-form-urlencoded` or `application/json` body.
pub fn body_params(headers: &HeaderMap, body: &Bytes) -> Result<Params, OAuthError> {
    body_pairs(headers, body).and_then(Params::from_pairs)
}

/// The raw parameter pairs of a form or JSON body, repeated names kept.
pub fn body_pairs(headers: &HeaderMap, body: &Bytes) -> Result<Pairs, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => Ok(form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Some(v.into_owned())))
            .collect()),
        "application/json" => {
            let mut de = serde_json::Deserializer::from_slice(body);
            de.deserialize_map(PairsVisitor)
                .and_then(|pairs| de.end().map(|_| pairs))
                .map_err(|e| match e.classify() {
                    serde_json::error::Category::Data => OAuthError::invalid_request(e.to_string()),
                    _ => OAuthError::invalid_request("The request body is not valid JSON."),
                })
        }
        "" if body.is_empty() => Ok(Vec::new()),
        _ => Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded or application/json.",
        )),
    }
}

type Pairs = Vec<(String, Option<String>)>;

/// Reads a JSON object as ordered pairs, keeping repeated keys (serde_json's maps would drop
/// them). Strings stay strings, numbers and booleans become their text, `null` is omitted.
struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Vec<(String, Option<String>)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object of parameters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut out = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            let value = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => {
                    return Err(A::Error::custom(format!(
                        "Parameter {key} must be a string."
                    )));
                }
            };
            out.push((key, value));
        }
        Ok(out)
    }
}

/// The Basic credentials in `Authorization`, if that is the scheme used. Both halves are
/// form-urlencoded before base64 (RFC 6749 §2.3.1).
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("Malformed Basic credentials.");
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    // No client id or secret has one, and PostgreSQL cannot store one (see `Params`).
    if id.is_empty() || id.contains('\0') || secret.contains('\0') {
        return Err(malformed());
    }
    Ok(Some((id, secret)))
}

fn form_decode(s: &str) -> Option<String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        h
    }

    #[test]
    fn json_keeps_repeated_keys_so_they_can_be_refused() {
        let body = Bytes::from_static(br#"{"scope":"a","scope":"b"}"#);
        let err = body_params(&headers("application/json"), &body).unwrap_err();
        assert!(err.description.contains("more than once"));
    }

    #[test]
    fn json_nulls_and_empty_strings_are_omitted() {
        let body = Bytes::from_static(br#"{"scope":null,"audience":"","grant_type":"x","n":5}"#);
        let p = body_params(&headers("application/json; charset=utf-8"), &body).unwrap();
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("audience"), None);
        assert_eq!(p.get("grant_type"), Some("x"));
        assert_eq!(p.get("n"), Some("5"));
    }

    #[test]
    fn other_content_types_are_refused() {
        let err = body_params(&headers("text/plain"), &Bytes::from_static(b"a=b")).unwrap_err();
        assert!(err.description.contains("Content-Type"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let token = STANDARD.encode("my%20client:s%3Acret+x");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&h).unwrap(),
            Some(("my client".to_string(), "s:cret x".to_string()))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(basic_credentials(&h).is_err());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_credentials(&h).unwrap(), None);
    }
}

/// Where a request came from: the client IP and the `User-Agent` header (empty if absent).
pub fn request_context(
    ip: ClientIp,
    headers: &HeaderMap,
) -> crate::grants::refresh_token::RequestContext {
    crate::grants::refresh_token::RequestContext {
        ip: ip.0,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    }
}

/// The client's IP: the socket peer, or — only when the peer is a trusted proxy
/// (`TESSERA_TRUSTED_PROXIES`) — the nearest untrusted address in `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

impl axum::extract::FromRequestParts<super::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &super::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        Ok(Self(client_ip(
            peer,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

pub fn client_ip(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod ip_tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.0.0.2"),
        );
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            "203.0.113.9".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &h, &trusted), stranger);
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
    }
}

/// What every client-authenticated OAuth endpoint (token, revoke) starts from: the Basic
/// credentials, the body's parameters and where the request came from.
pub struct OAuthRequest {
    pub basic: Option<(String, String)>,
    pub params: crate::grants::Params,
    pub ctx: crate::grants::refresh_token::RequestContext,
}

impl OAuthRequest {
    /// Parses the request; a failure is already the RFC 6749 §5.2 answer.
    pub fn parse(
        ip: ClientIp,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Self, super::error::TokenError> {
        use super::error::TokenError;
        let basic = basic_credentials(headers).map_err(|e| TokenError::new(e, true))?;
        let params = body_params(headers, body).map_err(|e| TokenError::new(e, basic.is_some()))?;
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(Self {
            basic,
            params,
            ctx: crate::grants::refresh_token::RequestContext {
                ip: ip.0,
                user_agent,
            },
        })
    }

    pub fn tried_basic(&self) -> bool {
        self.basic.is_some()
    }
}
