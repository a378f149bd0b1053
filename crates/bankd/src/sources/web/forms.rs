//! HTML forms of web-banking pages, read as a browser would submit them.
//!
//! A login or search page is a form whose hidden inputs (CSRF tokens, session keys, the step of a
//! login flow) must go back unchanged, or the bank refuses the request. So [`Form::find`] collects
//! every value a browser would send, and the scraper changes only the fields it names with
//! [`Form::set`].
//!
//! What a browser sends, per the HTML standard: every enabled control with a name (not `disabled`,
//! nor inside a disabled `<fieldset>`), in document order; checkboxes and radio buttons only when
//! `checked` (value `on` when they have none); a `<select>`'s selected options, or its first enabled
//! one; a `<textarea>`'s text. Submit buttons are sent only for the one clicked: [`Form::press`].
//! Not handled: file inputs and image buttons (skipped), controls outside the `<form>` that name
//! it with a `form` attribute, a button's `formaction`/`formmethod`, and `accept-charset` (the body
//! is UTF-8).

use reqwest::Url;
use scraper::{ElementRef, Html, Selector};

/// How the form is submitted: `method="post"`, or GET for anything else (the HTML default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl From<Method> for reqwest::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        }
    }
}

/// A form as a browser would submit it, ready to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Where the form goes: its `action` resolved against the page (or its `<base href>`); the
    /// page itself when the form has no action.
    pub action: Url,
    pub method: Method,
    /// The name/value pairs a browser would submit, in document order.
    pub fields: Vec<(String, String)>,
    /// The named submit buttons, sent only when pressed.
    buttons: Pairs,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("{selector:?} is not a CSS selector: {why}")]
    Selector { selector: String, why: String },
    #[error("no <form> matches the selector {selector:?}")]
    NotFound { selector: String },
    #[error("the form's action {action:?} is not a URL from {base}: {why}")]
    Action { action: String, base: String, why: String },
    #[error("the form has no submit button named {name:?}")]
    NoButton { name: String },
}

/// Name/value pairs, as a form submits them.
type Pairs = Vec<(String, String)>;

/// What one control adds to the submission.
enum Control {
    Value(String),
    Values(Vec<String>),
    Button(String),
    Skipped,
}

impl Form {
    /// The first `<form>` of `html` that `selector` matches (`form#login`, `form[name=search]`),
    /// with the values a browser would submit. `page_url` is the page's own URL, which relative
    /// actions are resolved against.
    pub fn find(html: &str, page_url: &Url, selector: &str) -> Result<Form, FormError> {
        let wanted = Selector::parse(selector)
            .map_err(|e| FormError::Selector { selector: selector.to_owned(), why: e.to_string() })?;
        let document = Html::parse_document(html);
        let form = document
            .select(&wanted)
            .find(|element| element.value().name() == "form")
            .ok_or_else(|| FormError::NotFound { selector: selector.to_owned() })?;
        let (fields, buttons) = controls(form);
        let action = action(form, &base_url(&document, page_url), page_url)?;
        Ok(Form { action, method: method(form), fields, buttons })
    }

    /// The value of the first field named `name`: a CSRF token to send elsewhere, say.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// `name` now has this one value: the first such field keeps its place with the new value,
    /// any other of that name goes; a new name is added at the end.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let mut value = Some(value.into());
        self.fields.retain_mut(|(n, v)| match (n == name, value.take_if(|_| n == name)) {
            (false, _) => true,
            (true, Some(new)) => {
                *v = new;
                true
            }
            (true, None) => false,
        });
        if let Some(new) = value {
            self.fields.push((name.to_owned(), new));
        }
        self
    }

    /// Without any field named `name` (an unticked box).
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.fields.retain(|(n, _)| n != name);
        self
    }

    /// Submits as if the button named `name` was clicked: its name and value are sent, as banks
    /// that tell apart several buttons of one form expect.
    pub fn press(&mut self, name: &str) -> Result<&mut Self, FormError> {
        let button = self.buttons.iter().find(|(n, _)| n == name).cloned();
        let button = button.ok_or_else(|| FormError::NoButton { name: name.to_owned() })?;
        self.fields.push(button);
        Ok(self)
    }

    /// The fields, `application/x-www-form-urlencoded`: a POST's body, a GET's query.
    pub fn body(&self) -> String {
        let pairs: Vec<(&str, &str)> = self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        crate::sources::encode_pairs(&pairs)
    }

    /// The URL to request: the action, whose query a GET replaces with the fields (as browsers do).
    pub fn url(&self) -> Url {
        let mut url = self.action.clone();
        if self.method == Method::Get {
            url.set_query(Some(&self.body()));
        }
        url
    }
}

/// The document's `<base href>` resolved against the page, else the page: what relative URLs mean.
fn base_url(document: &Html, page_url: &Url) -> Url {
    let base =
        document.root_element().descendent_elements().find(|e| e.value().name() == "base" && e.attr("href").is_some());
    base.and_then(|e| page_url.join(e.attr("href")?.trim()).ok()).unwrap_or_else(|| page_url.clone())
}

/// An empty or missing action submits to the page itself (not to `<base href>`).
fn action(form: ElementRef<'_>, base: &Url, page_url: &Url) -> Result<Url, FormError> {
    let Some(action) = form.attr("action").map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(page_url.clone());
    };
    base.join(action).map_err(|e| FormError::Action {
        action: action.to_owned(),
        base: base.to_string(),
        why: e.to_string(),
    })
}

fn method(form: ElementRef<'_>) -> Method {
    match form.attr("method") {
        Some(method) if method.trim().eq_ignore_ascii_case("post") => Method::Post,
        _ => Method::Get,
    }
}

/// The fields and the named submit buttons of `form`, in document order.
fn controls(form: ElementRef<'_>) -> (Pairs, Pairs) {
    let (mut fields, mut buttons) = (Vec::new(), Vec::new());
    for element in form.descendent_elements().filter(|e| is_enabled(*e)) {
        let Some(name) = element.attr("name").filter(|n| !n.is_empty()) else { continue };
        match control(element) {
            Control::Value(value) => fields.push((name.to_owned(), value)),
            Control::Values(values) => fields.extend(values.into_iter().map(|v| (name.to_owned(), v))),
            Control::Button(value) => buttons.push((name.to_owned(), value)),
            Control::Skipped => {}
        }
    }
    (fields, buttons)
}

/// Disabled controls, and those of a disabled fieldset, are never submitted.
fn is_enabled(element: ElementRef<'_>) -> bool {
    let disabled = |e: &ElementRef<'_>| e.attr("disabled").is_some();
    let in_disabled_fieldset =
        element.ancestors().filter_map(ElementRef::wrap).any(|a| a.value().name() == "fieldset" && disabled(&a));
    !disabled(&element) && !in_disabled_fieldset
}

fn control(element: ElementRef<'_>) -> Control {
    let value = || element.attr("value").unwrap_or_default().to_owned();
    match element.value().name() {
        "input" => input(element),
        "button" => match element.attr("type").map(str::to_ascii_lowercase).as_deref() {
            None | Some("submit") => Control::Button(value()),
            Some(_) => Control::Skipped,
        },
        "select" => select(element),
        "textarea" => Control::Value(element.text().collect()),
        _ => Control::Skipped,
    }
}

fn input(element: ElementRef<'_>) -> Control {
    let value = |default: &str| element.attr("value").unwrap_or(default).to_owned();
    let kind = element.attr("type").unwrap_or("text").trim().to_ascii_lowercase();
    match kind.as_str() {
        "submit" => Control::Button(value("")),
        "checkbox" | "radio" if element.attr("checked").is_some() => Control::Value(value("on")),
        "checkbox" | "radio" | "image" | "reset" | "button" | "file" => Control::Skipped,
        _ => Control::Value(value("")),
    }
}

/// A multiple select sends every selected option; a single one its selected option (the last,
/// if several say so, as browsers do), else its first enabled one.
fn select(element: ElementRef<'_>) -> Control {
    let options: Vec<ElementRef<'_>> = element
        .descendent_elements()
        .filter(|e| e.value().name() == "option" && e.attr("disabled").is_none())
        .collect();
    let mut selected = options.iter().filter(|o| o.attr("selected").is_some()).map(option_value);
    if element.attr("multiple").is_some() {
        return Control::Values(selected.collect());
    }
    match selected.next_back().or_else(|| options.first().map(option_value)) {
        Some(value) => Control::Value(value),
        None => Control::Skipped,
    }
}

/// An option's `value`, else its text with whitespace collapsed.
fn option_value(option: &ElementRef<'_>) -> String {
    match option.attr("value") {
        Some(value) => value.to_owned(),
        None => option.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://bank.example/espace/login.html?lang=fr").unwrap()
    }

    fn find(html: &str, selector: &str) -> Form {
        Form::find(html, &page(), selector).unwrap_or_else(|e| panic!("{e}"))
    }

    fn pairs(form: &Form) -> Vec<(&str, &str)> {
        form.fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    const LOGIN: &str = r#"<!DOCTYPE html>
        <html><body>
          <form id="search" action="/search"><input name="q"></form>
          <form id="login" method="POST" action="auth/check.do;jsessionid=ABC?step=1">
            <input type="hidden" name="_csrf" value="f3a9&amp;b=2">
            <input type="hidden" name="step" value="1">
            <label>Identifiant <input type="text" name="username" value=""></label>
            <input type="password" name="password">
            <input type="checkbox" name="remember" value="yes">
            <input type="submit" name="validate" value="Valider">
            <button name="cancel" value="1">Annuler</button>
            <button type="button" name="show">Voir</button>
          </form>
        </body></html>"#;

    #[test]
    fn a_login_form_keeps_its_hidden_inputs_and_fills_the_rest() {
        let mut form = find(LOGIN, "form#login");
        assert_eq!(form.method, Method::Post);
        assert_eq!(form.action.as_str(), "https://bank.example/espace/auth/check.do;jsessionid=ABC?step=1");
        assert_eq!(
            pairs(&form),
            [("_csrf", "f3a9&b=2"), ("step", "1"), ("username", ""), ("password", "")],
            "unticked boxes and buttons are not sent"
        );
        assert_eq!(form.get("_csrf"), Some("f3a9&b=2"));
        form.set("username", "jdupont").set("password", "s3cret é+");
        assert_eq!(form.body(), "_csrf=f3a9%26b%3D2&step=1&username=jdupont&password=s3cret+%C3%A9%2B");
        assert_eq!(form.url(), form.action, "a POST's fields go in the body");
        assert_eq!(reqwest::Method::from(form.method), reqwest::Method::POST);
    }

    #[test]
    fn buttons_are_sent_only_when_pressed() {
        let mut form = find(LOGIN, "#login");
        form.press("validate").unwrap();
        assert_eq!(form.get("validate"), Some("Valider"));
        let mut other = find(LOGIN, "#login");
        other.press("cancel").unwrap();
        assert_eq!(other.get("cancel"), Some("1"));
        assert!(other.get("validate").is_none());
        let refused = find(LOGIN, "#login").press("show").map(|_| ()).unwrap_err();
        assert_eq!(refused.to_string(), "the form has no submit button named \"show\"");
    }

    #[test]
    fn set_replaces_in_place_adds_at_the_end_and_collapses_repeated_names() {
        let html = r#"<form><input name="a" value="1"><input name="b" value="2"><input name="a" value="3"></form>"#;
        let mut form = find(html, "form");
        form.set("b", "two").set("c", "three");
        assert_eq!(pairs(&form), [("a", "1"), ("b", "two"), ("a", "3"), ("c", "three")]);
        form.set("a", "one");
        assert_eq!(pairs(&form), [("a", "one"), ("b", "two"), ("c", "three")]);
        form.remove("b");
        assert_eq!(pairs(&form), [("a", "one"), ("c", "three")]);
    }

    #[test]
    fn actions_resolve_against_the_page_or_its_base() {
        let action = |html: &str| find(html, "form").action.to_string();
        assert_eq!(action(r#"<form action="https://other.example/x?y=1">"#), "https://other.example/x?y=1");
        assert_eq!(action(r#"<form action="/root/path">"#), "https://bank.example/root/path");
        assert_eq!(action(r#"<form action="next.html">"#), "https://bank.example/espace/next.html");
        assert_eq!(action(r#"<form action="../up">"#), "https://bank.example/up");
        assert_eq!(action(r#"<form action="?step=2">"#), "https://bank.example/espace/login.html?step=2");
        assert_eq!(action(r#"<form action="//cdn.example/f">"#), "https://cdn.example/f");
        assert_eq!(action(r#"<form action=" next.html ">"#), "https://bank.example/espace/next.html");
        assert_eq!(action("<form>"), page().to_string(), "no action: the page itself");
        assert_eq!(action(r#"<form action="">"#), page().to_string());
        let based = r#"<head><base href="https://bank.example/app/"></head><form action="go">"#;
        assert_eq!(action(based), "https://bank.example/app/go");
        let based_empty = r#"<head><base href="/app/"></head><form action="">"#;
        assert_eq!(action(based_empty), page().to_string(), "an empty action ignores <base>");
    }

    #[test]
    fn a_get_search_form_puts_its_fields_in_the_query() {
        let html = r#"<form name="search" action="/operations?old=1#list" method="get">
            <input type="search" name="q" value="loyer">
            <input type="date" name="from" value="2026-11-01">
            <input type="number" name="max">
        </form>"#;
        let mut form = find(html, "form[name=search]");
        assert_eq!(form.method, Method::Get);
        form.set("max", "50");
        assert_eq!(form.url().as_str(), "https://bank.example/operations?q=loyer&from=2026-11-01&max=50#list");
        let odd = find(r#"<form method="dialog"><input name="q" value="a b"></form>"#, "form");
        assert_eq!(odd.method, Method::Get, "anything but post is GET");
        assert_eq!(odd.url().as_str(), "https://bank.example/espace/login.html?q=a+b");
    }

    #[test]
    fn selects_send_their_selected_option_else_the_first() {
        let html = r#"<form>
            <select name="account">
              <option value="FR76-1">Courant</option>
              <option value="FR76-2" selected>Livret A</option>
            </select>
            <select name="period"><option disabled>--</option><option>  30   jours </option><option>90 jours</option></select>
            <select name="kinds" multiple>
              <optgroup label="Débits"><option value="card" selected>Carte</option><option value="dd">Prélèvement</option></optgroup>
              <option value="transfer" selected>Virement</option>
              <option value="fees" selected disabled>Frais</option>
            </select>
            <select name="none" multiple><option value="x">X</option></select>
            <select name="empty"></select>
            <select name="twice"><option selected>a</option><option selected>b</option></select>
        </form>"#;
        let form = find(html, "form");
        assert_eq!(
            pairs(&form),
            [("account", "FR76-2"), ("period", "30 jours"), ("kinds", "card"), ("kinds", "transfer"), ("twice", "b")]
        );
    }

    #[test]
    fn checkboxes_and_radios_only_when_checked() {
        let html = r#"<form>
            <input type="checkbox" name="accounts" value="1" checked>
            <input type="checkbox" name="accounts" value="2">
            <input type="checkbox" name="accounts" value="3" checked>
            <input type="CHECKBOX" name="terms" checked>
            <input type="radio" name="format" value="csv">
            <input type="radio" name="format" value="ofx" checked>
            <input type="radio" name="unset" value="x">
        </form>"#;
        let form = find(html, "form");
        assert_eq!(pairs(&form), [("accounts", "1"), ("accounts", "3"), ("terms", "on"), ("format", "ofx")]);
    }

    #[test]
    fn textareas_unnamed_disabled_and_other_skipped_controls() {
        let html = "<form>
            <textarea name=\"message\">\nBonjour,\n  merci &amp; au revoir</textarea>
            <input value=\"no name\"><input name=\"\" value=\"empty name\">
            <input name=\"off\" value=\"1\" disabled>
            <fieldset disabled><input name=\"inside\" value=\"1\"></fieldset>
            <fieldset><input name=\"kept\" value=\"1\"></fieldset>
            <input type=\"file\" name=\"upload\"><input type=\"image\" name=\"map\" src=\"m.png\">
            <input type=\"reset\" name=\"reset\"><input type=\"button\" name=\"js\" value=\"x\">
            <input type=\"hidden\" name=\"token\" value=\"  spaced  \">
        </form>";
        let form = find(html, "form");
        assert_eq!(
            pairs(&form),
            [("message", "Bonjour,\n  merci & au revoir"), ("kept", "1"), ("token", "  spaced  ")]
        );
    }

    #[test]
    fn the_first_matching_form_and_errors_that_name_the_selector() {
        assert_eq!(find(LOGIN, "form").get("q"), Some(""), "the first form of the page");
        assert_eq!(find(LOGIN, "body form:nth-of-type(2)").get("step"), Some("1"));
        let error = |selector: &str| Form::find(LOGIN, &page(), selector).unwrap_err();
        assert_eq!(error("form#logout").to_string(), "no <form> matches the selector \"form#logout\"");
        assert_eq!(error("#login input").to_string(), "no <form> matches the selector \"#login input\"", "not a form");
        assert!(matches!(error("form[["), FormError::Selector { selector, .. } if selector == "form[["));
        assert!(error("form[[").to_string().starts_with("\"form[[\" is not a CSS selector: "));
        let bad = Form::find(r#"<form action="https://[::1">"#, &page(), "form").unwrap_err();
        assert!(
            bad.to_string().starts_with("the form's action \"https://[::1\" is not a URL from https://bank.example/")
        );
    }
}
