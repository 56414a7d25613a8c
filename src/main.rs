//! `marketplace`: with no arguments, the whole marketplace in one process on SQLite files under
//! `./data` with sandbox vendors and an in-process bus. `marketplace <role>` runs one component
//! for the distributed deployment, configured by `MARKETPLACE_*` environment variables.
//!
//! Usage: `marketplace [all|catalog|ordering|provisioning|notification|gateway|vendor-sim|relay] [--config FILE] [--migrate-only]`

use std::path::PathBuf;
use std::process::ExitCode;

use marketplace::{Config, Role};
use tokio_util::sync::CancellationToken;

/// Command-line arguments.
struct Args {
    role: Option<Role>,
    file: Option<PathBuf>,
    migrate_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut role = None;
    let mut migrate_only = false;
    let mut file = std::env::var_os("MARKETPLACE_CONFIG").map(PathBuf::from);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => file = Some(args.next().ok_or("--config needs a file")?.into()),
            "--migrate-only" => migrate_only = true,
            "-h" | "--help" => {
                return Err("usage: marketplace [all|catalog|ordering|provisioning|notification|gateway|vendor-sim] [--config FILE] [--migrate-only]".into());
            }
            other => role = Some(Role::parse(other).map_err(|e| e.to_string())?),
        }
    }
    Ok(Args {
        role,
        file,
        migrate_only,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let Args {
        role,
        file,
        migrate_only,
    } = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut config = match Config::load(file.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("marketplace: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(role) = role {
        config.role = role;
    }
    config.migrate_only |= migrate_only;
    config.default_service_name();
    let _telemetry = match marketplace_platform::telemetry::init(&config.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("marketplace: {error}");
            return ExitCode::from(2);
        }
    };
    // TLS for outgoing HTTPS (vendors, webhooks) uses ring; install it once for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shutdown = CancellationToken::new();
    marketplace_platform::shutdown::cancel_on_signal(shutdown.clone());
    let role = config.role;
    let banner_config = config.clone();
    let running = match marketplace::start(config, shutdown.clone()).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("marketplace: {error:#}");
            return ExitCode::from(1);
        }
    };
    if banner_config.migrate_only {
        tracing::info!(role = ?role, "migrations done");
    } else if role == Role::All {
        print_banner(&banner_config, &running);
    } else {
        for (component, listener, addr) in running.listen_addresses() {
            tracing::info!(role = role.name(), component, listener, %addr, "listening");
        }
        tracing::info!(role = role.name(), "component started");
    }
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("marketplace: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn print_banner(config: &Config, running: &marketplace::Running) {
    let auth = &config.gateway["auth"];
    let str_of = |key: &str| {
        auth.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let token = |role: &str, subject: &str, customer: Option<&str>| {
        gateway::demo_token(
            &str_of("jwt_hs256_secret"),
            &str_of("jwt_issuer"),
            &str_of("jwt_audience"),
            subject,
            role,
            if role == "staff" {
                None
            } else {
                Some("reseller-demo")
            },
            customer,
            std::time::Duration::from_secs(30 * 24 * 3600),
        )
    };
    let http = running
        .gateway_http
        .map(|a| a.to_string())
        .unwrap_or_default();
    let grpc = running
        .gateway_grpc
        .map(|a| a.to_string())
        .unwrap_or_default();
    let reseller = token("reseller_admin", "demo-reseller-admin", None);
    println!();
    println!(
        "  Cloud Marketplace is running (embedded mode: SQLite under ./data, in-process bus, sandbox vendors)"
    );
    println!();
    println!("  REST/JSON   http://{http}/v1/plans        OpenAPI: http://{http}/openapi.json");
    println!("  gRPC        {grpc}  (reflection: grpcurl -plaintext {grpc} list)");
    if let Some((autodesk, microsoft)) = running.vendor_addrs {
        println!(
            "  Sandbox vendors: Autodesk http://{autodesk}  Microsoft Partner Center http://{microsoft}"
        );
    }
    if let Some(smtp) = &running.smtp {
        println!("  Sandbox SMTP:    smtp://{}", smtp.addr());
    }
    if let Some(metrics) = running.metrics {
        println!("  Metrics:         http://{metrics}/metrics");
    }
    println!();
    println!(
        "  Demo reseller `reseller-demo` (customer `customer-demo`). Bearer tokens (30 days):"
    );
    println!("    reseller_admin: {reseller}");
    println!("    staff:          {}", token("staff", "demo-staff", None));
    println!(
        "    customer_admin: {}",
        token(
            "customer_admin",
            "demo-customer-admin",
            Some("customer-demo")
        )
    );
    println!();
    println!(
        "  Try:  curl -s -H \"Authorization: Bearer $TOKEN\" 'http://{http}/v1/plans?query=autocad'"
    );
    println!();
}
