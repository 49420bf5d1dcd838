//! `learn365-sim`: starts the simulator and prints `listening on http://ADDR` as its first stdout
//! line (tests and scripts parse it); with `--seed demo` the demo ids go to stderr. The Microsoft Graph
//! subset (`/v1.0`, `/{tenant}/oauth2/v2.0/token`) is served by the same listener.

use std::io::Write;

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use clap::{Parser, ValueEnum};

use learn365_sim::api::{Config, Seed, Sim};
use learn365_sim::graph::GraphConfig;
use learn365_sim::http::{Shared, configure};
use learn365_sim::model::DEMO;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SeedArg {
    /// An empty tenant.
    None,
    /// A catalog, six courses and the training plan "Getting started with LMS365".
    Demo,
}

/// In-memory simulator of the Learn365 (LMS365) OData API and its training-plan logic.
#[derive(Debug, Parser)]
#[command(name = "learn365-sim", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// A *Full control* API key (repeatable).
    #[arg(long = "full-key", value_name = "KEY", default_values_t = ["sim-full-key".to_string()])]
    full_keys: Vec<String>,
    /// A *Read only* API key (repeatable).
    #[arg(long = "read-key", value_name = "KEY", default_values_t = ["sim-read-key".to_string()])]
    read_keys: Vec<String>,
    /// Rows per response before `@odata.nextLink` (1..=10000; the real service's maximum is 10000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    page_size: u32,
    /// Initial data, also restored by `POST /_sim/reset`.
    #[arg(long, value_enum, default_value_t = SeedArg::None)]
    seed: SeedArg,
    /// API requests per second at most (all keys together); beyond, 429 with `Retry-After`. Learn365
    /// publishes no limit (the Power Platform connector allows 100 per minute); default: none.
    #[arg(long, value_name = "PER_SEC", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,
    /// Client id of the Entra app registration the Graph token endpoint accepts.
    #[arg(long, value_name = "ID", default_value = "sim-graph-client")]
    graph_client_id: String,
    /// Its client secret.
    #[arg(long, value_name = "SECRET", default_value = "sim-graph-secret")]
    graph_client_secret: String,
    /// Graph rows per page when a request has no `$top` (1..=999; Graph's default is 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=999))]
    graph_page_size: u32,
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
        full_keys: cli.full_keys,
        read_keys: cli.read_keys,
        page_size: cli.page_size as usize,
        seed: if cli.seed == SeedArg::Demo { Seed::Demo } else { Seed::Empty },
        rate_limit: cli.rate_limit,
        graph: GraphConfig {
            client_id: cli.graph_client_id,
            client_secret: cli.graph_client_secret,
            page_size: cli.graph_page_size as usize,
        },
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

    if cli.seed == SeedArg::Demo {
        let mut err = std::io::stderr().lock();
        writeln!(err, "demo catalog {}", DEMO.catalog)?;
        for (id, code, title, kind) in DEMO.courses {
            writeln!(err, "demo course {id} {code} {} \"{title}\"", kind.as_str())?;
        }
        writeln!(
            err,
            "demo training plan {} \"{}\" = {}",
            DEMO.training_plan,
            DEMO.training_plan_title,
            DEMO.training_plan_courses.join(", ")
        )?;
    }

    server.run().await?;
    Ok(())
}
