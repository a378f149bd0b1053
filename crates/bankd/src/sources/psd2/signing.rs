//! Request signing: the HTTP message signatures some PSD2 APIs require on every call, made with the
//! TPP's qualified seal certificate (QSealC) and its key.
//!
//! The scheme is draft-cavage-http-signatures-10 as the Berlin Group profiles it (NextGenPSD2
//! implementation guidelines, section 12) and STET takes it over:
//!
//! - `Digest: SHA-256=<base64 of the body's hash>` (or `SHA-512=`), on every request, an empty
//!   body included;
//! - `Date`, which bankd adds when the request has none;
//! - the signing string: one `name: value` line per signed header, in the configured order, names
//!   lowercase, lines joined by `\n`; `(request-target)` stands for `<method lowercase> <path>?<query>`.
//!   A configured header the request lacks is left out, and out of the `headers` parameter;
//! - `Signature: keyId="…",algorithm="rsa-sha256",headers="digest x-request-id …",signature="<base64>"`,
//!   where `keyId` is `SN=<serial, hex>,CA=<issuer DN, RFC 4514>` for the Berlin Group, or the URL
//!   where the certificate is published for STET;
//! - XS2A also sends the certificate itself: `TPP-Signature-Certificate: <base64 of its DER>`.
//!
//! Everything is read and checked when the drivers are built: a missing file, a key that is not
//! the certificate's or not made for the algorithm stops bankd at start, naming the file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderName, HeaderValue};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, KeyPair, RsaKeyPair};
use x509_cert::der::Decode;

use crate::catalog::{DigestAlgorithm, SignatureAlgorithm, SigningSettings};

/// Which standard's habits apply where the catalog says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Xs2a,
    Stet,
}

impl Dialect {
    /// The headers signed by default (each when present), after `(request-target)` if it is.
    fn default_headers(self) -> &'static [&'static str] {
        match self {
            // Berlin Group: digest and x-request-id always; psu-id, psu-corporate-id and
            // tpp-redirect-uri when sent; date, which bankd always sends.
            Dialect::Xs2a => &["digest", "x-request-id", "psu-id", "psu-corporate-id", "tpp-redirect-uri", "date"],
            // STET: the request target, its digest and id, and the PSU context headers.
            Dialect::Stet => &["digest", "x-request-id", "date", "psu-ip-address"],
        }
    }
}

enum Key {
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
}

/// bankd's signing identity for one bank's API, ready to sign its requests.
pub struct Signer {
    key: Key,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm,
    /// Lowercase names, `(request-target)` first when it is signed.
    headers: Vec<String>,
    key_id: String,
    /// `TPP-Signature-Certificate` (XS2A): the certificate's DER, in base64.
    certificate_header: Option<HeaderValue>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("key_id", &self.key_id).field("headers", &self.headers).finish_non_exhaustive()
    }
}

/// The contents of a PEM file with the `wanted` label(s).
fn read_pem(path: &std::path::Path, wanted: &[&str]) -> Result<Vec<u8>, String> {
    let text = std::fs::read(path).map_err(|e| format!("signing: reading {}: {e}", path.display()))?;
    let (label, der) = x509_cert::der::pem::decode_vec(&text)
        .map_err(|e| format!("signing: {} is not a PEM file: {e}", path.display()))?;
    if !wanted.contains(&label) {
        let wanted = wanted.join(" or ");
        return Err(format!("signing: {} holds a {label}, not a {wanted}", path.display()));
    }
    Ok(der)
}

impl Signer {
    pub fn load(settings: &SigningSettings, dialect: Dialect) -> Result<Signer, String> {
        let cert_der = read_pem(&settings.certificate, &["CERTIFICATE"])?;
        let certificate = x509_cert::Certificate::from_der(&cert_der)
            .map_err(|e| format!("signing: {} is not an X.509 certificate: {e}", settings.certificate.display()))?;
        let key_file = settings.private_key.display();
        let key_der = read_pem(&settings.private_key, &["PRIVATE KEY"])?;
        let rng = SystemRandom::new();
        let key = match settings.algorithm {
            SignatureAlgorithm::RsaSha256 | SignatureAlgorithm::RsaSha512 => {
                let pair = RsaKeyPair::from_pkcs8(&key_der)
                    .map_err(|e| format!("signing: {key_file} is not an RSA key for {:?}: {e}", settings.algorithm))?;
                let encoding = if settings.algorithm == SignatureAlgorithm::RsaSha256 {
                    &sig::RSA_PKCS1_SHA256
                } else {
                    &sig::RSA_PKCS1_SHA512
                };
                Key::Rsa(pair, encoding)
            }
            SignatureAlgorithm::EcdsaSha256 => Key::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &key_der, &rng)
                    .map_err(|e| format!("signing: {key_file} is not a P-256 key for ecdsa-sha256: {e}"))?,
            ),
        };
        let public = match &key {
            Key::Rsa(pair, _) => pair.public_key().as_ref(),
            Key::Ecdsa(pair) => pair.public_key().as_ref(),
        };
        let spki = &certificate.tbs_certificate.subject_public_key_info.subject_public_key;
        if spki.as_bytes() != Some(public) {
            return Err(format!("signing: {key_file} is not the key of {}", settings.certificate.display()));
        }

        let key_id = match settings.key_id.as_deref() {
            None | Some("berlin-group") if dialect == Dialect::Stet => {
                return Err("signing: STET names the certificate by the URL where it is published: set key_id".into());
            }
            None | Some("berlin-group") => berlin_group_key_id(&certificate),
            Some(other) => other.to_owned(),
        };
        let request_target = settings.request_target.unwrap_or(dialect == Dialect::Stet);
        let configured: Vec<String> = match &settings.headers {
            Some(list) => list.iter().map(|name| name.trim().to_ascii_lowercase()).collect(),
            None => dialect.default_headers().iter().map(|name| (*name).to_owned()).collect(),
        };
        let mut headers = Vec::new();
        if request_target {
            headers.push(REQUEST_TARGET.to_owned());
        }
        for name in configured {
            if name != REQUEST_TARGET && HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("signing: '{name}' is not a header name"));
            }
            if !headers.contains(&name) {
                headers.push(name);
            }
        }
        if !headers.iter().any(|name| name == "digest") {
            return Err("signing: the signed headers must include digest".into());
        }
        let certificate_header = (dialect == Dialect::Xs2a)
            .then(|| HeaderValue::from_str(&BASE64.encode(&cert_der)).expect("base64 is a header value"));
        Ok(Signer {
            key,
            algorithm: settings.algorithm,
            digest: settings.digest,
            headers,
            key_id,
            certificate_header,
            rng,
        })
    }

    /// Adds `Date` (unless there is one), `Digest`, `TPP-Signature-Certificate` (XS2A) and
    /// `Signature` to `request`.
    pub fn sign(&self, request: &mut reqwest::Request, now: DateTime<Utc>) -> Result<(), String> {
        let body = match request.body() {
            Some(body) => body.as_bytes().ok_or("a streamed body cannot be signed")?.to_vec(),
            None => Vec::new(),
        };
        let target = match request.url().query() {
            Some(query) => {
                format!("{} {}?{query}", request.method().as_str().to_ascii_lowercase(), request.url().path())
            }
            None => format!("{} {}", request.method().as_str().to_ascii_lowercase(), request.url().path()),
        };
        let headers = request.headers_mut();
        if !headers.contains_key(reqwest::header::DATE) {
            let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            headers.insert(reqwest::header::DATE, HeaderValue::from_str(&date).expect("a date is a header value"));
        }
        headers.insert("digest", HeaderValue::from_str(&self.digest_of(&body)).expect("base64 is a header value"));
        if let Some(certificate) = &self.certificate_header {
            headers.insert("tpp-signature-certificate", certificate.clone());
        }

        let mut signed = Vec::new();
        let mut lines = Vec::new();
        for name in &self.headers {
            let value = if name == REQUEST_TARGET {
                target.clone()
            } else {
                let values: Vec<&str> = headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| v.to_str().map(str::trim))
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("the {name} header is not text and cannot be signed"))?;
                if values.is_empty() {
                    continue;
                }
                values.join(", ")
            };
            lines.push(format!("{name}: {value}"));
            signed.push(name.as_str());
        }
        let signature = self.signature_of(lines.join("\n").as_bytes())?;
        let header = format!(
            "keyId=\"{}\",algorithm=\"{}\",headers=\"{}\",signature=\"{}\"",
            self.key_id,
            self.algorithm_name(),
            signed.join(" "),
            BASE64.encode(signature)
        );
        let value =
            HeaderValue::from_str(&header).map_err(|_| format!("the keyId '{}' is not header text", self.key_id))?;
        headers.insert("signature", value);
        Ok(())
    }

    /// The `Digest` header's value for `body`.
    fn digest_of(&self, body: &[u8]) -> String {
        let (name, algorithm) = match self.digest {
            DigestAlgorithm::Sha256 => ("SHA-256", &ring::digest::SHA256),
            DigestAlgorithm::Sha512 => ("SHA-512", &ring::digest::SHA512),
        };
        format!("{name}={}", BASE64.encode(ring::digest::digest(algorithm, body)))
    }

    fn signature_of(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.key {
            Key::Rsa(pair, encoding) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &self.rng, message, &mut signature).map_err(|_| "RSA signing failed")?;
                Ok(signature)
            }
            Key::Ecdsa(pair) => {
                Ok(pair.sign(&self.rng, message).map_err(|_| "ECDSA signing failed")?.as_ref().to_vec())
            }
        }
    }

    fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            SignatureAlgorithm::RsaSha256 => "rsa-sha256",
            SignatureAlgorithm::RsaSha512 => "rsa-sha512",
            SignatureAlgorithm::EcdsaSha256 => "ecdsa-sha256",
        }
    }
}

const REQUEST_TARGET: &str = "(request-target)";

/// `SN=<serial>,CA=<issuer>`: the serial number as uppercase hex without leading zeros, and the
/// issuer's distinguished name as RFC 4514 writes it (most specific first: `CN=…,O=…,C=…`).
fn berlin_group_key_id(certificate: &x509_cert::Certificate) -> String {
    let serial = certificate.tbs_certificate.serial_number.as_bytes();
    let hex: String = serial.iter().map(|byte| format!("{byte:02X}")).collect();
    let hex = hex.trim_start_matches('0');
    let hex = if hex.is_empty() { "0" } else { hex };
    format!("SN={hex},CA={}", certificate.tbs_certificate.issuer)
}

/// The certificate's DER, for code that has it as PEM (the tests').
#[cfg(test)]
fn der_of(pem: &str) -> Vec<u8> {
    use x509_cert::der::Encode;
    let certificate = x509_cert::Certificate::from_der(&x509_cert::der::pem::decode_vec(pem.as_bytes()).unwrap().1);
    certificate.unwrap().to_der().unwrap()
}

#[cfg(test)]
mod tests {
    //! Vectors from an independent implementation: `tests/psd2-signing/make_vectors.py` (Python's
    //! `cryptography`) signed the same request with the same key and printed these values.

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/psd2-signing");
    const KEY_ID: &str = "SN=1A2B3C4D5E6F,CA=CN=bankd test TPP,O=bankd tests,C=FR";
    const SHA256_DIGEST: &str = "SHA-256=i7uANf03hjeiF7K9Yzw6qHq3wsojD9sn7wLZxgE7FhY=";
    const SHA256_SIGNATURE: &str = "ExAyWRcG3JRJcqDFrpyYnPg5UQ981VG8Ct8WZbduBZb9D4daVjlFXO99h9eqvhhiO01OF3h3c2pdFdemyGGzUQX+/HdROZCXP0H3GtIP8vRwxrjwlC6jfIVUNOLjJE7lPfD6QItiIeR7iZRzQQD7GPzUPLYzHNekoXNsIsqAeeUVGbJdX1uboRBDitPjOAwGapRw/BHvF20I0g6dQkUGS5n81LYJe+Q7GKRRW0+UWkrbQy3T0U4ICtQX5oTOrWpCuRhRXlSDSz2XHSUHLKEkdWn1hAPcxt4sOdfliYlRdnw8vMT2W/Z/WNiM/XdsfgWnZ0G0MiUdpToMHUOmrvb2eA==";
    const SHA512_DIGEST: &str =
        "SHA-512=KmbKEm93iCkBlNvKqPVBrERGGOn9kHvVZYPRaSJePtlsoQ9H7YEPT2CyFi2KP988C8QGUSCyrawGhmYVDzc0zA==";
    const SHA512_SIGNATURE: &str = "OslbowDXrZcx4ONZPXCPqbJozMk0pch2gbeSYdf26M4TNnGMUVT9bz0mg5TclAO98HjrhMg8jum/vfvkKyTwVWNeRMMUt1PDfkZCpO0L8pJ1ySfadBrNOCiiBUqkBnyYWztjwsL2HfIHTTsgU+Y6ch2DLCT2RdnkIV4E6SXw4T4cUwH6Oj9lOoDA0ZNDqknUlSC7yh7J2snZ4tvY9rqWn7Eigy31ipSCHLA4M9Ev+msFgHi36CtIxDC0NNyi9Fr/W60UWukIf0y7Co3zzO50QdlhTpANfgcls63Pe6Y58ADwszhCSyCPS8R5Gu1aibpzDRoU0wQb8Dapo20jwmiKYA==";

    fn settings(extra: &str) -> SigningSettings {
        let text = format!(
            "certificate = \"{FIXTURES}/tpp.pem\"\nprivate_key = \"{FIXTURES}/tpp.key\"\n\
             headers = [\"Digest\", \"X-Request-ID\", \"PSU-ID\", \"TPP-Redirect-URI\", \"Date\"]\n\
             request_target = true\n{extra}"
        );
        toml::from_str(&text).unwrap()
    }

    /// The request `make_vectors.py` signs.
    fn request() -> reqwest::Request {
        reqwest::Client::new()
            .post("https://bank.example/psd2/v1/consents?withBalance=true")
            .header("X-Request-ID", "99391c7e-ad88-49ec-a2ad-99ddcb1f7721")
            .header("PSU-ID", "demo")
            .header("TPP-Redirect-URI", "https://bankd.example/2.0/webauth/callback?state=abc")
            .header("Date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .header("Content-Type", "application/json")
            .body(r#"{"access":{"allPsd2":"allAccounts"}}"#)
            .build()
            .unwrap()
    }

    fn header(request: &reqwest::Request, name: &str) -> String {
        request.headers()[name].to_str().unwrap().to_owned()
    }

    #[test]
    fn signatures_match_an_independent_implementation() {
        for (extra, algorithm, digest, signature) in [
            ("", "rsa-sha256", SHA256_DIGEST, SHA256_SIGNATURE),
            ("algorithm = \"rsa-sha512\"\ndigest = \"SHA-512\"", "rsa-sha512", SHA512_DIGEST, SHA512_SIGNATURE),
        ] {
            let signer = Signer::load(&settings(extra), Dialect::Xs2a).unwrap();
            let mut request = request();
            signer.sign(&mut request, Utc::now()).unwrap();
            assert_eq!(header(&request, "digest"), digest);
            assert_eq!(
                header(&request, "signature"),
                format!(
                    "keyId=\"{KEY_ID}\",algorithm=\"{algorithm}\",\
                     headers=\"(request-target) digest x-request-id psu-id tpp-redirect-uri date\",\
                     signature=\"{signature}\""
                )
            );
            let certificate = BASE64.decode(header(&request, "tpp-signature-certificate")).unwrap();
            assert_eq!(certificate, der_of(&std::fs::read_to_string(format!("{FIXTURES}/tpp.pem")).unwrap()));
        }
    }

    #[test]
    fn absent_headers_are_left_out_and_an_empty_body_has_a_digest_and_a_date_is_added() {
        let settings: SigningSettings =
            toml::from_str(&format!("certificate = \"{FIXTURES}/tpp.pem\"\nprivate_key = \"{FIXTURES}/tpp.key\"\n"))
                .unwrap();
        let signer = Signer::load(&settings, Dialect::Xs2a).unwrap();
        let mut request = reqwest::Client::new()
            .get("https://bank.example/psd2/v1/accounts")
            .header("X-Request-ID", "1")
            .build()
            .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-03-01T09:05:07Z").unwrap().to_utc();
        signer.sign(&mut request, now).unwrap();
        assert_eq!(header(&request, "date"), "Sun, 01 Mar 2026 09:05:07 GMT");
        assert_eq!(header(&request, "digest"), "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert!(header(&request, "signature").contains(",headers=\"digest x-request-id date\","));
    }

    #[test]
    fn the_serial_number_is_written_without_leading_zeros() {
        // other.pem's serial is 0x0BADC0DE: Python's format(serial, "X") writes BADC0DE.
        let text = format!("certificate = \"{FIXTURES}/other.pem\"\nprivate_key = \"{FIXTURES}/other.key\"\n");
        let signer = Signer::load(&toml::from_str(&text).unwrap(), Dialect::Xs2a).unwrap();
        assert_eq!(signer.key_id, "SN=BADC0DE,CA=CN=bankd other TPP,O=bankd tests,C=FR");
    }

    #[test]
    fn an_ecdsa_signature_verifies_with_the_certificates_key() {
        let settings: SigningSettings = toml::from_str(&format!(
            "certificate = \"{FIXTURES}/tpp-ec.pem\"\nprivate_key = \"{FIXTURES}/tpp-ec.key\"\n\
             algorithm = \"ecdsa-sha256\"\nkey_id = \"https://tpp.example/qsealc.pem\""
        ))
        .unwrap();
        let signer = Signer::load(&settings, Dialect::Stet).unwrap();
        let mut request = reqwest::Client::new()
            .get("https://bank.example/stet/accounts?page=2")
            .header("X-Request-ID", "1")
            .header("Date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .build()
            .unwrap();
        signer.sign(&mut request, Utc::now()).unwrap();
        assert!(!request.headers().contains_key("tpp-signature-certificate"), "STET names it by URL");
        let signature = header(&request, "signature");
        assert!(signature.starts_with(
            "keyId=\"https://tpp.example/qsealc.pem\",algorithm=\"ecdsa-sha256\",\
             headers=\"(request-target) digest x-request-id date\",signature=\""
        ));
        let value = signature.rsplit_once("signature=\"").unwrap().1.trim_end_matches('"');
        let message = format!(
            "(request-target): get /stet/accounts?page=2\ndigest: {}\nx-request-id: 1\ndate: Sun, 06 Nov 1994 08:49:37 GMT",
            header(&request, "digest")
        );
        let pem = std::fs::read_to_string(format!("{FIXTURES}/tpp-ec.pem")).unwrap();
        let certificate = x509_cert::Certificate::from_der(&der_of(&pem)).unwrap();
        let public = certificate.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
        let key = sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_ASN1, public);
        key.verify(message.as_bytes(), &BASE64.decode(value).unwrap()).unwrap();
    }

    #[test]
    fn an_unusable_identity_is_refused_naming_the_file() {
        let load = |extra: &str| {
            let text = format!("certificate = \"{FIXTURES}/tpp.pem\"\n{extra}");
            Signer::load(&toml::from_str(&text).unwrap(), Dialect::Xs2a).unwrap_err()
        };
        let other = format!("private_key = \"{FIXTURES}/other.key\"");
        assert_eq!(load(&other), format!("signing: {FIXTURES}/other.key is not the key of {FIXTURES}/tpp.pem"));
        let missing = load("private_key = \"/nonexistent.key\"");
        assert!(missing.starts_with("signing: reading /nonexistent.key"), "{missing}");
        let swapped = load(&format!("private_key = \"{FIXTURES}/tpp.pem\""));
        assert!(swapped.contains("tpp.pem holds a CERTIFICATE, not a PRIVATE KEY"), "{swapped}");
        let ec = load(&format!("private_key = \"{FIXTURES}/tpp-ec.key\""));
        assert!(ec.contains("tpp-ec.key is not an RSA key"), "{ec}");
        let stet = Signer::load(&settings(""), Dialect::Stet).unwrap_err();
        assert!(stet.contains("set key_id"), "{stet}");
    }
}
