//! The `cio-relay` binary: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser;
use cio_relay::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(arg) => match cli::load(&arg) {
            Ok(config) => {
                let _ = cli::check(&config, &mut std::io::stdout().lock());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Preview(args) => {
            let config = match cli::load(&args.config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let stdin = std::io::stdin().lock();
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            match cli::preview(&config, &args, stdin, &mut stdout) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(arg) => {
            let config = match cli::load(&arg) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            cio_relay::telemetry::init(config.server.log_format, &config.server.log_level);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(cli::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "The relay stopped with an error");
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
