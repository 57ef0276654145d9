//! Command-line definitions and dispatch. Each subcommand lives in `cmd/<name>.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use crate::cmd;

/// trustfold: an event-sourced ingestion pipeline for real-world places.
#[derive(Debug, Parser)]
#[command(name = "trustfold", version, about, long_about = None)]
pub struct Cli {
    /// Where the log, blobs and projections live.
    #[arg(
        long,
        global = true,
        env = "TRUSTFOLD_DATA_DIR",
        default_value = "./trustfold-data"
    )]
    pub data_dir: PathBuf,

    /// Keep the log, blobs, projections and run locks in PostgreSQL
    /// (postgres://user@host/db) instead of the data dir, which then holds only settings.
    #[arg(
        long,
        global = true,
        env = "TRUSTFOLD_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,

    /// The trust policy (default: the data dir's trust.toml, else the shipped one).
    #[arg(long, global = true, env = "TRUSTFOLD_TRUST", value_name = "FILE")]
    pub trust: Option<PathBuf>,

    /// Log line format on stderr (filter with RUST_LOG).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show which connectors a query would call, and why (calls nothing).
    Plan(cmd::plan::Args),
    /// Run one ingest: plan, call the connectors, record every response.
    Ingest(cmd::ingest::Args),
    /// Append a recorded response or a dump (native, CSV, NDJSON) and process it like a run.
    Import(cmd::import::Args),
    /// Dead letters: connector calls that gave up; list or replay them.
    #[command(subcommand)]
    Dlq(cmd::dlq::DlqCommand),
    /// Replay the whole log into fresh projections with the current trust policy.
    RebuildProjections(cmd::rebuild::Args),
    /// Where each field of an entity came from, and what it beat.
    Provenance(cmd::provenance::Args),
    /// The Entity projection: list or search entities.
    Entities(cmd::entities::Args),
    /// Fields where sources of near trust disagree.
    Conflicts(cmd::entities::ConflictsArgs),
    /// The runs, newest last, with status and figures.
    Runs(cmd::runs::Args),
    /// One run's report (seed 000 Appendix C).
    Report(cmd::runs::ReportArgs),
    /// Human review: list, show, approve or reject what the pipeline could not decide.
    #[command(subcommand)]
    Review(cmd::review::ReviewCommand),
    /// Continue a run whose process died before its terminal event (see `runs`).
    Resume(cmd::resume::Args),
    /// Set (or --clear) an admin value for one field of an entity, above every source.
    Override(cmd::overrides::Args),
    /// Take a record out of an entity it was wrongly put in: it founds a new entity (or
    /// joins --into). Recorded with who and why; the matcher never undoes it.
    Split(cmd::corrections::SplitArgs),
    /// Join OTHER into ENTITY: every record of OTHER joins ENTITY, and OTHER's id and slug
    /// name ENTITY from then on. Recorded with who and why; the matcher never undoes it.
    Merge(cmd::corrections::MergeArgs),
    /// Show the log, filtered (NDJSON with --json).
    Events(cmd::events::Args),
    /// Check the hash chain, sequence contiguity and blob integrity; exit 3 if broken.
    Verify(cmd::verify::Args),
    /// Print the log's last event as SEQ:HASH, an anchor to keep elsewhere for `verify --expect`.
    Head(cmd::head::Args),
    /// Copy the data dir's log and payloads into a PostgreSQL database (resumable), verify
    /// both sides and build the projections there.
    Migrate(cmd::migrate::Args),
    /// The provenance web page, the JSON API (/api/...), runs and reviews over HTTP, /metrics.
    Serve(cmd::serve::Args),
    /// Tools for tests and benchmarks (not part of the stable interface).
    #[command(subcommand, hide = true)]
    Dev(cmd::dev::DevCommand),
}

/// Sets up `tracing` on stderr, filtered by `RUST_LOG` (default: warnings).
pub fn init_tracing(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs one command and returns its exit code.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let trust = cli.trust.as_deref();
    let place = crate::datadir::Place::new(&cli.data_dir, cli.store.as_deref())?;
    let data_dir = &place;
    match cli.command {
        Command::Plan(args) => cmd::plan::run(args),
        Command::Ingest(args) => cmd::ingest::run(data_dir, trust, args),
        Command::Import(args) => cmd::import::run(data_dir, trust, args),
        Command::Dlq(c) => cmd::dlq::run(data_dir, trust, c),
        Command::RebuildProjections(args) => cmd::rebuild::run(data_dir, trust, args),
        Command::Provenance(args) => cmd::provenance::run(data_dir, trust, args),
        Command::Entities(args) => cmd::entities::run(data_dir, trust, args),
        Command::Conflicts(args) => cmd::entities::conflicts(data_dir, trust, args),
        Command::Runs(args) => cmd::runs::run(data_dir, trust, args),
        Command::Review(c) => cmd::review::run(data_dir, trust, c),
        Command::Resume(args) => cmd::resume::run(data_dir, trust, args),
        Command::Override(args) => cmd::overrides::run(data_dir, trust, args),
        Command::Split(args) => cmd::corrections::run_split(data_dir, trust, args),
        Command::Merge(args) => cmd::corrections::run_merge(data_dir, trust, args),
        Command::Report(args) => cmd::runs::report(data_dir, trust, args),
        Command::Events(args) => cmd::events::run(data_dir, args),
        Command::Verify(args) => cmd::verify::run(data_dir, args),
        Command::Head(args) => cmd::head::run(data_dir, args),
        Command::Migrate(args) => cmd::migrate::run(data_dir, trust, args),
        Command::Serve(args) => cmd::serve::run(data_dir, trust, args),
        Command::Dev(dev) => cmd::dev::run(data_dir, dev),
    }
}
