//! The `web` driver: reads the sandbox web bank (`simulators::web_bank`) the way a module reads a
//! real bank's website — log in through its form (CSRF token kept), answer its one-time-code page,
//! recognise its maintenance and "accept the terms" pages, then read the account list and the
//! paginated history. It is the example to copy for a new bank: each page is fetched, checked to
//! be the page expected (else `bug`, naming the page and what is missing: a redesigned page must
//! never read as "no accounts"), then read with CSS selectors and the [`values`] parsers.
//!
//! State between runs: the login and the bank's cookies, so the next run reuses the session and
//! asks for no new code while the bank keeps it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use reqwest::{StatusCode, Url};
use scraper::ElementRef;
use serde::{Deserialize, Serialize};

use super::browser::{Browser, Page, selector, text};
use super::values::{parse_amount, parse_date};
use crate::catalog::{ApiSettings, Field, FieldKind};
use crate::domain::bank::{BankAccount, BankTransaction};
use crate::sources::tls::TppTls;
use crate::sources::{Source, SourceError, SourceRequest, SourceResult, SourceSession, Timeouts};

pub struct SandboxWeb {
    /// The site's root, ending with `/`: its pages are relative to it.
    base: Url,
    /// The TPP's certificate, for a `fallback` source (the PSD2 interface for identified TPPs).
    tls: TppTls,
    timeouts: Timeouts,
}

/// What the driver keeps in `session.state`.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Memory {
    /// Whose cookies these are: another login starts afresh.
    login: String,
    cookies: Option<String>,
    /// The site's own id of each account (its history's `account=`), by webid.
    site_ids: BTreeMap<String, String>,
}

/// The field the bank's one-time-code page asks for.
const OTP_FIELD: &str = "otp";

impl SandboxWeb {
    /// The site at `settings.base_url` (a path, `/sandbox/web`, is on bankd itself: `own_url`),
    /// with the TPP certificate the settings name, if any.
    pub fn new(settings: &ApiSettings, own_url: &str, timeouts: Timeouts) -> Result<SandboxWeb, String> {
        let base_url = &settings.base_url;
        let base = match base_url.strip_prefix('/') {
            Some(path) => format!("{}/{path}", own_url.trim_end_matches('/')),
            None => base_url.to_owned(),
        };
        let base = Url::parse(&format!("{}/", base.trim_end_matches('/'))).map_err(|e| format!("base_url: {e}"))?;
        Ok(SandboxWeb { base, tls: TppTls::load(settings)?, timeouts })
    }

    fn page(&self, path: &str) -> SourceResult<Url> {
        self.base.join(path).map_err(|e| SourceError::Bug(format!("page '{path}': {e}")))
    }

    /// The browser of this login's previous run, with its cookies, and the driver's memory.
    fn browser(&self, request: &SourceRequest, session: &SourceSession) -> SourceResult<(Browser, Memory)> {
        let login = request.credentials.get("login").unwrap_or_default().trim().to_owned();
        let memory: Memory = serde_json::from_value(session.state.clone()).unwrap_or_default();
        let memory = if memory.login == login { memory } else { Memory { login, ..Memory::default() } };
        Ok((Browser::new(memory.cookies.as_deref(), &self.tls, self.timeouts)?, memory))
    }

    fn save(browser: &Browser, mut memory: Memory, session: &mut SourceSession) -> SourceResult<()> {
        memory.cookies = Some(browser.saved_cookies()?);
        session.state = serde_json::to_value(memory).map_err(|e| SourceError::Bug(e.to_string()))?;
        Ok(())
    }

    /// The account list (the login page instead, when the bank has ended the session).
    async fn accounts_page(&self, browser: &Browser) -> SourceResult<Page> {
        let page = browser.get(self.page("accounts")?).await?;
        check_available(&page)?;
        Ok(page)
    }

    /// Logs in through the site's form, answering its code page when the user gave a code. An
    /// answer first tries to continue the session whose login sent the code (its cookies were kept),
    /// as a person types the code into the page that asked for it.
    async fn log_in(&self, browser: &Browser, request: &SourceRequest) -> SourceResult<Page> {
        let code = request.input.fields.get(OTP_FIELD);
        let waiting = match code {
            Some(_) => Some(browser.get(self.page("otp")?).await?).filter(|page| page.has("form#otp-form")),
            None => None,
        };
        let mut page = match waiting {
            Some(page) => page,
            None => self.submit_credentials(browser, request).await?,
        };
        if page.has("form#otp-form") {
            let Some(code) = code else {
                return Err(otp_needed("Enter the code the bank sent you by SMS".into()));
            };
            let mut form = page.form("form#otp-form")?;
            form.set("code", code.trim());
            page = browser.submit(&form).await?;
            check_available(&page)?;
            if page.has("form#otp-form") {
                return Err(otp_needed(page_error(&page).unwrap_or_else(|| "Wrong code".into())));
            }
        }
        if page.has("form#terms-form") {
            let message = "Accept the new terms and conditions on the bank's website".to_owned();
            return Err(SourceError::ActionNeeded { message: Some(message) });
        }
        Ok(page)
    }

    /// Fills in and submits the login form; the page it leads to.
    async fn submit_credentials(&self, browser: &Browser, request: &SourceRequest) -> SourceResult<Page> {
        let page = browser.get(self.page("login")?).await?;
        check_available(&page)?;
        let mut form = page.form("form#login-form")?;
        form.set("username", request.credentials.get("login").unwrap_or_default());
        form.set("password", request.credentials.get("password").unwrap_or_default());
        let page = browser.submit(&form).await?;
        check_available(&page)?;
        if page.has("form#login-form") {
            return Err(SourceError::WrongPass { message: page_error(&page) });
        }
        Ok(page)
    }
}

/// Maintenance pages (and the bank's own errors) are `websiteUnavailable`: try again later.
fn check_available(page: &Page) -> SourceResult<()> {
    if page.status.is_server_error() || page.has("#maintenance") {
        let message = format!("the bank's website is unavailable ({})", page.status);
        return Err(SourceError::WebsiteUnavailable { message: Some(message) });
    }
    if page.status == StatusCode::FORBIDDEN {
        return Err(page.bug("the bank refused the page (403)"));
    }
    Ok(())
}

/// The error message a page shows, if any.
fn page_error(page: &Page) -> Option<String> {
    let document = page.document();
    let error = selector("p.error").ok()?;
    document.select(&error).next().map(text)
}

fn otp_needed(message: String) -> SourceError {
    SourceError::AdditionalInformationNeeded {
        fields: vec![Field {
            name: OTP_FIELD.into(),
            label: "One-time code received by SMS (123456)".into(),
            kind: FieldKind::Text,
            required: true,
            regex: Some("^[0-9]{6}$".into()),
            values: None,
            default: None,
        }],
        message: Some(message),
    }
}

#[async_trait]
impl Source for SandboxWeb {
    async fn login(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()> {
        let (browser, memory) = self.browser(request, session)?;
        // A session the bank still keeps needs no login (and no code); the user re-entering
        // credentials does.
        let reused = !request.input.authenticating && self.accounts_page(&browser).await?.has("table#accounts");
        let logged_in = match reused {
            true => Ok(()),
            false => self.log_in(&browser, request).await.map(|_| session.strongly_authenticated = true),
        };
        // Kept even when the bank asks for a code: the answer continues this session.
        Self::save(&browser, memory, session)?;
        logged_in
    }

    async fn accounts(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Vec<BankAccount>> {
        let (browser, mut memory) = self.browser(request, session)?;
        let page = self.accounts_page(&browser).await?;
        let accounts = read_accounts(&page)?;
        memory.site_ids = accounts.iter().map(|(site_id, account)| (account.webid.clone(), site_id.clone())).collect();
        Self::save(&browser, memory, session)?;
        Ok(accounts.into_iter().map(|(_, account)| account).collect())
    }

    async fn transactions(
        &self,
        request: &SourceRequest,
        session: &mut SourceSession,
        account_webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let (browser, memory) = self.browser(request, session)?;
        let today = request.now.date_naive();
        let Some(site_id) = memory.site_ids.get(account_webid) else {
            return Err(SourceError::Bug(format!("account {account_webid} was not on the account list")));
        };
        let mut url = self.page("history")?;
        url.query_pairs_mut().append_pair("account", site_id).append_pair("page", "1");
        let mut transactions = Vec::new();
        let mut first = true;
        loop {
            let page = browser.get(url).await?;
            check_available(&page)?;
            let history = read_history(&page, today, first)?;
            transactions.extend(history.rows);
            let reached_since = since.is_some_and(|since| history.oldest.is_some_and(|oldest| oldest < since));
            match history.next {
                Some(next) if !reached_since => url = next,
                _ => break,
            }
            first = false;
        }
        if let Some(since) = since {
            transactions.retain(|t| t.coming || t.date >= since);
        }
        Self::save(&browser, memory, session)?;
        Ok(transactions)
    }
}

/// The accounts of `table#accounts`, with the site's id of each. No table is a page this module
/// does not know, never "no accounts": the connection's accounts must not be archived because the
/// bank redesigned a page.
fn read_accounts(page: &Page) -> SourceResult<Vec<(String, BankAccount)>> {
    if !page.has("table#accounts") {
        return Err(page.bug("no `table#accounts` on the account list"));
    }
    let document = page.document();
    let rows = selector("table#accounts tr.account")?;
    document.select(&rows).map(|row| read_account(page, row)).collect()
}

/// An account row. Its webid is its IBAN, else its number, as a PSD2 source of the same bank names
/// it: one bank read through both gives one account row. The site's own id is kept for its links.
fn read_account(page: &Page, row: ElementRef<'_>) -> SourceResult<(String, BankAccount)> {
    let site_id = row.value().attr("data-id").ok_or_else(|| page.bug("an account row has no data-id"))?;
    let name = cell(page, row, "td.label")?;
    let balance = cell(page, row, "td.balance")?;
    let balance = parse_amount(&balance).map_err(|e| page.bug(&e.to_string()))?;
    let optional = |css: &str| cell(page, row, css).ok().filter(|v| !v.is_empty());
    let kind = match name.to_lowercase() {
        n if n.contains("livret") || n.contains("épargne") => "savings",
        n if ["carte", "visa", "mastercard"].iter().any(|card| n.contains(card)) => "card",
        _ => "checking",
    };
    let (number, iban) = (optional("td.number"), optional("td.iban").map(|iban| iban.replace(' ', "")));
    let webid = iban.clone().or(number.clone()).unwrap_or_else(|| site_id.to_owned());
    let account = BankAccount {
        webid,
        number,
        iban,
        name,
        bic: None,
        kind,
        currency: "EUR".into(),
        balance,
        coming: None,
        usage: "PRIV",
    };
    Ok((site_id.to_owned(), account))
}

/// The text of the cell `css` of a row, which must be there.
fn cell(page: &Page, row: ElementRef<'_>, css: &str) -> SourceResult<String> {
    let found = row.select(&selector(css)?).next().map(text);
    found.ok_or_else(|| page.bug(&format!("a row has no `{css}`")))
}

/// One page of history.
struct History {
    rows: Vec<BankTransaction>,
    /// The date of its oldest booked row.
    oldest: Option<NaiveDate>,
    next: Option<Url>,
}

/// A page of `table#operations` (booked, newest first) and, on the first page, `table#upcoming`
/// (pending: "à venir").
fn read_history(page: &Page, today: NaiveDate, first: bool) -> SourceResult<History> {
    if !page.has("table#operations") || (first && !page.has("table#upcoming")) {
        return Err(page.bug("no `table#operations` or `table#upcoming` on the history"));
    }
    let document = page.document();
    let mut rows = Vec::new();
    for (css, coming) in [("table#operations tr.operation", false), ("table#upcoming tr.operation", true)] {
        for row in document.select(&selector(css)?) {
            rows.push(read_operation(page, row, today, coming)?);
        }
    }
    let oldest = rows.iter().filter(|t| !t.coming).map(|t| t.date).min();
    let next = match document.select(&selector("a.next")?).next().and_then(|a| a.value().attr("href")) {
        Some(href) => Some(page.url.join(href).map_err(|e| page.bug(&format!("next page '{href}': {e}")))?),
        None => None,
    };
    Ok(History { rows, oldest, next })
}

fn read_operation(page: &Page, row: ElementRef<'_>, today: NaiveDate, coming: bool) -> SourceResult<BankTransaction> {
    let date = cell(page, row, "td.date")?;
    let date = parse_date(&date, today).map_err(|e| page.bug(&e.to_string()))?;
    let amount = cell(page, row, "td.amount")?;
    let value = parse_amount(&amount).map_err(|e| page.bug(&e.to_string()))?;
    let wording = cell(page, row, "td.label")?;
    // Pending operations have no id at the bank yet: reconciliation matches them when booked.
    let webid = row.value().attr("data-ref").filter(|r| !r.is_empty() && !coming).map(str::to_owned);
    Ok(BankTransaction {
        webid,
        date,
        rdate: date,
        vdate: None,
        value,
        original_wording: wording,
        kind: "unknown",
        coming,
        card: None,
        counterparty: None,
    })
}
