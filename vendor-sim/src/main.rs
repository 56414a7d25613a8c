//! `vendor-sim`: runs the Autodesk and Partner Center simulators for manual use.
//!
//! ```text
//! vendor-sim [--autodesk ADDR] [--microsoft ADDR] [--delay-ms N]
//! ```
//! Defaults: `127.0.0.1:8701` (Autodesk), `127.0.0.1:8702` (Partner Center), delay 0; the
//! environment variables `VENDOR_SIM_AUTODESK_ADDR`, `VENDOR_SIM_MICROSOFT_ADDR` and
//! `VENDOR_SIM_DELAY_MS` set the same. Credentials are the demo ones of `SimConfig::default()`.
//! Stops on Ctrl-C.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vendor_sim::{SimConfig, VendorSim};

struct Args {
    autodesk: String,
    microsoft: String,
    delay_ms: u64,
}

fn parse_args() -> anyhow::Result<Args> {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let mut args = Args {
        autodesk: env("VENDOR_SIM_AUTODESK_ADDR", "127.0.0.1:8701"),
        microsoft: env("VENDOR_SIM_MICROSOFT_ADDR", "127.0.0.1:8702"),
        delay_ms: env("VENDOR_SIM_DELAY_MS", "0")
            .parse()
            .context("VENDOR_SIM_DELAY_MS must be a number of milliseconds")?,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--autodesk" => args.autodesk = value()?,
            "--microsoft" => args.microsoft = value()?,
            "--delay-ms" => {
                args.delay_ms = value()?.parse().context("--delay-ms must be a number")?
            }
            "-h" | "--help" => {
                println!("usage: vendor-sim [--autodesk ADDR] [--microsoft ADDR] [--delay-ms N]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}; see --help"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = parse_args()?;
    let config = SimConfig {
        provisioning_delay: Duration::from_millis(args.delay_ms),
        ..SimConfig::default()
    };
    let autodesk = TcpListener::bind(&args.autodesk)
        .await
        .with_context(|| format!("cannot bind the Autodesk simulator to {}", args.autodesk))?;
    let microsoft = TcpListener::bind(&args.microsoft).await.with_context(|| {
        format!(
            "cannot bind the Partner Center simulator to {}",
            args.microsoft
        )
    })?;
    println!(
        "autodesk simulator:       http://{}",
        autodesk.local_addr()?
    );
    println!(
        "partner center simulator: http://{}",
        microsoft.local_addr()?
    );
    println!("control: /_sim/faults, /_sim/journal, /_sim/delay, /_sim/clock, /_sim/reset on both");

    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    VendorSim::new(config)
        .serve(autodesk, microsoft, shutdown)
        .await?;
    Ok(())
}
