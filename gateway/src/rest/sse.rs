//! Server-Sent Events for server-streaming operations (live order status, notifications).

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::problem::Problem;
use crate::state::Gateway;
use crate::upstream::JsonStream;

/// Server-Sent Events: one `data:` JSON message per stream item, an `error` event carrying a
/// problem document if the stream fails, and a final `end` event. The event `id` is the item's
/// `version` when it has one (so a reconnecting browser's `Last-Event-ID` resumes the stream
/// after it), else a counter from 0.
pub(crate) fn sse(gw: &Arc<Gateway>, stream: JsonStream) -> Response {
    let shutdown = gw.shutdown.clone();
    let max = gw.http.stream_max_duration();
    let open = crate::observe::OpenStream::new("sse");
    let events = stream
        .enumerate()
        .map(|(i, item)| {
            Ok::<_, Infallible>(match item {
                Ok(value) => Event::default()
                    .id(event_id(&value, i))
                    .data(value.to_string()),
                Err(error) => Event::default()
                    .event("error")
                    .data(serde_json::to_string(&Problem::from(error)).unwrap_or_default()),
            })
        })
        .chain(futures::stream::once(async {
            Ok(Event::default().event("end").data("{}"))
        }))
        .take_until(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(max) => {}
            }
        })
        // The gauge falls when the stream is dropped (ended or the client went away).
        .inspect(move |_| {
            let _ = &open;
        });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn event_id(value: &serde_json::Value, index: usize) -> String {
    match value.get("version") {
        Some(serde_json::Value::String(version)) if !version.is_empty() => version.clone(),
        Some(serde_json::Value::Number(version)) => version.to_string(),
        _ => index.to_string(),
    }
}
