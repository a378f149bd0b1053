//! The TPP's identity on the wire: the client certificate (an eIDAS QWAC in production) a PSD2 API
//! and a PSD2 `fallback` interface (the bank's website, for identified TPPs) require, and any extra
//! root to trust. Read once, when the drivers are built: an unusable file stops bankd at start.

use crate::catalog::ApiSettings;

#[derive(Clone, Default)]
pub struct TppTls {
    identity: Option<reqwest::Identity>,
    root: Option<reqwest::Certificate>,
}

impl TppTls {
    pub fn load(settings: &ApiSettings) -> Result<TppTls, String> {
        let read = |path: &std::path::Path| std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()));
        let identity = match (&settings.certificate, &settings.private_key) {
            (Some(certificate), Some(key)) => {
                let pem = [read(certificate)?, b"\n".to_vec(), read(key)?].concat();
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("the TPP certificate or key is unusable: {e}"))?;
                Some(identity)
            }
            (None, None) => None,
            _ => return Err("certificate and private_key go together".into()),
        };
        let root = match &settings.ca_certificate {
            Some(ca) => Some(reqwest::Certificate::from_pem(&read(ca)?).map_err(|e| format!("ca_certificate: {e}"))?),
            None => None,
        };
        Ok(TppTls { identity, root })
    }

    /// `builder` presenting the identity and trusting the root, when there are.
    pub fn apply(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        if let Some(identity) = &self.identity {
            builder = builder.identity(identity.clone());
        }
        if let Some(root) = &self.root {
            builder = builder.add_root_certificate(root.clone());
        }
        builder
    }
}

/// A bank that only talks to clients with a certificate its CA signed, for the tests of every
/// driver that presents the TPP's identity.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::RootCertStore;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::server::{ServerConfig, WebPkiClientVerifier};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    pub(crate) struct TlsBank {
        pub(crate) port: u16,
        /// The CA, and a TPP certificate and key it signed, as PEM files.
        files: tempfile::TempDir,
    }

    impl TlsBank {
        /// Starts the bank; it answers `{}` (as JSON) to any request of an identified client.
        pub(crate) async fn start() -> TlsBank {
            let ca_key = KeyPair::generate().unwrap();
            let mut ca = CertificateParams::new(vec![]).unwrap();
            ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca = ca.self_signed(&ca_key).unwrap();
            let tpp_key = KeyPair::generate().unwrap();
            let tpp =
                CertificateParams::new(vec!["bankd-tpp".into()]).unwrap().signed_by(&tpp_key, &ca, &ca_key).unwrap();
            let files = tempfile::tempdir().unwrap();
            for (name, pem) in [("ca.pem", ca.pem()), ("tpp.pem", tpp.pem()), ("tpp.key", tpp_key.serialize_pem())] {
                std::fs::write(files.path().join(name), pem).unwrap();
            }
            TlsBank { port: serve(&ca, &ca_key).await, files }
        }

        /// `[connector.source.api]` lines trusting the bank's CA, with the TPP identity or not.
        pub(crate) fn settings(&self, with_identity: bool) -> String {
            let file = |name: &str| self.files.path().join(name).display().to_string();
            let identity = if with_identity {
                format!("certificate = {:?}\nprivate_key = {:?}\n", file("tpp.pem"), file("tpp.key"))
            } else {
                String::new()
            };
            format!("ca_certificate = {:?}\n{identity}", file("ca.pem"))
        }
    }

    async fn serve(ca: &rcgen::Certificate, ca_key: &KeyPair) -> u16 {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".into()]).unwrap().signed_by(&key, ca, ca_key).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
        let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let config =
            ServerConfig::builder().with_client_cert_verifier(verifier).with_single_cert(vec![cert.der().clone()], key);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config.unwrap()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(stream).await else { continue };
                let mut buffer = [0; 4096];
                let _ = tls.read(&mut buffer).await;
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        port
    }
}
