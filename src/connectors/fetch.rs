//! Calling one connector: attempts, retries with backoff and jitter, `Retry-After`,
//! paging, error classes and fingerprints. Every attempt's outcome is sent to the run as
//! a [`FetchEvent`] the moment it happens, so the log records failures as they occur.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use trustfold_events::ErrorClass;

use super::secrets::Secrets;
use super::transport::{RawResponse, Transport, TransportFailure, RESPONSE_BYTES_MAX};
use super::{connector, BodyError, ConnectorRequest};
use crate::planner::spec;
use crate::source::ConnectorId;

/// Attempts per request before it is dead-lettered.
pub const ATTEMPTS_MAX: u32 = 3;
/// First retry delay; doubles per attempt, with full jitter.
pub const BACKOFF_BASE_MS: u64 = 250;
/// Longest delay between attempts.
pub const BACKOFF_MAX_MS: u64 = 8_000;
/// Longest `Retry-After` honoured; a server asking for more is given up on for this run.
pub const RETRY_AFTER_MAX_MS: u64 = 30_000;
/// Most pages followed for one request (ArcGIS paging).
pub const PAGES_MAX: u32 = 20;

/// Retry and size policy; defaults are the named constants, tests may tighten them through
/// the environment (`TRUSTFOLD_TIMEOUT_MS`, `TRUSTFOLD_ATTEMPTS_MAX`, `TRUSTFOLD_BACKOFF_MS`,
/// `TRUSTFOLD_RESPONSE_BYTES_MAX`).
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    pub attempts_max: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub retry_after_max_ms: u64,
    /// Overrides every connector's own timeout when set.
    pub timeout_ms: Option<u64>,
    pub response_bytes_max: usize,
    pub pages_max: u32,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            attempts_max: ATTEMPTS_MAX,
            backoff_base_ms: BACKOFF_BASE_MS,
            backoff_max_ms: BACKOFF_MAX_MS,
            retry_after_max_ms: RETRY_AFTER_MAX_MS,
            timeout_ms: None,
            response_bytes_max: RESPONSE_BYTES_MAX,
            pages_max: PAGES_MAX,
        }
    }
}

impl FetchPolicy {
    /// The defaults, adjusted by the environment. A malformed value is an error naming it.
    pub fn from_env() -> Result<FetchPolicy, String> {
        fn var<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("environment variable {name}={v:?} is not a number")),
                Err(_) => Ok(None),
            }
        }
        let mut p = FetchPolicy::default();
        if let Some(v) = var::<u32>("TRUSTFOLD_ATTEMPTS_MAX")? {
            p.attempts_max = v.clamp(1, 10);
        }
        if let Some(v) = var::<u64>("TRUSTFOLD_BACKOFF_MS")? {
            p.backoff_base_ms = v;
        }
        p.timeout_ms = var::<u64>("TRUSTFOLD_TIMEOUT_MS")?.map(|v| v.max(1));
        if let Some(v) = var::<usize>("TRUSTFOLD_RESPONSE_BYTES_MAX")? {
            p.response_bytes_max = v.min(trustfold_events::limits::PAYLOAD_BYTES_MAX);
        }
        Ok(p)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff_base_ms
            .saturating_mul(1 << (attempt - 1).min(16));
        let capped = exp.min(self.backoff_max_ms);
        // Full jitter between half and all of the delay, so retries of parallel runs spread.
        let jittered = capped / 2 + fastrand::u64(0..=capped / 2);
        Duration::from_millis(jittered)
    }
}

/// One thing that happened while calling a connector.
#[derive(Clone, Debug)]
pub enum FetchEvent {
    Responded {
        request: ConnectorRequest,
        status: u16,
        latency_ms: u64,
        attempt: u32,
        content_type: Option<String>,
        body: Vec<u8>,
        records: u64,
        cost_usd: f64,
    },
    Failed {
        request: ConnectorRequest,
        class: ErrorClass,
        status: Option<u16>,
        message: String,
        fingerprint: String,
        attempt: u32,
        latency_ms: u64,
        will_retry: bool,
        retry_after_ms: Option<u64>,
        /// Bytes received that could not be used (kept for audit).
        body: Option<Vec<u8>>,
    },
    DeadLettered {
        request: ConnectorRequest,
        class: ErrorClass,
        fingerprint: String,
        attempts: u32,
        last_message: String,
    },
    /// A paid call was not made: it would have taken the run over its budget.
    BudgetDenied {
        request: ConnectorRequest,
        cost_usd: f64,
        spent_usd: f64,
        budget_usd: f64,
    },
}

/// A run's budget, shared by its connectors: checked before each paid call. Once a call
/// is refused, no further paid call of the run is made, so the run stays within it.
#[derive(Debug)]
pub struct Budget {
    budget_usd: f64,
    state: std::sync::Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    /// Reserved for calls made or in flight.
    spent_usd: f64,
    exhausted: bool,
}

/// Why a paid call was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverBudget {
    pub spent_usd: f64,
    pub budget_usd: f64,
}

/// Slack for float sums of cents: a call that lands exactly on the budget is allowed.
const BUDGET_EPSILON_USD: f64 = 1e-9;

impl Budget {
    pub fn new(budget_usd: f64) -> Budget {
        Budget::with_spent(budget_usd, 0.0)
    }

    /// A budget of which `spent_usd` is already spent (a resumed run).
    pub fn with_spent(budget_usd: f64, spent_usd: f64) -> Budget {
        Budget {
            budget_usd,
            state: std::sync::Mutex::new(BudgetState {
                spent_usd,
                exhausted: false,
            }),
        }
    }

    /// Reserves `cost_usd` for a call, or refuses it (and every later one) when it would
    /// take the spending over the budget.
    pub fn reserve(&self, cost_usd: f64) -> Result<(), OverBudget> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.exhausted || s.spent_usd + cost_usd > self.budget_usd + BUDGET_EPSILON_USD {
            s.exhausted = true;
            return Err(OverBudget {
                spent_usd: s.spent_usd,
                budget_usd: self.budget_usd,
            });
        }
        s.spent_usd += cost_usd;
        Ok(())
    }

    /// Gives back a reservation for a call that was not billed (it failed).
    pub fn refund(&self, cost_usd: f64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.spent_usd = (s.spent_usd - cost_usd).max(0.0);
    }
}

/// The summary of one connector's calls in a run.
#[derive(Clone, Debug, Default)]
pub struct ConnectorOutcome {
    pub ok: bool,
    pub latency_ms: u64,
    pub records: u64,
    pub attempts: u32,
    pub cost_usd: f64,
    pub error: Option<String>,
}

/// A normalised hash of an error: digits and hex runs removed, so "timeout after 3001 ms"
/// and "timeout after 2999 ms" group together.
pub fn fingerprint(
    id: ConnectorId,
    class: ErrorClass,
    status: Option<u16>,
    message: &str,
) -> String {
    let mut norm = String::with_capacity(message.len());
    let mut last_hash = false;
    for c in message.to_lowercase().chars() {
        if c.is_ascii_digit() {
            if !last_hash {
                norm.push('#');
            }
            last_hash = true;
        } else {
            norm.push(c);
            last_hash = false;
        }
    }
    let key = format!(
        "{}|{}|{}|{}",
        id.as_str(),
        class.as_str(),
        status.unwrap_or(0),
        norm
    );
    blake3::hash(key.as_bytes()).to_hex()[..16].to_string()
}

enum Attempt {
    Success {
        response: RawResponse,
        records: u64,
        next: Option<ConnectorRequest>,
    },
    Failure {
        class: ErrorClass,
        status: Option<u16>,
        message: String,
        retryable: bool,
        retry_after: Option<Duration>,
        body: Option<Vec<u8>>,
    },
}

async fn attempt_once(
    transport: &Transport,
    secrets: &Secrets,
    policy: &FetchPolicy,
    req: &ConnectorRequest,
) -> Attempt {
    let c = connector(req.connector);
    let timeout = Duration::from_millis(policy.timeout_ms.unwrap_or(c.timeout_ms()));
    let response = match transport
        .send(req, secrets, timeout, policy.response_bytes_max)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let (class, retryable) = match e.failure {
                TransportFailure::Timeout => (ErrorClass::Timeout, true),
                TransportFailure::Connect => (ErrorClass::Connect, true),
                TransportFailure::TooLarge => (ErrorClass::TooLarge, false),
                TransportFailure::Body => (ErrorClass::Decode, true),
                TransportFailure::Other => (ErrorClass::Other, false),
            };
            return Attempt::Failure {
                class,
                status: None,
                message: e.message,
                retryable,
                retry_after: None,
                body: None,
            };
        }
    };
    let status = response.status;
    let snippet =
        |body: &[u8]| secrets.scrub(&String::from_utf8_lossy(&body[..body.len().min(200)]));
    if status == 429 {
        return Attempt::Failure {
            class: ErrorClass::RateLimited,
            status: Some(status),
            message: format!("HTTP 429 Too Many Requests: {}", snippet(&response.body)),
            retryable: true,
            retry_after: response.retry_after,
            body: None,
        };
    }
    if status >= 500 {
        return Attempt::Failure {
            class: ErrorClass::Http5xx,
            status: Some(status),
            message: format!("HTTP {status}: {}", snippet(&response.body)),
            retryable: true,
            retry_after: response.retry_after,
            body: None,
        };
    }
    if status == 401 || status == 403 {
        return Attempt::Failure {
            class: ErrorClass::Auth,
            status: Some(status),
            message: format!(
                "HTTP {status}: the API refused the key (set {})",
                super::secrets::key_env(req.connector).unwrap_or("no key variable")
            ),
            retryable: false,
            retry_after: None,
            body: None,
        };
    }
    if !(200..300).contains(&status) {
        return Attempt::Failure {
            // 3xx here means redirects beyond the client's limit; 1xx should never arrive.
            class: if status >= 400 {
                ErrorClass::Http4xx
            } else {
                ErrorClass::Other
            },
            status: Some(status),
            message: format!("HTTP {status}: {}", snippet(&response.body)),
            retryable: status == 408,
            retry_after: None,
            body: None,
        };
    }
    match c.inspect(req, response.content_type.as_deref(), &response.body) {
        Ok(ins) => Attempt::Success {
            records: ins.records,
            next: ins.next,
            response,
        },
        Err(BodyError::Decode(m)) => Attempt::Failure {
            class: ErrorClass::Decode,
            status: Some(status),
            message: secrets.scrub(&m),
            retryable: true,
            retry_after: None,
            body: Some(response.body),
        },
        Err(BodyError::Api {
            status: api,
            message,
        }) => Attempt::Failure {
            class: if api >= 500 {
                ErrorClass::Http5xx
            } else {
                ErrorClass::Http4xx
            },
            status: Some(api),
            message: format!(
                "API error {api} in an HTTP {status} body: {}",
                secrets.scrub(&message)
            ),
            retryable: api >= 500,
            retry_after: None,
            body: Some(response.body),
        },
    }
}

/// Calls one connector: every request, every page, with retries; reports each attempt on
/// `sink` as it happens. Returns the connector's figures for the run report.
pub async fn fetch_connector(
    transport: &Transport,
    secrets: &Secrets,
    policy: &FetchPolicy,
    budget: &Budget,
    requests: Vec<ConnectorRequest>,
    sink: &mpsc::Sender<FetchEvent>,
) -> ConnectorOutcome {
    let mut outcome = ConnectorOutcome {
        ok: true,
        ..ConnectorOutcome::default()
    };
    let mut queue: std::collections::VecDeque<ConnectorRequest> = requests.into();
    let mut pages = 0u32;
    while let Some(req) = queue.pop_front() {
        let mut attempt = 1u32;
        // What a call costs: billed on live transports only (fixtures are free).
        let call_cost_usd = match transport {
            Transport::Http { .. } => spec(req.connector).cost_usd,
            Transport::Fixture { .. } => 0.0,
        };
        loop {
            if call_cost_usd > 0.0 {
                if let Err(over) = budget.reserve(call_cost_usd) {
                    outcome.error = Some(format!(
                        "budget: a call of ${call_cost_usd:.4} would exceed the run's budget \
                         of ${:.4} (${:.4} spent); no further paid calls",
                        over.budget_usd, over.spent_usd
                    ));
                    let _ = sink
                        .send(FetchEvent::BudgetDenied {
                            request: req.clone(),
                            cost_usd: call_cost_usd,
                            spent_usd: over.spent_usd,
                            budget_usd: over.budget_usd,
                        })
                        .await;
                    return outcome;
                }
            }
            let started = Instant::now();
            let result = attempt_once(transport, secrets, policy, &req).await;
            let latency_ms = started.elapsed().as_millis() as u64;
            outcome.latency_ms += latency_ms;
            outcome.attempts += 1;
            match result {
                Attempt::Success {
                    response,
                    records,
                    next,
                } => {
                    let cost_usd = call_cost_usd;
                    outcome.records += records;
                    outcome.cost_usd += cost_usd;
                    if let Some(next) = next {
                        pages += 1;
                        if pages < policy.pages_max {
                            queue.push_back(next);
                        }
                    }
                    let ev = FetchEvent::Responded {
                        request: req.clone(),
                        status: response.status,
                        latency_ms,
                        attempt,
                        content_type: response.content_type,
                        body: response.body,
                        records,
                        cost_usd,
                    };
                    if sink.send(ev).await.is_err() {
                        return outcome; // the run stopped listening (cancelled)
                    }
                    break;
                }
                Attempt::Failure {
                    class,
                    status,
                    message,
                    retryable,
                    retry_after,
                    body,
                } => {
                    // A failed call is not billed.
                    budget.refund(call_cost_usd);
                    let message = secrets.scrub(&message);
                    let fp = fingerprint(req.connector, class, status, &message);
                    let too_long = retry_after
                        .is_some_and(|d| d.as_millis() as u64 > policy.retry_after_max_ms);
                    let will_retry = retryable && attempt < policy.attempts_max && !too_long;
                    let delay = if will_retry {
                        Some(retry_after.unwrap_or_else(|| policy.backoff(attempt)))
                    } else {
                        None
                    };
                    let message = if too_long {
                        format!(
                            "{message} (Retry-After {} ms exceeds RETRY_AFTER_MAX_MS {})",
                            retry_after.map_or(0, |d| d.as_millis()),
                            policy.retry_after_max_ms
                        )
                    } else {
                        message
                    };
                    let failed = FetchEvent::Failed {
                        request: req.clone(),
                        class,
                        status,
                        message: message.clone(),
                        fingerprint: fp.clone(),
                        attempt,
                        latency_ms,
                        will_retry,
                        retry_after_ms: delay.map(|d| d.as_millis() as u64),
                        body,
                    };
                    if sink.send(failed).await.is_err() {
                        return outcome;
                    }
                    match delay {
                        Some(d) => {
                            tokio::time::sleep(d).await;
                            attempt += 1;
                        }
                        None => {
                            outcome.ok = false;
                            outcome.error = Some(format!("{}: {message}", class.as_str()));
                            let dead = FetchEvent::DeadLettered {
                                request: req.clone(),
                                class,
                                fingerprint: fp,
                                attempts: attempt,
                                last_message: message,
                            };
                            if sink.send(dead).await.is_err() {
                                return outcome;
                            }
                            break;
                        }
                    }
                }
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_group_errors_that_differ_only_in_numbers() {
        let a = fingerprint(
            ConnectorId::Serper,
            ErrorClass::Timeout,
            None,
            "no response within 3001 ms",
        );
        let b = fingerprint(
            ConnectorId::Serper,
            ErrorClass::Timeout,
            None,
            "no response within 250 ms",
        );
        let c = fingerprint(
            ConnectorId::Serper,
            ErrorClass::Connect,
            None,
            "no response within 250 ms",
        );
        let d = fingerprint(
            ConnectorId::OpenStreetMap,
            ErrorClass::Timeout,
            None,
            "no response within 250 ms",
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let p = FetchPolicy {
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
            ..FetchPolicy::default()
        };
        for _ in 0..50 {
            let d1 = p.backoff(1).as_millis() as u64;
            let d3 = p.backoff(3).as_millis() as u64;
            let d9 = p.backoff(9).as_millis() as u64;
            assert!((50..=100).contains(&d1), "{d1}");
            assert!((200..=400).contains(&d3), "{d3}");
            assert!((500..=1000).contains(&d9), "{d9}");
        }
    }
}
