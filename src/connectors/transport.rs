//! How a request reaches its answer: HTTP (reqwest), or the recorded fixture world.

use std::time::Duration;

use super::fixture::{self, World};
use super::secrets::Secrets;
use super::{connector, Auth, ConnectorRequest, Method};
use crate::source::ConnectorId;

/// Largest response body read from any API; past it the call fails as `too_large`
/// (a whole council layer is a few MB). Overridable for tests.
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A response as received.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// `Retry-After`, when the server sent one we could read.
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Why no response was received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportFailure {
    Timeout,
    Connect,
    TooLarge,
    /// The body ended early or could not be read.
    Body,
    Other,
}

#[derive(Clone, Debug)]
pub struct TransportError {
    pub failure: TransportFailure,
    /// Already scrubbed of secrets.
    pub message: String,
}

/// Where one connector's requests go.
#[derive(Clone, Debug)]
pub enum Transport {
    Http {
        client: reqwest::Client,
        base_url: String,
    },
    Fixture {
        world: &'static World,
    },
}

impl Transport {
    /// `http` or `fixture`, as recorded in events and shown in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Http { .. } => "http",
            Transport::Fixture { .. } => "fixture",
        }
    }

    /// The base URL requests are built against.
    pub fn base_url(&self, id: ConnectorId) -> String {
        match self {
            Transport::Http { base_url, .. } => base_url.clone(),
            Transport::Fixture { .. } => connector(id).default_base_url().to_string(),
        }
    }

    /// Sends one request, reading at most `bytes_max` of body within `timeout`.
    pub async fn send(
        &self,
        req: &ConnectorRequest,
        secrets: &Secrets,
        timeout: Duration,
        bytes_max: usize,
    ) -> Result<RawResponse, TransportError> {
        match self {
            Transport::Fixture { world } => {
                let r = fixture::answer_with_headers(
                    world,
                    req.method.as_str(),
                    &req.path_and_query(),
                    &req.headers,
                    req.body.as_deref().unwrap_or("").as_bytes(),
                );
                if r.body.len() > bytes_max {
                    return Err(TransportError {
                        failure: TransportFailure::TooLarge,
                        message: format!(
                            "response of {} bytes exceeds the limit of {bytes_max} bytes",
                            r.body.len()
                        ),
                    });
                }
                Ok(RawResponse {
                    status: r.status,
                    content_type: Some(r.content_type),
                    retry_after: None,
                    body: r.body,
                })
            }
            Transport::Http { client, .. } => {
                send_http(client, req, secrets, timeout, bytes_max).await
            }
        }
    }
}

fn classify(err: &reqwest::Error) -> TransportFailure {
    if err.is_timeout() {
        TransportFailure::Timeout
    } else if err.is_connect() {
        TransportFailure::Connect
    } else if err.is_body() || err.is_decode() {
        TransportFailure::Body
    } else {
        TransportFailure::Other
    }
}

async fn send_http(
    client: &reqwest::Client,
    req: &ConnectorRequest,
    secrets: &Secrets,
    timeout: Duration,
    bytes_max: usize,
) -> Result<RawResponse, TransportError> {
    let fail = |failure, msg: String| TransportError {
        failure,
        message: secrets.scrub(&msg),
    };
    let mut url = url::Url::parse(&req.url)
        .map_err(|e| fail(TransportFailure::Other, format!("bad URL {}: {e}", req.url)))?;
    let mut builder_headers = req.headers.clone();
    match connector(req.connector).auth() {
        Auth::None => {}
        Auth::Header { name, .. } => {
            if let Some(key) = secrets.key(req.connector) {
                builder_headers.push((name.to_string(), key.to_string()));
            }
        }
        Auth::Query { name, .. } => {
            if let Some(key) = secrets.key(req.connector) {
                url.query_pairs_mut().append_pair(name, key);
            }
        }
    }
    let mut builder = match req.method {
        Method::Get => client.get(url),
        Method::Post => client.post(url),
    };
    for (k, v) in &builder_headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    if let Some(body) = &req.body {
        builder = builder.body(body.clone());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let response = tokio::time::timeout_at(deadline, builder.send())
        .await
        .map_err(|_| {
            fail(
                TransportFailure::Timeout,
                format!("no response within {} ms", timeout.as_millis()),
            )
        })?
        // without_url: reqwest puts the URL in errors, and a URL may carry a key.
        .map_err(|e| fail(classify(&e), e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    if let Some(len) = response.content_length() {
        if len as usize > bytes_max {
            return Err(fail(
                TransportFailure::TooLarge,
                format!("Content-Length {len} exceeds the limit of {bytes_max} bytes"),
            ));
        }
    }
    let mut body = Vec::new();
    let mut response = response;
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .map_err(|_| {
                fail(
                    TransportFailure::Timeout,
                    format!(
                        "body not complete within {} ms ({} bytes read)",
                        timeout.as_millis(),
                        body.len()
                    ),
                )
            })?
            .map_err(|e| {
                fail(
                    TransportFailure::Body,
                    format!(
                        "response body ended early after {} bytes: {}",
                        body.len(),
                        e.without_url()
                    ),
                )
            })?;
        match chunk {
            Some(bytes) => {
                if body.len() + bytes.len() > bytes_max {
                    return Err(fail(
                        TransportFailure::TooLarge,
                        format!("response body exceeds the limit of {bytes_max} bytes"),
                    ));
                }
                body.extend_from_slice(&bytes);
            }
            None => break,
        }
    }
    Ok(RawResponse {
        status,
        content_type,
        retry_after,
        body,
    })
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
