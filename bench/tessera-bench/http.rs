//! A lean HTTP/1.1 client: one keep-alive hyper connection per virtual client over a tokio
//! `TcpStream` (`hyper::client::conn::http1::handshake`), no pool, no redirects, no TLS.
//! Responses are read whole; the refresh token is found by a byte search, and only a non-200's
//! body is parsed as JSON (for its `error`).

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, LOCATION};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

pub fn form_type() -> HeaderValue {
    HeaderValue::from_static("application/x-www-form-urlencoded")
}

/// Where requests go: a loopback socket address, the Host header and the request path.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: HeaderValue,
    pub path: String,
    pub url: url::Url,
}

impl Target {
    /// Only loopback addresses: the harness never loads a remote machine.
    pub fn new(url: &url::Url) -> Result<Self> {
        if url.scheme() != "http" {
            bail!("{url}: only http:// URLs (loopback, no TLS)");
        }
        let addrs = url
            .socket_addrs(|| Some(80))
            .with_context(|| format!("cannot resolve {url}"))?;
        let addr = addrs
            .iter()
            .copied()
            .find(|a| a.ip().is_loopback())
            .with_context(|| format!("{url} is not a loopback address"))?;
        if addrs.iter().any(|a| !a.ip().is_loopback()) && url.host_str() != Some("localhost") {
            bail!("{url} is not a loopback address");
        }
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or("127.0.0.1")),
            None => url.host_str().unwrap_or("127.0.0.1").to_owned(),
        };
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(Self {
            addr,
            host: HeaderValue::from_str(&host).context("Host header")?,
            path,
            url: url.clone(),
        })
    }
}

/// Why a request got no HTTP answer (reported as status 0).
pub fn transport_error(kind: &str) -> String {
    format!("transport:{kind}")
}

/// One keep-alive connection, reopened when the server closes it or a request fails.
pub struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened (the first one included).
    pub connects: u64,
}

impl Conn {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            sender: None,
            connects: 0,
        }
    }

    async fn connect(&mut self) -> std::result::Result<(), String> {
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|_| transport_error("connect"))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| transport_error("handshake"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    /// POSTs a form body; answers (status, body) or a transport error, by `deadline`.
    pub async fn post_form(
        &mut self,
        body: Bytes,
        deadline: Instant,
    ) -> std::result::Result<(u16, Bytes), String> {
        let path = self.target.path.clone();
        self.request(
            Method::POST,
            &path,
            Some((form_type(), body)),
            None,
            deadline,
        )
        .await
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(HeaderValue, Bytes)>,
        bearer: Option<&str>,
        deadline: Instant,
    ) -> std::result::Result<(u16, Bytes), String> {
        self.request_answer(method, path, body, bearer, deadline)
            .await
            .map(|a| (a.status, a.body))
    }

    /// As `request`, with the `Location` header of the answer.
    pub async fn request_answer(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(HeaderValue, Bytes)>,
        bearer: Option<&str>,
        deadline: Instant,
    ) -> std::result::Result<Answer, String> {
        match tokio::time::timeout_at(deadline, self.request_inner(method, path, body, bearer))
            .await
        {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(transport_error("timeout"))
            }
        }
    }

    async fn request_inner(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(HeaderValue, Bytes)>,
        bearer: Option<&str>,
    ) -> std::result::Result<Answer, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(transport_error("connect"));
        };
        if sender.ready().await.is_err() {
            // The server closed the idle connection: one new one.
            self.connect().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(transport_error("connect"));
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.target.host.clone());
        let body = match body {
            Some((content_type, body)) => {
                req = req.header(CONTENT_TYPE, content_type);
                body
            }
            None => Bytes::new(),
        };
        if let Some(token) = bearer {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(body))
            .map_err(|_| transport_error("request"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|_| transport_error("send"))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|_| transport_error("body"))?
            .to_bytes();
        Ok(Answer {
            status,
            location,
            body,
        })
    }
}

/// An HTTP answer: status, `Location` (redirects) and body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Bytes,
}

/// What a 200 token response says about the refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotated {
    /// A new refresh token (rotating client).
    New(String),
    /// No `refresh_token` member (non-rotating client: keep the one you have).
    Absent,
    /// The body is not a token response.
    Unparsable,
}

const KEY: &[u8] = b"\"refresh_token\":\"";

/// Finds `"refresh_token":"…"` by a byte search; falls back to a JSON parse only when the
/// member is written another way (whitespace, escapes).
pub fn rotated_token(body: &[u8]) -> Rotated {
    if let Some(at) = memchr::memmem::find(body, KEY) {
        let rest = body.get(at + KEY.len()..).unwrap_or_default();
        if let Some(end) = memchr::memchr(b'"', rest) {
            let value = rest.get(..end).unwrap_or_default();
            if !value.contains(&b'\\')
                && let Ok(s) = std::str::from_utf8(value)
            {
                return Rotated::New(s.to_owned());
            }
        }
    }
    if memchr::memmem::find(body, b"refresh_token").is_none() {
        // Cheap check that this is a token response at all.
        return if memchr::memmem::find(body, b"access_token").is_some()
            || memchr::memmem::find(body, b"id_token").is_some()
        {
            Rotated::Absent
        } else {
            Rotated::Unparsable
        };
    }
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        refresh_token: Option<String>,
    }
    match serde_json::from_slice::<TokenResponse>(body) {
        Ok(TokenResponse {
            refresh_token: Some(rt),
        }) => Rotated::New(rt),
        Ok(TokenResponse {
            refresh_token: None,
        }) => Rotated::Absent,
        Err(_) => Rotated::Unparsable,
    }
}

/// The `error` member of an error body (parsed as JSON: only for non-200s).
pub fn error_code(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: Option<String>,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .unwrap_or_else(|| "(no error field)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rotated_token() {
        let body =
            br#"{"access_token":"a.b.c","refresh_token":"v1.abc_DEF-9","token_type":"Bearer"}"#;
        assert_eq!(rotated_token(body), Rotated::New("v1.abc_DEF-9".into()));
        let spaced = br#"{ "access_token": "x", "refresh_token": "r2" }"#;
        assert_eq!(rotated_token(spaced), Rotated::New("r2".into()));
        let none = br#"{"access_token":"x","expires_in":86400}"#;
        assert_eq!(rotated_token(none), Rotated::Absent);
        assert_eq!(rotated_token(b"<html>"), Rotated::Unparsable);
        assert_eq!(error_code(br#"{"error":"invalid_grant"}"#), "invalid_grant");
        assert_eq!(error_code(b"oops"), "(no error field)");
    }
}
