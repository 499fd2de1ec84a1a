//! `strata`: the image half of Docker, daemonless.
//!
//! This binary is glue: it parses arguments with clap, calls the libraries, and prints.
//! Errors become one line on stderr and a non-zero exit (1, or 125 for usage errors, as
//! Docker does).

mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cmd::Cli::try_parse() {
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
