//! A test PKI made by the test itself: one CA, and leaf certificates for workloads (a SPIFFE ID
//! as URI SAN, as Istio and Kuma issue them) and for servers (a DNS SAN). Keys are ECDSA
//! P-256, generated per run, never stored in the repository.
//!
//! The mTLS end-to-end tests hand these to Envoy as PEM files ([`Leaf::write`]) and bind tokens
//! to a certificate by its SHA-256 ([`Leaf::sha256`], RFC 8705 §3.1 `x5t#S256`).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Why a certificate could not be made or written.
#[derive(Debug)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn rcgen_error(what: &str) -> impl FnOnce(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError(format!("{what}: {e}"))
}

/// A certificate authority that signs every certificate of one test world, and the only one
/// the Envoys of that world trust.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A self-signed CA with common name `name`.
    pub fn new(name: &str) -> Result<TestCa, TlsError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(rcgen_error("generate the CA key"))?;
        let issuer =
            CertifiedIssuer::self_signed(params, key).map_err(rcgen_error("self-sign the CA"))?;
        Ok(TestCa { issuer })
    }

    /// The CA certificate, PEM (what Envoy's `trusted_ca` reads).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate as `<dir>/ca.pem` and returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, TlsError> {
        write_file(&dir.join("ca.pem"), &self.pem())
    }

    /// A workload certificate whose only SAN is the URI `spiffe_id` (`spiffe://<trust
    /// domain>/ns/<namespace>/sa/<account>` in Istio), subject `CN=<common_name>`.
    pub fn workload(&self, common_name: &str, spiffe_id: &str) -> Result<Leaf, TlsError> {
        let uri = spiffe_id
            .try_into()
            .map_err(rcgen_error("a SPIFFE ID as URI SAN"))?;
        self.leaf(common_name, SanType::URI(uri))
    }

    /// A server certificate for `dns_name`.
    pub fn server(&self, dns_name: &str) -> Result<Leaf, TlsError> {
        let dns = dns_name.try_into().map_err(rcgen_error("a DNS SAN"))?;
        self.leaf(dns_name, SanType::DnsName(dns))
    }

    fn leaf(&self, common_name: &str, san: SanType) -> Result<Leaf, TlsError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.subject_alt_names = vec![san];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(rcgen_error("generate a leaf key"))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(rcgen_error("sign a leaf"))?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        })
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// A leaf certificate and its private key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    der: Vec<u8>,
}

/// Where a leaf's PEM files were written (what Envoy's `tls_certificates` name).
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Leaf {
    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The SHA-256 of the DER certificate: the value a certificate-bound token carries as
    /// `cnf.x5t#S256` (base64url) and Envoy reports as `connection.sha256_peer_certificate_digest`.
    pub fn sha256(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, &self.der)
            .as_ref()
            .to_vec()
    }

    /// Writes `<dir>/<stem>.pem` and `<dir>/<stem>.key.pem`.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<CertFiles, TlsError> {
        Ok(CertFiles {
            cert: write_file(&dir.join(format!("{stem}.pem")), &self.cert_pem)?,
            key: write_file(&dir.join(format!("{stem}.key.pem")), &self.key_pem)?,
        })
    }
}

fn write_file(path: &Path, text: &str) -> Result<PathBuf, TlsError> {
    fs::write(path, text).map_err(|e| TlsError(format!("write {}: {e}", path.display())))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workload_certificate_carries_its_spiffe_id_and_names_the_ca_as_issuer() {
        let ca = TestCa::new("test ca").unwrap();
        let leaf = ca
            .workload("orders", "spiffe://cluster.local/ns/shop/sa/orders")
            .unwrap();
        let der = leaf.der();
        let contains = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"spiffe://cluster.local/ns/shop/sa/orders"));
        assert!(contains(b"test ca"), "issuer name missing");
        assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
    }

    #[test]
    fn two_workloads_get_different_certificates() {
        let ca = TestCa::new("test ca").unwrap();
        let a = ca.workload("a", "spiffe://td/ns/x/sa/a").unwrap();
        let b = ca.workload("b", "spiffe://td/ns/x/sa/b").unwrap();
        assert_ne!(a.sha256(), b.sha256());
        assert_eq!(a.sha256().len(), 32);
    }
}
