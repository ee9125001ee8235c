//! Pages rendered with minijinja: the templates in `templates/`, compiled in, every value
//! HTML-escaped (auto-escaping is on for `.html` templates), so text from Meta or Chatwoot
//! — a Page named `<script>…` — shows as text.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};

/// The compiled templates.
#[derive(Debug)]
pub(crate) struct Pages {
    env: Environment<'static>,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("signin.html", include_str!("../templates/signin.html")),
    ("mfa.html", include_str!("../templates/mfa.html")),
    ("channels.html", include_str!("../templates/channels.html")),
    ("pick.html", include_str!("../templates/pick.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("deletion.html", include_str!("../templates/deletion.html")),
];

impl Pages {
    pub(crate) fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates ship with the crate; a test renders each one.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "admin template does not compile");
            }
        }
        Self { env }
    }

    /// Renders `name` with `ctx`, answering `status`.
    pub(crate) fn render(&self, status: StatusCode, name: &str, ctx: Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "admin page failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render\n").into_response()
            }
        }
    }

    /// A page that says one thing (an error, a refusal, a result), with a way back.
    pub(crate) fn message(
        &self,
        status: StatusCode,
        base: &Value,
        title: &str,
        text: &str,
    ) -> Response {
        self.render(status, "message.html", context! { base => base, title => title, text => text })
    }
}

/// What every page's layout needs: where the admin is mounted, the privacy policy, who is
/// signed in and their CSRF token (for the sign-out form).
pub(crate) fn base(
    mount: &str,
    privacy: Option<&url::Url>,
    who: Option<&str>,
    csrf: Option<&str>,
) -> Value {
    context! { mount => mount, privacy => privacy.map(url::Url::as_str), who => who, csrf => csrf }
}

pub(crate) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template compiles and renders with an empty page context.
    #[test]
    fn every_template_renders() {
        for (name, source) in TEMPLATES {
            let mut env = Environment::new();
            if let Err(e) = env.add_template(name, source) {
                panic!("{name}: {e:#}");
            }
        }
        let pages = Pages::new();
        let b = base("/admin", None, Some("a@b.c"), Some("tok"));
        for (name, _) in TEMPLATES {
            let t = pages.env.get_template(name).unwrap();
            let html = t.render(context! { base => b, csrf => "tok", title => "T", text => "x" });
            assert!(html.is_ok(), "{name}: {:?}", html.err());
        }
    }
}
