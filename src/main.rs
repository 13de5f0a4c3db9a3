//! The `orderly` command: parses the command line and hands over to the library.

use std::process::ExitCode;

/// mimalloc: every request allocates small, short-lived buffers (rows,
/// strings, JSON), which it serves faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use orderly::config::{Cli, Settings, Task};
use orderly::startup::{migrate, shutdown_signal, Application};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version` print and exit 0; a bad flag or value is
        // bad configuration, which exits 1 like any other.
        Err(e) => {
            let _ = e.print();
            return match e.use_stderr() {
                true => ExitCode::FAILURE,
                false => ExitCode::SUCCESS,
            };
        }
    };
    // Held to the end: dropping it flushes the queued log lines.
    let log_writer = orderly::telemetry::init(cli.log_format());
    let result = match cli.task() {
        Task::Serve(settings) => serve(&settings).await,
        Task::Migrate(settings, how) => migrate(&settings, how).await,
        Task::Keys(settings, action) => orderly::admin::keys(&settings, &action).await,
        Task::Webhooks(settings, action) => orderly::admin::webhooks(&settings, &action).await,
        Task::Backup(settings, to) => orderly::admin::backup(&settings, &to.path).await,
    };
    // The log's last lines first, then the error that ends it.
    drop(log_writer);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orderly: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let stop = shutdown_signal();
    let app = Application::build(settings).await?;
    app.run_until(stop).await?;
    Ok(())
}
