//! `strata`: the image half of Docker, daemonless.
//!
//! This binary is glue: it parses arguments with clap, calls the libraries, and prints.
//! Errors become one line on stderr and a non-zero exit (1, or 125 for usage errors, as
//! Docker does).

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = cmd::Cli::command()
        .try_get_matches()
        .and_then(|m| cmd::Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (mut cli, matches) = match parsed {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 125,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // `--root` typed on the command line (not $STRATA_ROOT) names the registry's own
    // root for `strata registry …`.
    cli.root_on_command_line =
        matches.value_source("root") == Some(clap::parser::ValueSource::CommandLine);
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) if is_broken_pipe(&e) => {
            // The reader went away (`strata image ls | head`): stop quietly, as a Go
            // program killed by SIGPIPE would, without an error message.
            ExitCode::from(141)
        }
        Err(e) => {
            let msg = cmd::error_line(&e);
            // Commands that already reported their errors exit with an empty message.
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            ExitCode::from(cmd::exit_code(&e))
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
