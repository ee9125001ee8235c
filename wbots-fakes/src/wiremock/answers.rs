//! Answers any service gives: JSON, text, files, redirects, throttling.

use ::wiremock::ResponseTemplate;
use serde_json::Value;

/// HTTP `code` with no body.
pub fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code)
}

/// HTTP `code` with a JSON body.
pub fn json(code: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(body)
}

/// HTTP `code` with a text body (an HTML error page, a CDN's refusal).
pub fn text(code: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_string(body)
}

/// 200 with a file of `content_type` (no `Content-Type` when empty).
pub fn file(content_type: &str, bytes: impl Into<Vec<u8>>) -> ResponseTemplate {
    let response = ResponseTemplate::new(200).set_body_bytes(bytes.into());
    if content_type.is_empty() {
        response
    } else {
        response.insert_header("content-type", content_type)
    }
}

/// A redirect (`code` 301, 302, 307…) to `location`.
pub fn redirect(code: u16, location: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).insert_header("location", location)
}

/// HTTP `code` (429, 503) asking to come back in `seconds` (`Retry-After`).
pub fn retry_after(code: u16, seconds: u64) -> ResponseTemplate {
    ResponseTemplate::new(code).insert_header("retry-after", seconds.to_string().as_str())
}
