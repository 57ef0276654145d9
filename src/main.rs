//! The `trustfold` binary: parses arguments and hands off to [`trustfold::cli::run`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = trustfold::cli::Cli::parse();
    trustfold::cli::init_tracing(&cli);
    match trustfold::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(trustfold::exit::code_for(&err))
        }
    }
}
