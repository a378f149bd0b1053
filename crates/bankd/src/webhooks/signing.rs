//! The two signatures a delivery carries, so a receiver can check it came from bankd unchanged:
//!
//! - Powens' `BI-Signature`: base64 of HMAC-SHA256 under the auth provider's `secret_key` over
//!   `METHOD.PATH.BI-Signature-Date.body` (shared/api/webhooks.md), for apps written for Powens;
//! - Standard Webhooks' `webhook-signature`: `v1,` and base64 of HMAC-SHA256 over
//!   `webhook-id.webhook-timestamp.body`, under the secret `whsec_<base64 key>`, for receivers
//!   that use that specification's verifier libraries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a Standard Webhooks secret; the rest is the key, in base64.
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";

/// `BI-Signature` of a `method` request to `path` (the webhook URL's path, without scheme, host
/// or query), dated `date` (the `BI-Signature-Date` header, as sent).
pub fn bi_signature(secret_key: &str, method: &str, path: &str, date: &str, body: &[u8]) -> String {
    let mut mac = hmac(secret_key.as_bytes());
    for part in [method.to_ascii_uppercase().as_bytes(), path.as_bytes(), date.as_bytes()] {
        mac.update(part);
        mac.update(b".");
    }
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `webhook-signature` of a delivery with this `webhook-id` and `webhook-timestamp` (seconds).
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = secret.strip_prefix(STANDARD_SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(key).map_err(|e| format!("a webhook secret is base64 after `whsec_`: {e}"))?;
    let mut mac = hmac(&key);
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts any key length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_signatures_match_the_specifications_example() {
        // The example of the Standard Webhooks specification.
        let signature = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature.unwrap(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(standard_signature("whsec_not base64!", "id", 1, b"").unwrap_err().contains("base64"));
    }

    #[test]
    fn bi_signatures_cover_method_path_date_and_body() {
        let sign = |method, path, date, body: &[u8]| bi_signature("s3cr3t", method, path, date, body);
        let signature = sign("POST", "/hooks/synced", "Thu, 26 Nov 2026 12:00:00 GMT", b"{}");
        // The recipe computed independently (Python: hmac.new(b"s3cr3t", b"POST./hooks/synced.Thu,
        // 26 Nov 2026 12:00:00 GMT.{}", sha256), base64).
        assert_eq!(signature, "P2ZlmowbZ1B9jk/DSScXk88D0yM7Hq6amItJWg1G56U=");
        assert_eq!(sign("post", "/hooks/synced", "Thu, 26 Nov 2026 12:00:00 GMT", b"{}"), signature);
        for other in [
            sign("POST", "/hooks/other", "Thu, 26 Nov 2026 12:00:00 GMT", b"{}"),
            sign("POST", "/hooks/synced", "Thu, 26 Nov 2026 12:00:01 GMT", b"{}"),
            sign("POST", "/hooks/synced", "Thu, 26 Nov 2026 12:00:00 GMT", b"{ }"),
        ] {
            assert_ne!(other, signature);
        }
    }
}
