//! `ispring-sim`: starts the simulator and prints `listening on http://ADDR` on stdout.

use std::io::Write;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use clap::Parser;

use ispring_sim::api::{Config, Sim};
use ispring_sim::http::{Shared, configure};

/// In-memory simulator of the iSpring Learn REST API v3.
#[derive(Debug, Parser)]
#[command(name = "ispring-sim", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// OAuth2 client id accepted by POST /api/v3/token.
    #[arg(long, default_value = "sim-client")]
    client_id: String,
    /// OAuth2 client secret accepted by POST /api/v3/token.
    #[arg(long, default_value = "sim-secret")]
    client_secret: String,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 1800)]
    token_ttl_secs: u64,
    /// Name of the root department.
    #[arg(long, default_value = "Root")]
    root_name: String,
    /// A user profile field required at creation (repeatable), e.g. `phone`.
    #[arg(long = "required-field", value_name = "NAME")]
    required_fields: Vec<String>,
    /// Number of HTTP worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let config = Config {
        client_id: cli.client_id,
        client_secret: cli.client_secret,
        token_ttl: Duration::from_secs(cli.token_ttl_secs),
        root_name: cli.root_name,
        required_fields: cli.required_fields,
    };
    let shared = web::Data::new(Shared::new(Sim::new(config)));
    let server = HttpServer::new(move || App::new().configure(configure(shared.clone())))
        .workers(cli.workers.max(1))
        .bind(&cli.bind)
        .with_context(|| format!("cannot bind {}", cli.bind))?;
    let addr = server.addrs().first().copied().context("no bound address")?;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()?;
    drop(stdout);

    server.run().await?;
    Ok(())
}
