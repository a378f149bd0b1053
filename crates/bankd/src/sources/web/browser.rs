//! An HTTP session with a web-banking site, as a browser keeps one: cookies carried from request to
//! request and, saved in the source's sealed state, from one run to the next — so a daily refresh
//! reuses the bank's session and asks for no new one-time code while it lives. Redirects are
//! followed (a login form usually answers with one); pages are read whole, up to a cap.

use std::sync::Arc;

use reqwest::header::RETRY_AFTER;
use reqwest::{StatusCode, Url};
use reqwest_cookie_store::CookieStoreMutex;
use scraper::{ElementRef, Html, Selector};

use super::forms::{Form, Method};
use crate::sources::tls::TppTls;
use crate::sources::{SourceError, SourceResult, Timeouts, describe_http_error, retry_after};

/// Redirects followed from one request: a login form answers with one or two; more is a loop.
const MAX_REDIRECTS: usize = 10;
/// The largest page read: a bank page is a few hundred kilobytes; more is not a bank page.
const MAX_PAGE: usize = 5 << 20;

pub struct Browser {
    client: reqwest::Client,
    timeouts: Timeouts,
    cookies: Arc<CookieStoreMutex>,
}

/// A page as the browser landed on it, after redirects.
pub struct Page {
    pub url: Url,
    pub status: StatusCode,
    pub html: String,
}

impl Browser {
    /// A browser with the cookies a previous run saved (see [`Browser::saved_cookies`]), if any,
    /// presenting the TPP's certificate when it has one (a PSD2 `fallback` interface).
    /// Unreadable cookies are no cookies: the site then asks to log in again, like after a
    /// browser's cache is cleared.
    pub fn new(saved_cookies: Option<&str>, tls: &TppTls, timeouts: Timeouts) -> SourceResult<Browser> {
        let store = saved_cookies
            .and_then(|json| cookie_store::serde::json::load_all(json.as_bytes()).ok())
            .unwrap_or_default();
        let cookies = Arc::new(CookieStoreMutex::new(store));
        let client = timeouts
            .apply(tls.apply(reqwest::Client::builder()))
            .cookie_provider(cookies.clone())
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .user_agent(concat!("bankd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError::Bug(format!("building the web client: {e}")))?;
        Ok(Browser { client, timeouts, cookies })
    }

    pub async fn get(&self, url: Url) -> SourceResult<Page> {
        self.read(self.client.get(url)).await
    }

    /// Submits a form as a browser does: a GET with its fields in the query, or a POST with them
    /// url-encoded in the body.
    pub async fn submit(&self, form: &Form) -> SourceResult<Page> {
        match form.method {
            Method::Get => self.get(form.url()).await,
            Method::Post => {
                let request = self
                    .client
                    .post(form.action.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.body());
                self.read(request).await
            }
        }
    }

    /// The cookies to keep for the next run, session cookies included: a bank's session cookie has
    /// no expiry, yet is what spares the next run a login.
    pub fn saved_cookies(&self) -> SourceResult<String> {
        let store = self.cookies.lock().map_err(|_| SourceError::Bug("the cookie store is poisoned".into()))?;
        let mut json = Vec::new();
        cookie_store::serde::json::save_incl_expired_and_nonpersistent(&store, &mut json)
            .map_err(|e| SourceError::Bug(format!("saving cookies: {e}")))?;
        String::from_utf8(json).map_err(|e| SourceError::Bug(format!("saving cookies: {e}")))
    }

    async fn read(&self, request: reqwest::RequestBuilder) -> SourceResult<Page> {
        let unreachable = |e: reqwest::Error| {
            let why = describe_http_error(&e, &self.timeouts);
            tracing::warn!(error = %why, "the bank's website did not answer");
            SourceError::WebsiteUnavailable { message: Some(format!("the bank's website did not answer: {why}")) }
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let (url, status) = (response.url().clone(), response.status());
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_PAGE {
                return Err(SourceError::Bug(format!("{}: the page is over {MAX_PAGE} bytes", url.path())));
            }
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after.map(|wait| format!(" (Retry-After: {} s)", wait.as_secs())).unwrap_or_default();
            let message =
                Some(format!("{} answered 429: the bank's website limits how often it is read{wait}", url.path()));
            return Err(SourceError::RateLimited { retry_after, message });
        }
        Ok(Page { url, status, html: String::from_utf8_lossy(&body).into_owned() })
    }
}

impl Page {
    /// The parsed document. Not `Send`: parse, read and drop it between two awaits.
    pub fn document(&self) -> Html {
        Html::parse_document(&self.html)
    }

    /// The form matching `selector`; its absence is a page the module does not know.
    pub fn form(&self, selector: &str) -> SourceResult<Form> {
        Form::find(&self.html, &self.url, selector).map_err(|e| self.bug(&e.to_string()))
    }

    /// Whether an element matches `selector` (a valid selector, written by the module).
    pub fn has(&self, selector: &str) -> bool {
        let document = self.document();
        Selector::parse(selector).is_ok_and(|s| document.select(&s).next().is_some())
    }

    /// A page that is not what the module expects: `bug`, naming the page and what was missing,
    /// so that the connection's log says which page changed.
    pub fn bug(&self, what: &str) -> SourceError {
        SourceError::Bug(format!("{} ({}): {what}", self.url.path(), self.status))
    }
}

/// A CSS selector written by a module; an invalid one is a defect of the module.
pub fn selector(css: &str) -> SourceResult<Selector> {
    Selector::parse(css).map_err(|e| SourceError::Bug(format!("invalid selector '{css}': {e}")))
}

/// The trimmed text of an element, its whitespace runs collapsed.
pub fn text(element: ElementRef<'_>) -> String {
    element.text().flat_map(str::split_whitespace).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ApiSettings;
    use crate::sources::tls::testing::TlsBank;

    #[tokio::test]
    async fn a_fallback_browser_presents_the_tpp_certificate() {
        let bank = TlsBank::start().await;
        let tls = |with_identity: bool| {
            let text = format!("base_url = \"https://localhost:{}\"\n{}", bank.port, bank.settings(with_identity));
            TppTls::load(&toml::from_str::<ApiSettings>(&text).unwrap()).unwrap()
        };
        let url = Url::parse(&format!("https://localhost:{}/fallback/accounts", bank.port)).unwrap();
        let page = Browser::new(None, &tls(true), Timeouts::default()).unwrap().get(url.clone()).await.unwrap();
        assert_eq!((page.status, page.html.as_str()), (StatusCode::OK, "{}"));
        let refused = Browser::new(None, &tls(false), Timeouts::default()).unwrap().get(url).await.err();
        assert!(matches!(refused, Some(SourceError::WebsiteUnavailable { .. })), "{refused:?}");
    }
}
