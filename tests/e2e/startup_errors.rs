//! A start that fails says why, exits non-zero, and never prints a credential: every setting
//! that can hold a URL with a password is redacted in errors and logs.

use std::process::Stdio;
use std::time::Duration;

const PASSWORD: &str = "s3cretpw-never-printed";

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs `marketplace <role>` with `env` until it exits; returns (success, stdout + stderr).
async fn run_failing_start(role: &str, env: &[(&str, String)]) -> (bool, String) {
    let data = std::env::temp_dir().join(format!("marketplace-start-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&data).expect("temp dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_marketplace"));
    command
        .arg(role)
        .current_dir(&data)
        .env("MARKETPLACE_TELEMETRY__METRICS_LISTEN", "")
        .env("MARKETPLACE_GATEWAY__LISTEN_HTTP", "127.0.0.1:0")
        .env("MARKETPLACE_GATEWAY__LISTEN_GRPC", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("a failing start ends by itself")
        .expect("marketplace runs");
    let _ = std::fs::remove_dir_all(&data);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn assert_redacted(case: &str, success: bool, output: &str) {
    assert!(!success, "{case}: the start must fail; output:\n{output}");
    assert!(
        !output.contains(PASSWORD),
        "{case}: the password is printed:\n{output}"
    );
    assert!(
        output.contains("***"),
        "{case}: the redacted URL is named in the error:\n{output}"
    );
}

#[tokio::test]
async fn an_unreachable_nats_url_is_reported_without_its_password() {
    let port = closed_port();
    for url in [
        format!("nats://user:{PASSWORD}@127.0.0.1:{port}"),
        format!("nats://{PASSWORD}@127.0.0.1:{port}"),
        format!("nats://a:{PASSWORD}@127.0.0.1:{port},nats://b:{PASSWORD}@127.0.0.1:{port}"),
    ] {
        let (success, output) = run_failing_start(
            "catalog",
            &[
                ("MARKETPLACE_BUS__URL", url.clone()),
                (
                    "MARKETPLACE_AUTH__INTERNAL_KEY",
                    "startup-test-internal-key-0123456789abcdef".into(),
                ),
                ("MARKETPLACE_CATALOG__LISTEN", "127.0.0.1:0".into()),
            ],
        )
        .await;
        assert_redacted(&format!("bus.url {url}"), success, &output);
        assert!(output.contains("NATS"), "the error names NATS:\n{output}");
    }
}

#[tokio::test]
async fn a_wrong_bus_scheme_is_reported_without_its_password() {
    let (success, output) = run_failing_start(
        "catalog",
        &[
            (
                "MARKETPLACE_BUS__URL",
                format!("http://user:{PASSWORD}@127.0.0.1:1"),
            ),
            (
                "MARKETPLACE_AUTH__INTERNAL_KEY",
                "startup-test-internal-key-0123456789abcdef".into(),
            ),
        ],
    )
    .await;
    assert_redacted("bus.url scheme", success, &output);
    assert!(
        output.contains("MARKETPLACE_BUS__URL"),
        "the error names the environment variable:\n{output}"
    );
}

#[tokio::test]
async fn an_unreachable_database_of_any_component_is_reported_without_its_password() {
    let port = closed_port();
    for component in [
        "GATEWAY",
        "CATALOG",
        "ORDERING",
        "PROVISIONING",
        "NOTIFICATION",
    ] {
        let key = format!("MARKETPLACE_{component}__DATABASE__URL");
        let (success, output) = run_failing_start(
            "all",
            &[(
                key.as_str(),
                format!("postgres://marketplace:{PASSWORD}@127.0.0.1:{port}/db"),
            )],
        )
        .await;
        assert_redacted(&key, success, &output);
    }
}
