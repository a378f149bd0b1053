//! The pages' templates (minijinja, compiled into the binary) and the `t` function they translate
//! with. Output is HTML-escaped by default: bank names, account names and the bank's messages are
//! text, never markup.

use std::sync::LazyLock;

use axum::response::Html;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, State};
use serde::Serialize;

use super::i18n::Lang;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("fields.html", include_str!("templates/fields.html")),
        ("banks.html", include_str!("templates/banks.html")),
        ("form.html", include_str!("templates/form.html")),
        ("upload.html", include_str!("templates/upload.html")),
        ("webauth.html", include_str!("templates/webauth.html")),
        ("wait.html", include_str!("templates/wait.html")),
        ("problem.html", include_str!("templates/problem.html")),
        ("accounts.html", include_str!("templates/accounts.html")),
        ("returning.html", include_str!("templates/returning.html")),
        ("manage.html", include_str!("templates/manage.html")),
        ("delete.html", include_str!("templates/delete.html")),
        ("error.html", include_str!("templates/error.html")),
        ("simplefin.html", include_str!("templates/simplefin.html")),
    ] {
        // The templates are part of the binary: one that does not parse fails every test.
        env.add_template(name, source).expect("a webview template parses");
    }
    env.add_function("t", translate);
    env
});

/// `t("key", name=value, …)`: the text of `key` in the page's `lang`, with `{name}` replaced.
fn translate(state: &State, key: &str, args: Kwargs) -> Result<String, Error> {
    let lang = state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or(Lang::En);
    let missing = || Error::new(ErrorKind::UndefinedError, format!("no text {key:?}"));
    let mut text = lang.text(key).ok_or_else(missing)?.to_owned();
    for name in args.args() {
        let value: minijinja::Value = args.get(name)?;
        text = text.replace(&format!("{{{name}}}"), &value.to_string());
    }
    Ok(text)
}

/// Renders a page. A template error is a defect: logged, and the error page instead.
pub fn render(template: &str, lang: Lang, context: impl Serialize) -> Html<String> {
    let rendered = TEMPLATES.get_template(template).and_then(|t| t.render(&context));
    match rendered {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(template, error = %e, "a webview template failed");
            let fallback = TEMPLATES
                .get_template("error.html")
                .and_then(|t| t.render(minijinja::context! { lang => lang.code(), app => "" }));
            Html(fallback.unwrap_or_else(|_| "<!doctype html><title>Error</title><p>Error</p>".to_owned()))
        }
    }
}
