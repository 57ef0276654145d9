//! The token rules. Reading is open (on loopback, to this machine only); changing needs
//! the token, presented as `Authorization: Bearer <token>` (scripts) or as the cookie that
//! the login URL sets (the page): HttpOnly (no script reads it), SameSite=Strict (no other
//! site's page sends it). A cookie-borne change must also come from this server's own
//! origin. `--read-only` refuses every change with 403, token or not.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::{ApiError, Params};
use super::state::AppState;

/// The cookie that carries the token for the page.
pub const COOKIE_NAME: &str = "trustfold_token";

/// How the token reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Cookie,
}

/// The token a request presents, if any (the bearer header first).
fn presented(headers: &HeaderMap) -> Option<(String, Via)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some((t.trim().to_string(), Via::Bearer));
        }
    }
    cookie(headers, COOKIE_NAME).map(|t| (t, Via::Cookie))
}

/// The value of cookie `name`, if the request carries it.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// What a page may offer: changes (a valid token and not read-only), or why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The request carries the token: forms are live.
    Write,
    /// The server runs with `--read-only`.
    ReadOnly,
    /// No token (or a wrong one): open the URL `serve` printed to log in.
    NoToken,
}

/// What `headers` may do on this server.
pub fn access(state: &AppState, headers: &HeaderMap) -> Access {
    if state.config().read_only {
        return Access::ReadOnly;
    }
    match presented(headers) {
        Some((t, _)) if state.config().token.matches(&t) => Access::Write,
        _ => Access::NoToken,
    }
}

/// Every method but GET, HEAD and OPTIONS changes something: it needs the token (401
/// without it or with a wrong one) and a server that is not `--read-only` (403). A change
/// carried by the cookie must come from this server's own origin (403 otherwise).
pub async fn require_token_to_change(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let Some((token, via)) = presented(req.headers()) else {
        return unauthorized(
            "this route changes the log and needs the token: send `Authorization: Bearer \
             <token>`, or open the login URL `trustfold serve` printed",
        );
    };
    if !state.config().token.matches(&token) {
        return unauthorized("the token does not match this server's");
    }
    if state.config().read_only {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this server runs with --read-only: nothing can be changed through it",
        )
        .into_response();
    }
    if via == Via::Cookie && !same_origin(req.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "a change carried by the login cookie must come from this server's own pages",
        )
        .into_response();
    }
    next.run(req).await
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"trustfold\""),
    );
    response
}

/// Whether the request's `Origin` (when the browser sends one) is this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // No Origin: not a cross-site browser request (browsers send it on POST/DELETE).
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        == Some(host)
}

/// On a loopback bind, only loopback host names are served: a page on another site that
/// points its own name at 127.0.0.1 (DNS rebinding) gets 403 instead of the API.
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let bind = state.config().bind;
    if bind.ip().is_loopback() {
        if let Some(host) = req.headers().get(header::HOST) {
            let ok = host
                .to_str()
                .ok()
                .map(host_name)
                .is_some_and(|h| matches!(h, "127.0.0.1" | "localhost" | "[::1]" | "::1"));
            if !ok {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "this server answers only to 127.0.0.1 or localhost",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// The host part of a `Host` header (without the port).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().map_or(host, |h| {
            // Keep the brackets' form for the comparison above.
            &host[..h.len() + 2]
        });
    }
    host.split(':').next().unwrap_or(host)
}

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    token: Option<String>,
}

/// `GET /login?token=...`: sets the cookie and sends the browser to the overview (so the
/// token leaves the address bar at once). A wrong token is 401 and sets nothing.
pub async fn login(State(state): State<AppState>, Params(p): Params<LoginParams>) -> Response {
    match p.token {
        Some(t) if state.config().token.matches(&t) => {
            let mut response = Redirect::to("/").into_response();
            let cookie = format!("{COOKIE_NAME}={t}; HttpOnly; SameSite=Strict; Path=/");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        _ => super::pages::error_page(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this login link's token does not match the server's; use the URL `trustfold serve` printed",
        )),
    }
}
