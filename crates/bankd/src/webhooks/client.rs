//! The HTTP client that delivers webhooks. A webhook URL is chosen by a client app, so every
//! request bankd makes to one is a request an outsider aimed (server-side request forgery): this
//! client is built so that aim can only reach the public internet, and so a hostile or broken
//! receiver cannot hold bankd up.
//!
//! - The URL is checked first ([`check_url`]): scheme, no credentials, and a literal IP host,
//!   which never reaches a resolver.
//! - A name is resolved at delivery by bankd's own resolver, which keeps only the addresses
//!   [`check_address`] accepts: a name that was public when the URL was registered may point at
//!   `127.0.0.1` today, and checking the very addresses connected to leaves no gap between check
//!   and use (DNS rebinding).
//! - Redirects are not followed: a `Location` is another URL the app chose, unchecked; a 3xx is
//!   just an answer that is not a 2xx.
//! - The receiver's answer is read up to [`BODY_CAP`] and only an excerpt is kept, so an endless
//!   or huge body costs neither memory nor time.
//! - No cookies (a receiver must not steer later deliveries), no proxy from the environment (a
//!   proxy would resolve names itself, past the check), and a timeout over the whole request.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::CONTENT_TYPE;

use super::safety::{check_address, check_url};

/// How much of a receiver's answer body is read: enough to let a short body end so the connection
/// can be reused, never so much that a receiver could make bankd buffer without bound.
pub const BODY_CAP: usize = 64 * 1024;

/// How many characters of the answer body the delivery log keeps.
pub const EXCERPT_CHARS: usize = 512;

/// The longest a connection may take to open, when the whole-request timeout is longer: an
/// unreachable receiver should not hold a delivery worker for the full timeout.
const CONNECT_TIMEOUT_CAP: Duration = Duration::from_secs(5);

/// Delivers webhooks; cheap to clone (one connection pool, shared).
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
}

/// A receiver's answer, whatever its status (a 3xx or 5xx is an answer too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// From sending the request to having read the answer's excerpt.
    pub latency: Duration,
    /// The first bytes of the receiver's body, lossy UTF-8, at most [`EXCERPT_CHARS`] characters,
    /// for the delivery log.
    pub excerpt: String,
}

/// Why a delivery got no answer. No latency is carried: a refusal is immediate, a timeout took
/// the configured timeout (in [`Failure::Timeout`]), and a caller that wants the time of a failed
/// connection can time the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The URL is malformed or refused, or every address its host resolves to is: nothing was
    /// sent, and retrying will not help until the URL or its DNS changes.
    #[error("refused: {0}")]
    Refused(String),
    /// No complete answer (status and headers) within the client's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No connection to the receiver (refused, unreachable, TLS handshake failed, name unknown).
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

impl WebhookClient {
    /// `timeout` bounds a whole request (connect and answer), e.g. 10 s; `allow_private` lets
    /// deliveries reach internal addresses (on while the sandbox is, for a developer's receiver).
    pub fn new(timeout: Duration, allow_private: bool) -> Result<WebhookClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            // No `cookie_store`: a receiver's cookies must not ride along to later deliveries.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(CONNECT_TIMEOUT_CAP))
            .user_agent(concat!("bankd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookClient { http, allow_private, timeout })
    }

    /// POSTs `body` as JSON to `url`, with `headers` (name, value) added to `Content-Type:
    /// application/json` and bankd's `User-Agent`.
    pub async fn post(&self, url: &str, headers: &[(String, String)], body: Vec<u8>) -> Result<Answer, Failure> {
        let url = Url::parse(url).map_err(|e| Failure::Refused(format!("{url:?} is not a valid URL: {e}")))?;
        check_url(&url, self.allow_private).map_err(|e| Failure::Refused(e.to_string()))?;
        let mut request = self.http.post(url).header(CONTENT_TYPE, "application/json").body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let start = Instant::now();
        let response = request.send().await.map_err(|e| self.failure(e))?;
        let status = response.status().as_u16();
        let excerpt = excerpt(&read_capped(response).await);
        Ok(Answer { status, latency: start.elapsed(), excerpt })
    }

    fn failure(&self, error: reqwest::Error) -> Failure {
        let error = error.without_url(); // the caller knows the URL; the text stays short
        if let Some(refused) = find_source::<AddressesRefused>(&error) {
            Failure::Refused(refused.to_string())
        } else if error.is_timeout() {
            Failure::Timeout(self.timeout)
        } else if error.is_connect() {
            Failure::Connect(chain(&error))
        } else {
            Failure::Other(chain(&error))
        }
    }
}

/// Reads at most about [`BODY_CAP`] bytes of the answer body. A body that fails or times out
/// midway keeps what came: the status is the receiver's verdict, the body only feeds the log.
async fn read_capped(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    // Dropping the response past the cap closes the connection instead of draining it.
    body
}

fn excerpt(body: &[u8]) -> String {
    // A character is at most 4 bytes: decoding more than this could not add to the excerpt.
    let head = &body[..body.len().min(EXCERPT_CHARS * 4)];
    String::from_utf8_lossy(head).chars().take(EXCERPT_CHARS).collect()
}

/// The first error of type `E` in `error`'s source chain.
fn find_source<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// An error and its causes, `: `-separated: reqwest's own text alone ("error sending request")
/// does not say what went wrong.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        current = cause.source();
    }
    text
}

/// Every address a name resolved to was refused by [`check_address`].
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to internal addresses ({})", list(.addresses))]
struct AddressesRefused {
    host: String,
    addresses: Vec<IpAddr>,
}

fn list(addresses: &[IpAddr]) -> String {
    addresses.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ")
}

/// The system resolver, keeping only the addresses [`check_address`] accepts. reqwest connects
/// to what it returns, so the addresses checked are the ones used.
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (kept, refused): (Vec<_>, Vec<_>) =
                resolved.into_iter().partition(|addr| check_address(addr.ip(), allow_private).is_ok());
            if kept.is_empty() && !refused.is_empty() {
                let addresses = refused.iter().map(SocketAddr::ip).collect();
                return Err(Box::new(AddressesRefused { host, addresses }) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::{any, post};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// Serves `app` on a free port of 127.0.0.1 and gives the base URL.
    async fn serve(app: Router) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    fn client(timeout: Duration, allow_private: bool) -> WebhookClient {
        WebhookClient::new(timeout, allow_private).unwrap()
    }

    #[tokio::test]
    async fn a_receiver_gets_the_body_and_headers_as_sent() {
        let (seen, mut received) = mpsc::unbounded_channel();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| async move {
                seen.send((headers, body)).unwrap();
                "thanks"
            }),
        );
        let base = serve(app).await;
        let headers = [("BI-Signature".to_owned(), "abc=".to_owned())];

        let answer = client(TIMEOUT, true).post(&format!("{base}/hook"), &headers, b"{\"a\":1}".to_vec()).await;

        let answer = answer.unwrap();
        assert_eq!((answer.status, answer.excerpt.as_str()), (200, "thanks"));
        let (headers, body) = received.recv().await.unwrap();
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers["bi-signature"], "abc=");
        assert_eq!(headers[header::USER_AGENT], concat!("bankd/", env!("CARGO_PKG_VERSION")));
        assert_eq!(&body[..], b"{\"a\":1}");
    }

    #[tokio::test]
    async fn a_redirect_is_an_answer_and_is_not_followed() {
        let followed = Arc::new(AtomicUsize::new(0));
        let counter = followed.clone();
        let app = Router::new()
            .route("/hook", post(|| async { (StatusCode::FOUND, [(header::LOCATION, "/elsewhere")]) }))
            .route(
                "/elsewhere",
                any(move || async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    "here"
                }),
            );
        let base = serve(app).await;

        let answer = client(TIMEOUT, true).post(&format!("{base}/hook"), &[], b"{}".to_vec()).await.unwrap();

        assert_eq!(answer.status, 302);
        assert_eq!(followed.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_huge_answer_is_read_only_up_to_the_cap() {
        let app = Router::new().route("/hook", post(|| async { "x".repeat(1024 * 1024) }));
        let base = serve(app).await;

        let start = Instant::now();
        let answer = client(TIMEOUT, true).post(&format!("{base}/hook"), &[], b"{}".to_vec()).await.unwrap();

        assert_eq!(answer.status, 200);
        assert_eq!(answer.excerpt, "x".repeat(EXCERPT_CHARS));
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    }

    #[tokio::test]
    async fn an_endless_answer_does_not_hold_the_delivery() {
        // Reading it all would last until the timeout: the cap is what makes this prompt.
        let endless = || async {
            let chunks = futures::stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 8192])));
            Body::from_stream(chunks).into_response()
        };
        let base = serve(Router::new().route("/hook", post(endless))).await;

        let start = Instant::now();
        let answer = client(TIMEOUT, true).post(&format!("{base}/hook"), &[], b"{}".to_vec()).await.unwrap();

        assert_eq!((answer.status, answer.excerpt.len()), (200, EXCERPT_CHARS));
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    }

    #[tokio::test]
    async fn a_slow_receiver_times_out() {
        let app = Router::new().route("/hook", post(|| tokio::time::sleep(Duration::from_secs(3))));
        let base = serve(app).await;
        let timeout = Duration::from_millis(300);

        let start = Instant::now();
        let failure = client(timeout, true).post(&format!("{base}/hook"), &[], b"{}".to_vec()).await.unwrap_err();

        assert_eq!(failure, Failure::Timeout(timeout));
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    }

    /// A raw listener, to tell whether any connection at all was made.
    async fn listener() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    async fn assert_no_connection(listener: &TcpListener) {
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "a connection was made");
    }

    #[tokio::test]
    async fn an_internal_literal_address_is_refused_before_connecting() {
        let (listener, port) = listener().await;

        let failure = client(TIMEOUT, false).post(&format!("http://127.0.0.1:{port}/"), &[], vec![]).await.unwrap_err();

        assert!(matches!(&failure, Failure::Refused(text) if text.contains("127.0.0.1")), "{failure}");
        assert_no_connection(&listener).await;
    }

    #[tokio::test]
    async fn a_name_resolving_to_internal_addresses_is_refused_by_the_resolver() {
        let (listener, port) = listener().await;

        let failure = client(TIMEOUT, false).post(&format!("http://localhost:{port}/"), &[], vec![]).await.unwrap_err();

        assert!(matches!(&failure, Failure::Refused(text) if text.contains("localhost resolves only")), "{failure}");
        assert_no_connection(&listener).await;
    }

    #[tokio::test]
    async fn a_malformed_or_refused_url_is_refused() {
        let client = client(TIMEOUT, true);
        for url in ["not a url", "ftp://hooks.example.com/", "https://user:pw@hooks.example.com/"] {
            let failure = client.post(url, &[], vec![]).await.unwrap_err();
            assert!(matches!(failure, Failure::Refused(_)), "{url}: {failure}");
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_failure() {
        let (listener, port) = listener().await;
        drop(listener);

        let failure = client(TIMEOUT, true).post(&format!("http://127.0.0.1:{port}/"), &[], vec![]).await.unwrap_err();

        assert!(matches!(failure, Failure::Connect(_)), "{failure}");
    }
}
