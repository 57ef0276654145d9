//! The `trustfold` binary: parses arguments and hands off to [`trustfold::cli::run`].

use std::process::ExitCode;

use clap::Parser;

/// Exit code of a process whose output pipe was closed (128 + SIGPIPE), as `head` users expect.
const BROKEN_PIPE_EXIT_CODE: i32 = 141;

fn main() -> ExitCode {
    // `trustfold provenance X | head` closes stdout early: that is the reader's choice,
    // not a crash. Rust ignores SIGPIPE, so printing fails; end quietly instead.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE_EXIT_CODE);
        }
        default_hook(info);
    }));
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
