//! The `adk-llm-proxy` binary: flags, settings, logging, serve, reload on SIGHUP.

use std::io::IsTerminal;
use std::process::ExitCode;

use adk_llm_proxy::agent::config::LoadError;
use adk_llm_proxy::api::{AppState, Reloadable};
use adk_llm_proxy::cli::{Cli, Command, normalize_args};
use adk_llm_proxy::config::{self, LogFormat};
use adk_llm_proxy::server;
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    // The log format is a setting; peek at it before logging starts (errors are reported below).
    let format = config::load_settings(&cli.config)
        .map(|s| s.server.log_format)
        .unwrap_or_default();
    init_logging(&cli.log_level, cli.log_format.unwrap_or(format));

    let config = match config::load(&cli.config, &cli.overrides()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("adk-llm-proxy: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Check) = cli.command {
        let agents = adk_llm_proxy::llm::ProviderRegistry::from_config(&config)
            .map_err(LoadError::Setup)
            .and_then(|registry| Reloadable::build(&config, &registry))
            .map(|built| built.agents);
        return match agents {
            Ok(agents) => {
                let top: Vec<&str> = agents.top_level().map(|(name, _)| name).collect();
                println!(
                    "{}: OK (default provider '{}', model '{}'; {} agents from '{}', top-level: {})",
                    config.source.display(),
                    config.default_provider,
                    config.default_model,
                    agents.len(),
                    config.agents.dir,
                    if top.is_empty() {
                        "none".to_string()
                    } else {
                        top.join(", ")
                    }
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("adk-llm-proxy: configuration error: {error}");
                ExitCode::from(2)
            }
        };
    }

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .on_thread_park(adk_llm_proxy::allocator::on_worker_park);
    // `server.worker_threads`: 0 leaves tokio's default, one worker per CPU core.
    if config.server.worker_threads > 0 {
        builder.worker_threads(config.server.worker_threads);
    }
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("adk-llm-proxy: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        #[cfg(feature = "otel")]
        adk_llm_proxy::observe::otel::install_from_env();
        let state = match AppState::build(config.clone()).await {
            Ok(state) => state,
            Err(error) => {
                eprintln!("adk-llm-proxy: start-up error: {error}");
                return ExitCode::from(2);
            }
        };
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
        spawn_reload_on_sighup(state.clone(), cli);
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(
            %address,
            workers = tokio::runtime::Handle::current().metrics().num_workers(),
            provider = %config.default_provider,
            model = %config.default_model,
            base_url = %adk_llm_proxy::config::providers::redact_url(&config.default_provider().base_url),
            "adk-llm-proxy listening; point clients at http://{address}/v1"
        );
        match server::serve(listener, state).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("adk-llm-proxy: server error: {error}");
                ExitCode::FAILURE
            }
        }
    });
    // Work stuck in a blocking thread (a tool reading from a pipe that never ends) must not keep
    // the process alive after the server is done: give it a moment, then exit regardless.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// SIGHUP re-reads the settings file and swaps the client keys (and their limits), the pipeline
/// stages and the agents through [`AppState::reload`]; open streams are untouched. A broken file
/// or agent is reported and the running configuration kept whole.
fn spawn_reload_on_sighup(state: AppState, cli: Cli) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangup.recv().await.is_some() {
            let reloaded = config::load(&cli.config, &cli.overrides())
                .map_err(|e| e.to_string())
                .and_then(|fresh| state.reload(fresh).map_err(|e| e.to_string()));
            match reloaded {
                Ok(counts) => {
                    state.note_reload(None);
                    let file = cli.config.display();
                    tracing::info!(keys = counts.keys, "reloaded {file} on SIGHUP");
                    tracing::info!("reloaded the pipeline stages on SIGHUP");
                    tracing::info!(agents = counts.agents, "reloaded agents on SIGHUP");
                }
                Err(error) => {
                    tracing::error!(%error, "reload on SIGHUP failed; keeping the running configuration");
                    state.note_reload(Some(error));
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (state, cli);
}
