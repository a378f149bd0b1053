//! The webview's half of the matrix: its pages with no session, a forged one, another person's,
//! and its forms with a forged or missing CSRF token; the links that start a journey with a code
//! that must not open one.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};

use super::{Case, Cred, Expect, Fixture, Obj, Payload, REDIRECT};
use crate::helpers::{SANDBOX_UUID, TestApp, TestUser};

/// Who opens a webview page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visitor {
    NoSession,
    /// A cookie that is not a sealed session.
    ForgedSession,
    /// B's own valid session (and B's own CSRF token): on A's objects.
    OtherPerson,
    /// A's session with a CSRF token that is not its own.
    ForgedCsrf,
    /// A's session, the form without its CSRF token.
    MissingCsrf,
}

const VISITORS: [Visitor; 5] =
    [Visitor::NoSession, Visitor::ForgedSession, Visitor::OtherPerson, Visitor::ForgedCsrf, Visitor::MissingCsrf];

/// The sessions the visitors use.
pub(super) struct Sessions {
    pub(super) a: (String, String),
    pub(super) b: (String, String),
}

/// What a webview route is, as its handler decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageRule {
    /// The stylesheet and the banks' icons.
    Static,
    /// The start of a journey: the link's `code` makes the session.
    Entry,
    /// A page of the session's person, naming one of their objects (or not: `None`).
    Session(Option<Obj>),
}

fn page_rule(method: &str, path: &str) -> Option<PageRule> {
    Some(match (method, path) {
        ("get", "/webview/static/webview.css" | "/webview/icons/{file}") => PageRule::Static,
        ("get", "/webview/{flow}" | "/webview/{lang}/{flow}") => PageRule::Entry,
        ("get", "/webview/{lang}/banks" | "/webview/{lang}/banks/{uuid}" | "/webview/{lang}/connections")
        | ("post", "/webview/{lang}/banks/{uuid}" | "/webview/{lang}/banks/{uuid}/upload")
        | ("post", "/webview/{lang}/simplefin" | "/webview/{lang}/close") => PageRule::Session(None),
        ("get" | "post", "/webview/{lang}/connections/{id}")
        | ("get", "/webview/{lang}/connections/{id}/resume" | "/webview/{lang}/connections/{id}/back")
        | ("get" | "post", "/webview/{lang}/connections/{id}/accounts")
        | ("get" | "post", "/webview/{lang}/connections/{id}/reconnect")
        | ("get" | "post", "/webview/{lang}/connections/{id}/delete") => PageRule::Session(Some(Obj::Connection)),
        ("post", "/webview/{lang}/accounts/{id}") => PageRule::Session(Some(Obj::Account)),
        ("post", "/webview/{lang}/sources/{id}") => PageRule::Session(Some(Obj::Source)),
        _ => return None,
    })
}

/// The webview's routes, read from its router's source: `(method, path)` for each handler. (The
/// router is not reachable from here as data: axum keeps no list of its routes.)
pub(super) fn webview_routes() -> Vec<(String, String)> {
    let source = include_str!("../../../src/webview/mod.rs");
    let method = regex::Regex::new(r"\b(get|post|put|patch|delete)\(").unwrap();
    let mut routes = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.trim_start().trim_start_matches('"').split('"').next().unwrap_or_default().to_owned();
        // A route's handlers end where the next `.route(` or the router's own layer begins.
        let handlers = chunk.split(".layer(middleware").next().unwrap_or(chunk);
        let mut methods: Vec<String> = method.captures_iter(handlers).map(|c| c[1].to_owned()).collect();
        methods.dedup();
        routes.extend(methods.into_iter().map(|m| (m, path.clone())));
    }
    // A reading that finds nothing would pass the webview's half of the matrix silently.
    assert!(
        routes.iter().any(|(_, path)| path == "/webview/{lang}/{flow}"),
        "the webview's routes were not found in src/webview/mod.rs: {routes:?}"
    );
    routes
}

/// What `visitor` must get from a page; `None` when it is not a case (a GET carries no form, and
/// B's own journey is B's right).
fn page_expectation(rule: PageRule, method: &str, visitor: Visitor) -> Option<Expect> {
    let expired = Some(Expect::Page(StatusCode::BAD_REQUEST));
    match (rule, visitor) {
        (PageRule::Static, _) => Some(Expect::Open),
        (PageRule::Entry, _) => None,
        (PageRule::Session(_), Visitor::NoSession | Visitor::ForgedSession) => expired,
        (PageRule::Session(Some(_)), Visitor::OtherPerson) => Some(Expect::Page(StatusCode::NOT_FOUND)),
        (PageRule::Session(None), Visitor::OtherPerson) if method == "get" => Some(Expect::OwnOnly),
        (PageRule::Session(None), Visitor::OtherPerson) => None,
        (PageRule::Session(_), Visitor::ForgedCsrf | Visitor::MissingCsrf) if method == "post" => expired,
        (PageRule::Session(_), Visitor::ForgedCsrf | Visitor::MissingCsrf) => None,
    }
}

fn page_path(template: &str, obj: Option<Obj>, fx: &Fixture) -> String {
    let id = obj.map(|o| fx.id_of(o, None)).unwrap_or_default();
    template
        .replace("{lang}", "en")
        .replace("{flow}", "manage")
        .replace("{uuid}", SANDBOX_UUID)
        .replace("{file}", "sandbox.svg")
        .replace("{id}", &id)
}

/// What a form posts — what would change A's data if it got through.
fn form_of(template: &str, fx: &Fixture) -> Vec<(String, String)> {
    let pairs: Vec<(&str, String)> = match template.rsplit('/').next().unwrap_or_default() {
        "{uuid}" => vec![("login", "demo".into()), ("password", "1234".into())],
        "{id}" if template.contains("/connections/") => vec![("password", "1234".into())],
        "{id}" => vec![("enabled", "false".into())],
        // Sharing none of them withdraws the consent to every account.
        "accounts" => vec![("account", fx.accounts[0].to_string())],
        _ => vec![],
    };
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub(super) fn webview_cases(fx: &Fixture, sessions: &Sessions) -> (Vec<Case>, usize, Vec<String>) {
    let mut cases = Vec::new();
    let mut skipped = 0;
    let mut unknown = Vec::new();
    for (method, template) in webview_routes() {
        let Some(rule) = page_rule(&method, &template) else {
            unknown.push(format!("{} {template}: no webview rule", method.to_uppercase()));
            continue;
        };
        if rule == PageRule::Entry {
            cases.extend(entry_cases(&template, fx));
            continue;
        }
        let obj = match rule {
            PageRule::Session(obj) => obj,
            _ => None,
        };
        for visitor in VISITORS {
            let Some(expect) = page_expectation(rule, &method, visitor) else {
                skipped += 1;
                continue;
            };
            let (cookie, csrf) = match visitor {
                Visitor::NoSession => (None, None),
                Visitor::ForgedSession => (Some("bm90LWEtc2Vzc2lvbg".to_owned()), Some(sessions.a.1.clone())),
                Visitor::OtherPerson => (Some(sessions.b.0.clone()), Some(sessions.b.1.clone())),
                Visitor::ForgedCsrf => (Some(sessions.a.0.clone()), Some("forged".to_owned())),
                Visitor::MissingCsrf => (Some(sessions.a.0.clone()), None),
            };
            let mut fields = form_of(&template, fx);
            fields.extend(csrf.map(|token| ("csrf".to_owned(), token)));
            let payload = match method.as_str() {
                "post" if template.ends_with("/upload") => Payload::Upload(fields),
                "post" => Payload::Form(fields),
                _ => Payload::None,
            };
            cases.push(Case {
                label: format!("{} {template} as {visitor:?}", method.to_uppercase()),
                method: Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path: page_path(&template, obj, fx),
                cred: cookie.map_or(Cred::None, Cred::Cookie),
                payload,
                expect,
            });
        }
    }
    (cases, skipped, unknown)
}

/// A journey's link with a code that must not open a session: garbage, used, expired, or A's live
/// code in a link of the other app (which must not burn it either).
fn entry_cases(template: &str, fx: &Fixture) -> Vec<Case> {
    let links = [
        ("garbage code", &fx.app1.0, "not-a-code"),
        ("used code", &fx.app1.0, fx.used_code.as_str()),
        ("expired code", &fx.app1.0, fx.expired_code.as_str()),
        ("A's code in the other app's link", &fx.app2.0, fx.live_code.as_str()),
    ];
    links
        .into_iter()
        .map(|(label, client_id, code)| {
            let redirect = if client_id == &fx.app2.0 { "https://other.example/callback" } else { REDIRECT };
            let query = serde_urlencoded::to_string([
                ("client_id", client_id.as_str()),
                ("redirect_uri", redirect),
                ("code", code),
            ])
            .unwrap();
            Case {
                label: format!("GET {template} with {label}"),
                method: Method::GET,
                path: format!("{}?{query}", page_path(template, None, fx)),
                cred: Cred::None,
                payload: Payload::None,
                expect: Expect::Page(StatusCode::BAD_REQUEST),
            }
        })
        .collect()
}

/// A manage session of `user`'s: its cookie and its CSRF token.
pub(super) async fn manage_session(app: &TestApp, user: &TestUser) -> (String, String) {
    let (status, link) = app.get(&format!("/2.0/webview/manage-url?redirect_uri={REDIRECT}"), &user.token).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let url = reqwest::Url::parse(link["url"].as_str().unwrap()).unwrap();
    let entry = format!("{}{}?{}", app.base, url.path(), url.query().unwrap());
    let response = app.http.get(entry).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().trim_start_matches("bankd_webview=").to_owned();
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let page = app.http.get(app.url(&location)).header(COOKIE, format!("bankd_webview={cookie}")).send().await;
    let page = page.unwrap().text().await.unwrap();
    (cookie, crate::webview::csrf(&page))
}
