//! A real HTTP server on 127.0.0.1 for connector tests: it answers from the fixture world
//! (the same answers the offline transport gives) and injects faults on request.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use trustfold::connectors::fixture::{answer_with_headers, World};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer from the fixture world.
    Fixture,
    /// This status with a small JSON body.
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    RateLimited { retry_after_s: u64 },
    /// Wait this long, then answer from the fixtures.
    Slow { ms: u64 },
    /// The fixture answer cut in half (Content-Length of the half: a complete, broken body).
    Truncated,
    /// A body of this many bytes, announced by Content-Length.
    Oversized { bytes: usize },
    /// A body of this many bytes, chunked (no Content-Length: the reader must count).
    OversizedChunked { bytes: usize },
    /// An HTML error page with this status.
    HtmlError { status: u16 },
    /// The fixture answer, labelled text/plain.
    WrongContentType,
    /// ArcGIS's way of failing: HTTP 200 with an error document.
    ArcgisError,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Default)]
struct State {
    /// Faults to apply, in order, to requests whose path contains the key.
    script: Vec<(String, VecDeque<Fault>)>,
    received: Vec<Received>,
}

pub struct FaultServer {
    pub url: String,
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl FaultServer {
    pub fn start() -> FaultServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let state = Arc::new(Mutex::new(State::default()));
        let (srv, st) = (server.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                let st = st.clone();
                // One thread per request, so a slow answer does not hold up the others.
                std::thread::spawn(move || handle(request, &st));
            }
        });
        FaultServer {
            url: format!("http://127.0.0.1:{port}"),
            state,
            server,
            thread: Some(thread),
        }
    }

    /// Applies `faults`, in order, to the next requests whose path contains `path_part`.
    pub fn script(&self, path_part: &str, faults: Vec<Fault>) {
        self.state
            .lock()
            .unwrap()
            .script
            .push((path_part.to_string(), faults.into()));
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(mut request: tiny_http::Request, state: &Mutex<State>) {
    let mut body = Vec::new();
    let _ = request
        .as_reader()
        .take(8 * 1024 * 1024)
        .read_to_end(&mut body);
    let method = request.method().as_str().to_string();
    let url = request.url().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_string(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let fault = {
        let mut st = state.lock().unwrap();
        st.received.push(Received {
            method: method.clone(),
            url: url.clone(),
            headers: headers.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let path = url.split('?').next().unwrap_or("").to_string();
        st.script
            .iter_mut()
            .find(|(part, faults)| path.contains(part.as_str()) && !faults.is_empty())
            .and_then(|(_, faults)| faults.pop_front())
            .unwrap_or(Fault::Fixture)
    };
    let fixture = || answer_with_headers(World::embedded(), &method, &url, &headers, &body);
    let header =
        |k: &str, v: &str| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap();
    let respond = |status: u16, ct: &str, bytes: Vec<u8>| {
        tiny_http::Response::from_data(bytes)
            .with_status_code(status)
            .with_header(header("Content-Type", ct))
    };
    let response = match fault {
        Fault::Fixture => {
            let a = fixture();
            respond(a.status, &a.content_type, a.body)
        }
        Fault::Status(code) => respond(code, "application/json", format!("{{\"error\":\"injected {code}\"}}").into_bytes()),
        Fault::RateLimited { retry_after_s } => respond(429, "application/json", b"{\"message\":\"slow down\"}".to_vec())
            .with_header(header("Retry-After", &retry_after_s.to_string())),
        Fault::Slow { ms } => {
            std::thread::sleep(Duration::from_millis(ms));
            let a = fixture();
            respond(a.status, &a.content_type, a.body)
        }
        Fault::Truncated => {
            let a = fixture();
            let half = a.body[..a.body.len() / 2].to_vec();
            respond(a.status, &a.content_type, half)
        }
        Fault::Oversized { bytes } => respond(200, "application/json", vec![b' '; bytes]),
        Fault::OversizedChunked { bytes } => {
            let reader = std::io::Cursor::new(vec![b' '; bytes]);
            let r = tiny_http::Response::new(200.into(), vec![header("Content-Type", "application/json")], reader, None, None);
            let _ = request.respond(r);
            return;
        }
        Fault::HtmlError { status } => respond(
            status,
            "text/html; charset=utf-8",
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>".to_vec(),
        ),
        Fault::ArcgisError => respond(
            200,
            "application/json",
            br#"{"error":{"code":400,"message":"Unable to complete operation.","details":["'where' parameter is invalid"]}}"#.to_vec(),
        ),
        Fault::WrongContentType => {
            let a = fixture();
            respond(200, "text/plain", a.body)
        }
    };
    let _ = request.respond(response);
}
