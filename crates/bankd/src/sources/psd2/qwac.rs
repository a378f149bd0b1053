//! What bankd reads of its own QWAC: the `organizationIdentifier` (OID 2.5.4.97) of its subject,
//! the TPP's authorisation number (`PSDFR-ACPR-12345`), which many banks take as the OAuth2
//! `client_id`.

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Reader, SliceReader, Tag, TagNumber};

const ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");

/// The subject's organizationIdentifier of the first certificate in the PEM file at `path`.
pub fn organization_identifier(path: &std::path::Path) -> Result<String, String> {
    let pem = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let unreadable = |e: der::Error| format!("{}: not a readable certificate: {e}", path.display());
    let first = first_certificate(&pem).ok_or_else(|| format!("{}: no PEM certificate", path.display()))?;
    let (_, der) = der::pem::decode_vec(first).map_err(|e| unreadable(e.into()))?;
    subject_attribute(&der, ORGANIZATION_IDENTIFIER)
        .map_err(unreadable)?
        .ok_or_else(|| format!("{}: the certificate's subject has no organizationIdentifier", path.display()))
}

/// The first `CERTIFICATE` block of a PEM file that may chain several.
fn first_certificate(pem: &[u8]) -> Option<&[u8]> {
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let start = pem.windows(27).position(|w| w == b"-----BEGIN CERTIFICATE-----")?;
    let end = start + pem[start..].windows(END.len()).position(|w| w == END)? + END.len();
    Some(&pem[start..end])
}

/// The value of the subject attribute `wanted` of a DER certificate (RFC 5280 §4.1).
fn subject_attribute(der: &[u8], wanted: ObjectIdentifier) -> der::Result<Option<String>> {
    let certificate = AnyRef::from_der(der)?;
    let tbs = AnyRef::decode(&mut SliceReader::new(certificate.value())?)?;
    let mut fields = SliceReader::new(tbs.value())?;
    if fields.peek_tag()? == (Tag::ContextSpecific { constructed: true, number: TagNumber::N0 }) {
        AnyRef::decode(&mut fields)?; // version
    }
    for _skipped in ["serialNumber", "signature", "issuer", "validity"] {
        AnyRef::decode(&mut fields)?;
    }
    let subject = AnyRef::decode(&mut fields)?;
    let mut names = SliceReader::new(subject.value())?;
    while !names.is_finished() {
        let set = AnyRef::decode(&mut names)?;
        let mut attributes = SliceReader::new(set.value())?;
        while !attributes.is_finished() {
            let attribute = AnyRef::decode(&mut attributes)?;
            let mut pair = SliceReader::new(attribute.value())?;
            let oid = ObjectIdentifier::decode(&mut pair)?;
            let value = AnyRef::decode(&mut pair)?;
            if oid == wanted {
                return Ok(Some(String::from_utf8_lossy(value.value()).into_owned()));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair};

    use super::*;

    #[test]
    fn the_client_id_is_the_qwacs_organization_identifier() {
        let mut params = CertificateParams::new(vec!["tpp.example".into()]).unwrap();
        params.distinguished_name.push(DnType::OrganizationName, "Example TPP");
        params.distinguished_name.push(DnType::CustomDnType(vec![2, 5, 4, 97]), "PSDFR-ACPR-12345");
        let certificate = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qwac.pem");
        std::fs::write(&path, certificate.pem()).unwrap();
        assert_eq!(organization_identifier(&path).unwrap(), "PSDFR-ACPR-12345");

        let plain = CertificateParams::new(vec!["tpp.example".into()]).unwrap();
        std::fs::write(&path, plain.self_signed(&KeyPair::generate().unwrap()).unwrap().pem()).unwrap();
        assert!(organization_identifier(&path).unwrap_err().contains("no organizationIdentifier"));
        std::fs::write(&path, "not a certificate").unwrap();
        assert!(organization_identifier(&path).unwrap_err().contains("no PEM certificate"));
    }
}
