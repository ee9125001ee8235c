//! Checks requests against Chatwoot's published OpenAPI spec.

#![allow(dead_code)]

use serde_json::Value;

pub(crate) struct Spec(Value);

impl Spec {
    pub(crate) fn load() -> Self {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/swagger.json"
        ))
        .unwrap();
        Self(serde_json::from_str(&raw).unwrap())
    }

    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            v = r.trim_start_matches("#/").split('/').fold(&self.0, |acc, k| &acc[k]);
        }
        v
    }

    /// The spec's path template matching a concrete path, e.g.
    /// `/api/v1/accounts/1/contacts/5/contact_inboxes`.
    pub(crate) fn template(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let paths = self.0["paths"].as_object()?;
        // Literal segments beat parameters: `contacts/search` is not `contacts/{id}`.
        let mut best: Option<(usize, String)> = None;
        for template in paths.keys() {
            let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
            if t.len() != segments.len() {
                continue;
            }
            let mut literal = 0;
            let matches = t.iter().zip(&segments).all(|(a, b)| {
                if a.starts_with('{') {
                    true
                } else {
                    literal += 1;
                    a == b
                }
            });
            if matches && best.as_ref().is_none_or(|(n, _)| literal > *n) {
                best = Some((literal, template.clone()));
            }
        }
        best.map(|(_, t)| t)
    }

    /// Panics unless the spec has `method path` and `body` carries the required fields.
    pub(crate) fn check(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&Value>,
    ) {
        let template = self
            .template(path)
            .unwrap_or_else(|| panic!("{method} {path}: no such path in the spec"));
        let op = &self.0["paths"][&template][method.to_lowercase()];
        assert!(op.is_object(), "{method} {template}: method not in the spec");
        let (Some(ct), Some(body)) = (content_type, body) else { return };
        let media =
            if ct.starts_with("multipart/") { "multipart/form-data" } else { "application/json" };
        let request_body = self.resolve(&op["requestBody"]);
        let schema = self.resolve(&request_body["content"][media]["schema"]);
        assert!(schema.is_object(), "{method} {template}: the spec has no {media} body");
        for field in schema["required"].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap();
            assert!(
                body.get(field).is_some(),
                "{method} {template}: required field {field} missing in {body}"
            );
        }
        let props = schema["properties"].as_object().cloned().unwrap_or_default();
        if let Value::Object(fields) = body {
            for k in fields.keys() {
                // source_id and echo_id are accepted by the controller though absent from
                // the spec's message schema (see the reference).
                if ["source_id", "echo_id"].contains(&k.as_str()) {
                    continue;
                }
                assert!(props.contains_key(k), "{method} {template}: field {k} is not in the spec");
            }
        }
    }
}
