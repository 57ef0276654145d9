//! `trustfold serve`: the provenance web page, the JSON API, runs and reviews over HTTP,
//! and `/metrics`. Parses its arguments, builds the server's state and hands off to
//! `web` on a tokio runtime of its own; Ctrl-C (or SIGTERM) stops it, after its runs
//! recorded their terminal events.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::datadir::Place;
use crate::exit::bad_input;
use crate::web::{self, AppState, Config, Token};

/// The address `serve` binds when not told.
pub const DEFAULT_BIND: &str = "127.0.0.1:7878";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address and port to listen on.
    #[arg(long, default_value = DEFAULT_BIND, value_name = "ADDR:PORT")]
    pub bind: String,
    /// The token changes need (default: a random one, printed in the login URL).
    #[arg(long, env = "TRUSTFOLD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve reading only: every change answers 403.
    #[arg(long)]
    pub read_only: bool,
}

pub fn run(place: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let bind: SocketAddr = args.bind.parse().map_err(|_| {
        bad_input(format!(
            "--bind {:?}: give an address and a port, e.g. 127.0.0.1:7878",
            args.bind.chars().take(60).collect::<String>()
        ))
    })?;
    let token = match args.token.as_deref() {
        Some(t) => Token::given(t)?,
        None => Token::random(),
    };
    // Nothing to show without a log: say how to make one, instead of an empty page.
    crate::project::log_for_reading(place)?;
    let config = Config {
        place: place.clone(),
        trust: trust.map(Path::to_path_buf),
        token: token.clone(),
        read_only: args.read_only,
        bind,
    };
    let state = AppState::new(config, Arc::new(crate::cmd::corrections::Corrections))?;
    // Build the projections before the first request if there are none yet.
    state.stores().catch_up(state.policy())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("serve")
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(serve(state, bind, token, args.read_only))
}

async fn serve(
    state: AppState,
    bind: SocketAddr,
    token: Token,
    read_only: bool,
) -> Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| bad_input(format!("--bind {bind}: {e}")))?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        eprintln!(
            "WARNING: serving on {local}, which is not a loopback address: anyone who can reach \
             this machine can read every entity, event and payload here (changes still need the \
             token). Bind 127.0.0.1 unless you mean it."
        );
    }
    let host = if local.ip().is_unspecified() {
        format!("127.0.0.1:{}", local.port())
    } else {
        local.to_string()
    };
    println!(
        "trustfold serving {} on http://{host}/",
        state.config().place.describe()
    );
    if read_only {
        println!("read-only: nothing can be changed through this server");
    }
    println!(
        "open http://{host}/login?token={} to review, override and start runs",
        token.reveal()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let background = tokio::spawn(web::background(state.clone(), stop_rx));
    let app = web::router(state.clone());
    let runs_state = state.clone();
    let stopping = async move {
        wait_for_signal().await;
        eprintln!("stopping: cancelling this server's runs and finishing their records");
        runs_state.runs().cancel_all("the server stopped");
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stopping)
        .await
        .context("serving HTTP")?;
    state.runs().cancel_all("the server stopped");
    let deadline = tokio::time::Instant::now() + Duration::from_millis(web::SHUTDOWN_WAIT_MS);
    while !state.runs().live().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    let _ = background.await;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
