#!/usr/bin/env python3
"""Test keys and expected values for bankd's PSD2 request signing (sources/psd2/signing.rs).

An implementation independent of bankd's: Python's `cryptography` signs the same request the
Rust unit test signs, and this script prints the Digest and Signature values it must find.

    python3 make_vectors.py          # writes the keys and certificates if absent, prints vectors

Keys: tpp.key/tpp.pem (RSA 2048, the TPP's QSealC), other.key/other.pem (another RSA key, for
the "wrong key" tests) and tpp-ec.key/tpp-ec.pem (ECDSA P-256). The certificates are
self-signed; their issuer is their subject. RSA PKCS#1 v1.5 is deterministic, so the printed
signatures are stable for given keys; ECDSA's are not and are only verified.
"""

import base64
import datetime
import hashlib
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))


def make(name, key, serial, common_name):
    key_path, cert_path = (os.path.join(HERE, f"{name}.{ext}") for ext in ("key", "pem"))
    if os.path.exists(key_path):
        return
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bankd tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365 * 30))
        .sign(key, hashes.SHA256())
    )
    with open(key_path, "wb") as out:
        out.write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(cert_path, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))


make("tpp", rsa.generate_private_key(public_exponent=65537, key_size=2048), 0x1A2B3C4D5E6F, "bankd test TPP")
make("other", rsa.generate_private_key(public_exponent=65537, key_size=2048), 0x0BADC0DE, "bankd other TPP")
make("tpp-ec", ec.generate_private_key(ec.SECP256R1()), 0x7E57EC, "bankd test TPP EC")


def load(name):
    with open(os.path.join(HERE, f"{name}.key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(os.path.join(HERE, f"{name}.pem"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return key, cert


key, cert = load("tpp")
# The request of the Rust unit test.
method, target = "post", "/psd2/v1/consents?withBalance=true"
body = b'{"access":{"allPsd2":"allAccounts"}}'
headers = {
    "x-request-id": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721",
    "psu-id": "demo",
    "tpp-redirect-uri": "https://bankd.example/2.0/webauth/callback?state=abc",
    "date": "Sun, 06 Nov 1994 08:49:37 GMT",
}

print(f"key_id: SN={cert.serial_number:X},CA={cert.issuer.rfc4514_string()}")
print("certificate (base64 DER):", base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode())
for algorithm, digest_name, hash_function, hash_class in [
    ("rsa-sha256", "SHA-256", hashlib.sha256, hashes.SHA256),
    ("rsa-sha512", "SHA-512", hashlib.sha512, hashes.SHA512),
]:
    digest = f"{digest_name}={base64.b64encode(hash_function(body).digest()).decode()}"
    lines = [f"(request-target): {method} {target}", f"digest: {digest}"]
    lines += [f"{name}: {headers[name]}" for name in ("x-request-id", "psu-id", "tpp-redirect-uri", "date")]
    signature = key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hash_class())
    print(f"{algorithm} digest:", digest)
    print(f"{algorithm} signature:", base64.b64encode(signature).decode())
print("empty body SHA-256:", f"SHA-256={base64.b64encode(hashlib.sha256(b'').digest()).decode()}")
