//! The `cio-relay` binary: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use cio_relay::cli::{self, Cli, Command, ConfigArg};
use cio_relay::config::Config;
use clap::Parser;

/// mimalloc: the per-event path allocates many small JSON nodes across threads, where glibc's
/// allocator spends a large share of the time (seen in profiles of the load benchmark). Built
/// with `no_thp`: transparent huge pages kept whole 2 MiB pages resident (peak RSS 93–111 → 54–62
/// MiB at 100,000 events/s without them).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check(arg) => load(arg).map(|config| {
            let _ = cli::check(&config, &mut std::io::stdout().lock());
        }),
        Command::Preview(args) => load(&args.config).and_then(|config| {
            let stdin = std::io::stdin().lock();
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            cli::preview(&config, args, stdin, &mut stdout).map_err(fail)
        }),
        Command::Replay(args) => load(&args.config).and_then(|config| {
            let summary = block_on(&config, cli::replay(config.clone(), args))?;
            println!(
                "replayed {} events: {} completed (delivered or dead-lettered again), {} lines skipped",
                summary.events, summary.completed, summary.skipped
            );
            Ok(())
        }),
        Command::Spool(cli::SpoolCommand::Stats(arg)) => load(arg).and_then(|config| {
            block_on(&config, async {
                cli::spool_stats(&config, &mut std::io::stdout().lock()).await
            })
        }),
        Command::Healthcheck(args) => cli::healthcheck(args).map_err(fail),
        Command::Serve(arg) => load(arg).and_then(|config| block_on(&config, cli::serve(config.clone()))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Loads the configuration; on error prints every problem and exits with 2.
fn load(arg: &ConfigArg) -> Result<Config, ExitCode> {
    cli::load(arg).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

fn fail(message: String) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

/// Starts logging and a multi-threaded runtime, and runs `fut` on it.
fn block_on<T>(
    config: &Config,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, ExitCode> {
    cio_relay::telemetry::init(config.server.log_format, &config.server.log_level);
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(fut).map_err(|e| {
        tracing::error!(error = %e, "cio-relay stopped with an error");
        fail(e)
    })
}
