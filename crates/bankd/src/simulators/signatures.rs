//! The "signature required" mode of the sandbox PSD2 banks: the XS2A ASPSP under
//! `/sandbox/xs2a-signed` and the STET bank under `/sandbox/stet-signed` are the same banks as
//! `/sandbox/xs2a` and `/sandbox/stet`, behind a layer that verifies every API call's HTTP message
//! signature (Berlin Group implementation guidelines section 12; STET v1.4 section 3.5) before the
//! bank sees it. Only the browser's pages (the consent and authorization pages) go unsigned.
//!
//! What is checked, in order: a `Signature` header (else `SIGNATURE_MISSING`), a `Digest` header
//! equal to the hash of the body, SHA-256 or SHA-512 (else `SIGNATURE_MISSING` / `SIGNATURE_INVALID`),
//! the signed headers including the digest and the `X-Request-ID` (and, for STET, the
//! `(request-target)`), then the signature over the signing string rebuilt from the `headers`
//! parameter, with the public key of the certificate:
//!
//! - XS2A: the certificate the request presents in `TPP-Signature-Certificate` (base64 DER; else
//!   `CERTIFICATE_MISSING`), whose serial number the `keyId`'s `SN=` must name;
//! - STET: the certificate published at the `keyId` URL, which the bank downloads (PEM or DER,
//!   http or https) and keeps for the life of the process, as a STET bank does.
//!
//! A real STET bank downloads from the URLs of its registered TPPs; this one would download from
//! whatever URL a visitor names, so it only goes to this machine's loopback addresses (where a
//! test or a TPP developer publishes the certificate): bankd's sandbox is on by default, and must
//! not become a way to make it send requests into the network it runs in.
//!
//! A refusal is a 401 with the bank's error body: `tppMessages` for XS2A, `{status, error,
//! message}` for STET. The sandbox checks no certificate chain: any certificate is trusted, as on
//! a bank's test platform.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature as sig;
use serde_json::json;
use x509_cert::der::Decode;

/// The most of a request body the layer reads.
const MAX_BODY: usize = 1 << 20;
/// The most of a published certificate the STET bank downloads.
const MAX_CERTIFICATE: usize = 64 << 10;
/// The most certificates the STET bank keeps; past it, it forgets them all and downloads again.
const MAX_PUBLISHED: usize = 256;

/// Which bank the layer stands in front of: what it requires, and how it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Xs2a,
    Stet,
}

/// An http(s) URL on a loopback address: the only place the sandbox downloads from.
fn is_local_certificate_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else { return false };
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    matches!(url.scheme(), "http" | "https") && loopback
}

/// The verifying layer's state: the bank's style, and (STET) the certificates downloaded so far.
#[derive(Clone)]
pub struct Verifier {
    style: Style,
    published: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    http: reqwest::Client,
}

impl Verifier {
    pub fn new(style: Style) -> Verifier {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds");
        Verifier { style, published: Arc::default(), http }
    }

    fn refuse(&self, code: &'static str, text: impl Into<String>) -> Response {
        let text = text.into();
        let body = match self.style {
            Style::Xs2a => json!({ "tppMessages": [{ "category": "ERROR", "code": code, "text": text }] }),
            Style::Stet => json!({ "status": 401, "error": code, "message": text }),
        };
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    }

    /// The certificate (DER) published at `url`, downloaded once.
    async fn published(&self, url: &str) -> Result<Vec<u8>, String> {
        if let Some(der) = self.published.lock().unwrap_or_else(PoisonError::into_inner).get(url) {
            return Ok(der.clone());
        }
        if !is_local_certificate_url(url) {
            return Err(format!("the keyId '{url}' is not the URL of a certificate on this machine (loopback)"));
        }
        let fetched = async {
            let mut response = self.http.get(url).send().await?.error_for_status()?;
            let mut body = Vec::new();
            // Past the limit the body is cut, and then is no certificate.
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_CERTIFICATE {
                    break;
                }
            }
            Ok::<_, reqwest::Error>(body)
        };
        // The refusal does not say why: a public sandbox must not tell what answers on its network.
        let body = fetched.await.map_err(|e| {
            tracing::debug!(url, error = %e, "sandbox bank: no certificate at the keyId URL");
            format!("the certificate at {url} could not be downloaded")
        })?;
        let der = match x509_cert::der::pem::decode_vec(&body) {
            Ok((_, der)) => der,
            Err(_) => body,
        };
        x509_cert::Certificate::from_der(&der).map_err(|e| format!("{url} is not a certificate: {e}"))?;
        let mut published = self.published.lock().unwrap_or_else(PoisonError::into_inner);
        if published.len() >= MAX_PUBLISHED {
            published.clear();
        }
        published.insert(url.to_owned(), der.clone());
        Ok(der)
    }
}

/// The layer: lets a browser page through, verifies anything else and refuses what fails.
pub async fn require(State(verifier): State<Verifier>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/authorize") || path.starts_with("/oauth/authorize") {
        return next.run(request).await;
    }
    let target = match request.extensions().get::<OriginalUri>() {
        Some(OriginalUri(uri)) => uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.to_string()),
        None => request.uri().path_and_query().map_or_else(|| path.to_owned(), |pq| pq.to_string()),
    };
    let target = format!("{} {target}", request.method().as_str().to_ascii_lowercase());
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return verifier.refuse("FORMAT_ERROR", "The body is too large");
    };
    if let Err((code, text)) = verify(&verifier, &parts.headers, &target, &body).await {
        tracing::debug!(code, text, "sandbox bank: signature refused");
        return verifier.refuse(code, text);
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

type Refused = (&'static str, String);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The parameters of a `Signature` header: `name="value"` pairs separated by commas (a value
/// may hold commas: the Berlin Group's keyId does).
fn parameters(value: &str) -> Option<HashMap<&str, &str>> {
    let mut found = HashMap::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let (value, after) = after.split_once('"')?;
        found.insert(name.trim(), value);
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(found)
}

async fn verify(verifier: &Verifier, headers: &HeaderMap, target: &str, body: &[u8]) -> Result<(), Refused> {
    let invalid = |text: &str| ("SIGNATURE_INVALID", text.to_owned());
    let signature = header(headers, "signature").ok_or_else(|| {
        ("SIGNATURE_MISSING", "This ASPSP requires signed requests: the Signature header is missing".into())
    })?;
    let digest =
        header(headers, "digest").ok_or_else(|| ("SIGNATURE_MISSING", "The Digest header is missing".into()))?;
    let expected = match digest.split_once('=') {
        Some(("SHA-256", _)) => format!("SHA-256={}", BASE64.encode(ring::digest::digest(&ring::digest::SHA256, body))),
        Some(("SHA-512", _)) => format!("SHA-512={}", BASE64.encode(ring::digest::digest(&ring::digest::SHA512, body))),
        _ => return Err(invalid("The Digest is neither SHA-256 nor SHA-512")),
    };
    if digest != expected {
        return Err(invalid("The Digest does not match the body"));
    }

    let params = parameters(signature).ok_or_else(|| invalid("The Signature header cannot be read"))?;
    let param = |name: &str| params.get(name).copied().ok_or_else(|| invalid(&format!("The Signature has no {name}")));
    let (key_id, algorithm, signed, value) =
        (param("keyId")?, param("algorithm")?, param("headers")?, param("signature")?);
    let signed: Vec<String> = signed.split_whitespace().map(str::to_ascii_lowercase).collect();
    let required: &[&str] = match verifier.style {
        Style::Xs2a => &["digest", "x-request-id"],
        Style::Stet => &["(request-target)", "digest", "x-request-id"],
    };
    if let Some(missing) = required.iter().find(|name| !signed.iter().any(|s| s == *name)) {
        return Err(invalid(&format!("The signature must cover {missing}")));
    }
    let mut lines = Vec::new();
    for name in &signed {
        let value = if name == "(request-target)" {
            target.to_owned()
        } else {
            let values: Vec<&str> =
                headers.get_all(name.as_str()).iter().filter_map(|v| v.to_str().ok()).map(str::trim).collect();
            if values.is_empty() {
                return Err(invalid(&format!("The signed header {name} is not in the request")));
            }
            values.join(", ")
        };
        lines.push(format!("{name}: {value}"));
    }

    let certificate = match verifier.style {
        Style::Xs2a => {
            let presented = header(headers, "tpp-signature-certificate")
                .ok_or_else(|| ("CERTIFICATE_MISSING", "The TPP-Signature-Certificate header is missing".into()))?;
            BASE64
                .decode(presented)
                .map_err(|_| ("CERTIFICATE_INVALID", "TPP-Signature-Certificate is not base64".into()))?
        }
        Style::Stet => verifier.published(key_id).await.map_err(|text| ("CERTIFICATE_INVALID", text))?,
    };
    let certificate = x509_cert::Certificate::from_der(&certificate)
        .map_err(|e| ("CERTIFICATE_INVALID", format!("The signing certificate cannot be read: {e}")))?;
    if verifier.style == Style::Xs2a {
        let serial: String =
            certificate.tbs_certificate.serial_number.as_bytes().iter().map(|b| format!("{b:02X}")).collect();
        let named = key_id.strip_prefix("SN=").and_then(|rest| rest.split(',').next()).unwrap_or_default();
        if named.trim_start_matches('0').to_ascii_uppercase() != serial.trim_start_matches('0') {
            return Err(invalid("The keyId does not name the presented certificate's serial number"));
        }
    }
    let verification: &dyn sig::VerificationAlgorithm = match algorithm {
        "rsa-sha256" | "SHA256withRSA" => &sig::RSA_PKCS1_2048_8192_SHA256,
        "rsa-sha512" | "SHA512withRSA" => &sig::RSA_PKCS1_2048_8192_SHA512,
        "ecdsa-sha256" | "SHA256withECDSA" => &sig::ECDSA_P256_SHA256_ASN1,
        other => return Err(invalid(&format!("The algorithm {other} is not accepted"))),
    };
    let public = certificate.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let value = BASE64.decode(value).map_err(|_| invalid("The signature is not base64"))?;
    sig::UnparsedPublicKey::new(verification, public)
        .verify(lines.join("\n").as_bytes(), &value)
        .map_err(|_| invalid("The signature does not verify with the signing certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_parameters_are_read_with_commas_inside_values() {
        let params = parameters(
            r#"keyId="SN=1A,CA=CN=x,O=y",algorithm="rsa-sha256", headers="digest x-request-id",signature="YQ==""#,
        )
        .unwrap();
        assert_eq!(params["keyId"], "SN=1A,CA=CN=x,O=y");
        assert_eq!(params["headers"], "digest x-request-id");
        assert_eq!(params["signature"], "YQ==");
        assert!(parameters("keyId=unquoted").is_none());
        assert!(
            is_local_certificate_url("http://127.0.0.1:4000/tpp.pem")
                && is_local_certificate_url("https://localhost/c")
        );
        for elsewhere in
            ["http://10.0.0.1/c", "http://169.254.169.254/latest", "https://tpp.example/c", "file:///etc/passwd"]
        {
            assert!(!is_local_certificate_url(elsewhere), "{elsewhere}");
        }
    }
}
