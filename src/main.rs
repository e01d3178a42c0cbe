//! The `adk-llm-proxy` binary: flags, settings, logging, serve.

use std::io::IsTerminal;
use std::process::ExitCode;

use adk_llm_proxy::api::AppState;
use adk_llm_proxy::cli::{Cli, Command, normalize_args};
use adk_llm_proxy::{config, server};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cli.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let config = match config::load(&cli.config, &cli.overrides()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("adk-llm-proxy: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    let state = match AppState::new(config.clone()) {
        Ok(state) => state,
        Err(error) => {
            eprintln!("adk-llm-proxy: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Check) = cli.command {
        println!(
            "{}: OK (default provider '{}', model '{}')",
            config.source.display(),
            config.default_provider,
            config.default_model
        );
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("adk-llm-proxy: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match server::bind(&config).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!(
                    "adk-llm-proxy: cannot listen on {}:{}: {error}",
                    config.server.host, config.server.port
                );
                return ExitCode::FAILURE;
            }
        };
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(
            %address,
            provider = %config.default_provider,
            model = %config.default_model,
            base_url = %config.default_provider().base_url,
            "adk-llm-proxy listening; point clients at http://{address}/v1"
        );
        match server::serve(listener, state).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("adk-llm-proxy: server error: {error}");
                ExitCode::FAILURE
            }
        }
    })
}
