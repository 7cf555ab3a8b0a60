//! The command line: parse (clap) -> validated config -> run the command -> exit code.
//! The only module that knows clap or reads `AZURE_*`/`M365_*`.

mod args;
mod convert;
mod generate;

use clap::Parser;

use crate::commands;
use crate::config::exit;
use crate::output::Output;

/// Parses the command line, runs the command, and returns the exit code.
pub fn run() -> i32 {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    if let args::Command::Generate(g) = &cli.command {
        return generate::print(g.kind);
    }
    init_logging(cli.verbose);
    let out = Output::detect(cli.quiet, cli.verbose > 0);
    let result = convert::command(&cli.command, &convert::process_env)
        .map_err(commands::RunError::from)
        .and_then(|command| commands::run(&command, &out));
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&e.to_string());
            e.exit_code()
        }
    }
}

fn init_logging(verbose: u8) {
    if verbose == 0 {
        return;
    }
    let level = if verbose == 1 { "info" } else { "debug" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("m365_photos={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
