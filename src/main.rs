//! `drctl`: the command-line front end. Wiring only: it parses arguments, calls the
//! library crates and turns their results into output and exit codes.
//!
//! Exit codes: 0 success; 1 warnings under `--strict`; 2 errors in the input (a runbook,
//! a param, a path). Later commands add 3 for a run that is paused or waiting.

mod cli;
mod commands;
mod config;
mod identity;
mod render;
mod trust;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        // The reader went away (`drctl audit export | head`): nothing to say to anyone;
        // exit as a process killed by SIGPIPE does.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::from(141)
        }
        Err(e) => {
            // `anyhow` only here: every library error already says what and where.
            let mut stderr = std::io::stderr().lock();
            let _ = std::io::Write::write_fmt(&mut stderr, format_args!("error: {e:#}\n"));
            ExitCode::from(2)
        }
    }
}
