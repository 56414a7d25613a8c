//! What operators see, in both modes: every request answers with its trace (`traceparent`,
//! `x-request-id`), and `/metrics` carries the gateway's request counts and the connection
//! pool of every component.

use std::time::Duration;

use crate::harness::{modes, start};

#[tokio::test]
async fn requests_are_traced_and_metrics_cover_the_gateway_and_every_pool() {
    for mode in modes().await {
        let m = start(mode).await;
        let response = m
            .http
            .get(format!("{}/v1/plans", m.base))
            .bearer_auth(&m.token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{mode:?}");
        let traceparent = response.headers()["traceparent"]
            .to_str()
            .expect("ascii")
            .to_string();
        let trace_id = traceparent.split('-').nth(1).expect("trace id");
        assert_eq!(trace_id.len(), 32, "{mode:?}: {traceparent}");
        assert_eq!(response.headers()["x-request-id"], trace_id, "{mode:?}");

        let metrics = format!(
            "http://{}/metrics",
            m.running
                .as_ref()
                .and_then(|r| r.metrics)
                .expect("a metrics listener")
        );
        let wanted = [
            "gateway_requests_total{protocol=\"rest\",route=\"/v1/plans\",method=\"GET\",status=\"200\"}"
                .to_string(),
        ]
        .into_iter()
        .chain(
            ["gateway", "catalog", "ordering", "provisioning", "notification"]
                .map(|c| format!("db_pool_connections{{service=\"{c}\",state=\"idle\"}}")),
        )
        .collect::<Vec<_>>();
        let mut text = String::new();
        for _ in 0..100 {
            text = m
                .http
                .get(&metrics)
                .send()
                .await
                .expect("metrics answer")
                .text()
                .await
                .expect("metrics text");
            if wanted.iter().all(|w| text.contains(w.as_str())) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for w in &wanted {
            assert!(
                text.contains(w.as_str()),
                "{mode:?}: no {w} in /metrics:\n{text}"
            );
        }
        m.stop().await;
    }
}
