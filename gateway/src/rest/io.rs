//! HTTP details of the REST API: reading bodies within the size limit, request headers,
//! JSON / problem responses with `ETag`, and replayed idempotent responses.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::idempotency::{REPLAYED, Replay};
use crate::problem::{PROBLEM_JSON, Problem};
use crate::state::Gateway;

/// A trimmed, non-empty header value.
pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// An entity tag without quotes and weakness prefix.
pub(crate) fn unquote(value: &str) -> String {
    value.trim_start_matches("W/").trim_matches('"').to_string()
}

/// The request body, refused with 413 above the limit and 415 when not JSON.
pub(crate) async fn read_body(
    gw: &Gateway,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<bytes::Bytes, Problem> {
    let limit = gw.http.max_body_bytes;
    let too_large = || {
        Problem::with_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    };
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > limit
    {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    if !bytes.is_empty()
        && let Some(content_type) = header_str(headers, header::CONTENT_TYPE.as_str())
        && !content_type.to_ascii_lowercase().contains("json")
    {
        return Err(Problem::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("request bodies must be application/json, not {content_type}"),
        ));
    }
    Ok(bytes)
}

/// Adds `ETag: "<etag>"` (when there is one).
pub(crate) fn with_etag(mut response: Response, etag: &str) -> Response {
    if !etag.is_empty()
        && let Ok(value) = HeaderValue::from_str(&format!("\"{etag}\""))
    {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A JSON (success) or problem (error) response with its body already serialized.
pub(crate) fn json_response(status: StatusCode, body: String, etag: &str) -> Response {
    let content_type = if status.is_success() {
        "application/json"
    } else {
        PROBLEM_JSON
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status.is_success() {
        with_etag(response, etag)
    } else {
        response
    }
}

/// The stored first response to a retried POST, marked `Idempotent-Replayed: true`.
pub(crate) fn replayed(replay: Replay) -> Response {
    let status = StatusCode::from_u16(replay.status).unwrap_or(StatusCode::OK);
    let mut response = json_response(status, replay.body, &replay.etag);
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// `Link: <same request with pageToken=next>; rel="next"` for a list page that has a next page.
pub(crate) fn next_link(uri: &http::Uri, next_page_token: &str) -> Option<HeaderValue> {
    if next_page_token.is_empty() {
        return None;
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if key != "pageToken" && key != "page_token" {
            query.append_pair(&key, &value);
        }
    }
    query.append_pair("pageToken", next_page_token);
    HeaderValue::from_str(&format!(
        "<{}?{}>; rel=\"next\"",
        uri.path(),
        query.finish()
    ))
    .ok()
}
