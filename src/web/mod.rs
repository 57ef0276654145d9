//! `trustfold serve`: the provenance web page for auditors, the JSON API, runs and reviews
//! over HTTP, and Prometheus metrics.
//!
//! The server is thin by design: each handler parses the request, calls the same library
//! function the command line calls (`cmd::provenance::provenance_document`,
//! `cmd::entities::entities_page_document`, `cmd::review::answer`, ...) and renders the
//! result, as JSON under `/api/` or as a page. A page renders exactly the document its
//! JSON twin returns (each page links to it), so a page never computes what the command
//! line does not.
//!
//! Store work is blocking (SQLite, payload files), so handlers run it on the runtime's blocking
//! threads, at most [`BLOCKING_REQUESTS_MAX`] at once. Reads open their own connections
//! (SQLite in WAL mode: a reader never waits for the writer); the projections are caught
//! up by a background task and after each write this server makes, never by a reader.
//!
//! Every route that changes something (any method but GET and HEAD) needs the token:
//! `Authorization: Bearer <token>`, or the HttpOnly, SameSite=Strict cookie the login URL
//! sets. Without it: 401; with `--read-only`: 403.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use trustfold::web::{router, AppState, Config, Token};
//! let config = Config {
//!     place: trustfold::datadir::Place::embedded("trustfold-data".as_ref()),
//!     trust: None,
//!     token: Token::random(),
//!     read_only: false,
//!     bind: "127.0.0.1:7878".parse()?,
//! };
//! let state = AppState::new(config, Arc::new(trustfold::web::identity::NotYetAvailable))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! axum::serve(listener, router(state)).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod assets;
pub mod auth;
pub mod error;
mod html;
pub mod identity;
pub mod metrics;
pub mod pages;
pub mod runs;
pub mod state;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use error::ApiError;
pub use state::{AppState, Config, Stores, Token};

/// Largest request body accepted (a review answer, an override, a run request).
pub const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;
/// Entities or events per page when the request does not say.
pub const PAGE_SIZE_DEFAULT: usize = 50;
/// Most entities or events one page may ask for.
pub const PAGE_SIZE_MAX: usize = 500;
/// Runs running in one server at once; one more is 429.
pub const RUNS_CONCURRENT_MAX: usize = 2;
/// Runs (ended ones) this server remembers beside the projections' record of them.
pub const RUN_HISTORY_MAX: usize = 100;
/// Requests doing store work at once (each on a blocking thread); more wait their turn.
pub const BLOCKING_REQUESTS_MAX: usize = 16;
/// As-of views being folded at once (each reads the log from its start); more are 503.
pub const AS_OF_CONCURRENT_MAX: usize = 2;
/// How long a request may take, waiting for its turn included; longer is 503.
pub const REQUEST_TIMEOUT_MS: u64 = 60_000;
/// How often the background task catches the projections up with the log (when it grew).
pub const CATCH_UP_INTERVAL_MS: u64 = 1_000;
/// How long stopping the server waits for its runs to record their terminal events.
pub const SHUTDOWN_WAIT_MS: u64 = 30_000;

/// The Content-Security-Policy of every response: scripts, styles, images and requests
/// only from this server; nothing inline, no frames. With auto-escaped templates this
/// makes hostile text from a source inert twice over.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The whole application: API, pages, assets, metrics, with the token rules, the host
/// check, logging, security headers and panic catching around them.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(auth::login))
        .route("/entities", get(pages::entities))
        .route("/entities/{key}", get(pages::entity))
        .route("/events", get(pages::events))
        .route("/events/{seq}", get(pages::event))
        .route("/reviews", get(pages::reviews))
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/api/overview", get(api::overview))
        .route("/api/entities", get(api::entities))
        .route("/api/entities/{key}", get(api::entity))
        .route("/api/events", get(api::events))
        .route("/api/events/{seq}", get(api::event))
        .route("/api/conflicts", get(api::conflicts))
        .route("/api/reviews", get(api::reviews))
        .route("/api/reviews/{id}", get(api::review))
        .route("/api/reviews/{id}/approve", post(api::approve))
        .route("/api/reviews/{id}/reject", post(api::reject))
        .route("/api/overrides", post(api::override_field))
        .route("/api/splits", post(api::split))
        .route("/api/merges", post(api::merge))
        .route("/api/runs", get(api::runs).post(api::start_run))
        .route("/api/runs/{id}", get(api::run).delete(api::cancel_run))
        .route("/metrics", get(api::metrics))
        .route("/assets/{*path}", get(assets::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token_to_change,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::check_host,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe));
    routes
        .layer(middleware::from_fn(security_headers))
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// Runs `f` (store work) on a blocking thread, at most [`BLOCKING_REQUESTS_MAX`] at
/// once, within [`REQUEST_TIMEOUT_MS`]. Errors become their HTTP status.
pub(crate) async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&AppState) -> anyhow::Result<T> + Send + 'static,
{
    let st = state.clone();
    let permits = state.reads().clone();
    let work = async move {
        let permit = permits
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("the server is stopping"))?;
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&st)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal(format!(
                "the request stopped unexpectedly: {}",
                panic_text(e.into_panic_payload_or_text())
            ))),
        }
    };
    match tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), work).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::unavailable(format!(
            "the request took longer than REQUEST_TIMEOUT_MS ({REQUEST_TIMEOUT_MS} ms)"
        ))),
    }
}

/// A join error's panic message, if it carried one.
trait JoinErrorText {
    fn into_panic_payload_or_text(self) -> String;
}

impl JoinErrorText for tokio::task::JoinError {
    fn into_panic_payload_or_text(self) -> String {
        if self.is_panic() {
            let payload = self.into_panic();
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into())
        } else {
            "cancelled".into()
        }
    }
}

fn panic_text(s: String) -> String {
    s.chars().take(500).collect()
}

/// Logs each request (method, route template, status, time; never the query string, which
/// may hold the login token) and counts it in the metrics.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    tracing::info!(%method, route = %route, status, ms = (seconds * 1000.0) as u64, "request");
    state.metrics().request(&route, status, seconds);
    response
}

/// Headers on every response: the CSP, no sniffing, no referrer (a page URL never leaves
/// the machine), no framing; and no caching of anything but assets.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_asset && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A panic inside a handler: 500 with a JSON error, and the server goes on.
fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    ApiError::internal(format!(
        "the request stopped unexpectedly: {}",
        panic_text(text)
    ))
    .into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    let path: String = uri.path().chars().take(200).collect();
    let err = ApiError::not_found(format!("no such page or route: {method} {path}"));
    if uri.path().starts_with("/api/") || uri.path() == "/metrics" {
        err.into_response()
    } else {
        pages::error_page(err)
    }
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path}"),
    )
    .into_response()
}

/// Catches the projections up whenever the log grew (another process ran an ingest, or
/// this server appended), and folds new events into the metrics, every
/// [`CATCH_UP_INTERVAL_MS`], until `stop` resolves.
pub async fn background(state: AppState, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    loop {
        let st = state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let stores = st.stores();
            let Ok(store) = stores.read_log() else {
                return;
            };
            let head = trustfold_events::EventStore::head(&*store)
                .ok()
                .flatten()
                .map_or(0, |h| h.seq);
            let checkpoint = stores
                .read_projections()
                .ok()
                .and_then(|db| db.meta().ok())
                .map(|m| m.checkpoint_seq);
            if checkpoint != Some(head) {
                if let Err(e) = stores.catch_up(st.policy()) {
                    tracing::warn!(error = %format!("{e:#}"), "background catch-up");
                }
            }
            if let Err(e) = st.metrics().tail(&*store) {
                tracing::warn!(error = %format!("{e:#}"), "metrics tail");
            }
        })
        .await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(CATCH_UP_INTERVAL_MS)) => {}
            _ = stop.changed() => return,
        }
    }
}
