//! Two Envoys with mTLS between them, as two sidecars of a mesh: a client-side Envoy that
//! takes plain HTTP from the test and originates mTLS with a chosen workload certificate (or
//! none), and a server-side Envoy that terminates it, validates the client certificate against
//! the test CA, and runs claimcheck in front of the upstream.
//!
//! The server is the e2e template (`envoy-config/e2e.yaml.tmpl`) with a TLS transport socket
//! on its listener, so everything the other tests rely on (clusters, routes, the filter) is the
//! same. Both bind port 0 on 127.0.0.1; the client learns the server's port from
//! [`Envoy::addr`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::envoy::{self, Envoy, EnvoyError, EnvoySpec};
use crate::platform::{local_cluster, write_json};
use crate::tls::{CertFiles, Leaf, TestCa, TlsError};

/// The server's name: its certificate's DNS SAN and the SNI the client sends.
pub const SERVER_NAME: &str = "orders.shop.svc.cluster.local";

const TLS_SOCKET: &str = "envoy.transport_sockets.tls";
const DOWNSTREAM_TLS: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const UPSTREAM_TLS: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

impl From<TlsError> for EnvoyError {
    fn from(e: TlsError) -> Self {
        EnvoyError::Template(e.0)
    }
}

/// Whether the server's TLS layer refuses a handshake without a client certificate. `Optional`
/// lets such a connection through to the filter (Istio's `PERMISSIVE` has the same effect for
/// plaintext), so the policy is what refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificate {
    Required,
    Optional,
}

/// `tls_certificates` entry for PEM files.
fn tls_certificate(files: &CertFiles) -> Value {
    json!({
        "certificate_chain": { "filename": files.cert.to_string_lossy() },
        "private_key": { "filename": files.key.to_string_lossy() }
    })
}

/// The downstream TLS socket of the server: its own certificate, client certificates
/// validated against `ca` (a presented certificate the CA did not sign fails the handshake).
pub fn server_transport_socket(server: &CertFiles, ca: &Path, client: ClientCertificate) -> Value {
    json!({
        "name": TLS_SOCKET,
        "typed_config": {
            "@type": DOWNSTREAM_TLS,
            "require_client_certificate": client == ClientCertificate::Required,
            "common_tls_context": {
                "tls_certificates": [tls_certificate(server)],
                "validation_context": { "trusted_ca": { "filename": ca.to_string_lossy() } }
            }
        }
    })
}

/// The server-side bootstrap: the e2e template rendered for `spec`, its listener behind
/// `transport_socket`.
pub fn server_bootstrap(spec: &EnvoySpec, transport_socket: Value) -> Result<Value, EnvoyError> {
    let mut config = envoy::bootstrap(spec)?;
    let chain = config
        .pointer_mut("/static_resources/listeners/0/filter_chains/0")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| EnvoyError::Template("the template has no listener filter chain".into()))?;
    chain.insert("transport_socket".into(), transport_socket);
    Ok(config)
}

/// The client-side bootstrap: listener `ingress` (plain HTTP, port 0) routing everything to
/// the server at `server`, over TLS that checks the server's name against the CA and presents
/// `client` when given.
pub fn client_bootstrap(server: SocketAddr, ca: &Path, client: Option<&CertFiles>) -> Value {
    let mut upstream = local_cluster("server", server.port());
    let mut common = json!({
        "validation_context": {
            "trusted_ca": { "filename": ca.to_string_lossy() },
            "match_typed_subject_alt_names": [
                { "san_type": "DNS", "matcher": { "exact": SERVER_NAME } }
            ]
        }
    });
    if let (Some(files), Some(common)) = (client, common.as_object_mut()) {
        common.insert("tls_certificates".into(), json!([tls_certificate(files)]));
    }
    if let Some(cluster) = upstream.as_object_mut() {
        cluster.insert(
            "transport_socket".into(),
            json!({
                "name": TLS_SOCKET,
                "typed_config": { "@type": UPSTREAM_TLS, "sni": SERVER_NAME, "common_tls_context": common }
            }),
        );
    }
    json!({
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": {
            "listeners": [{
                "name": "ingress",
                "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
                "filter_chains": [{ "filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "egress",
                        "route_config": { "name": "egress", "virtual_hosts": [{
                            "name": "server", "domains": ["*"],
                            "routes": [{ "match": { "prefix": "/" },
                                         "route": { "cluster": "server", "timeout": "30s" } }]
                        }] },
                        "http_filters": [{
                            "name": "envoy.filters.http.router",
                            "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
                        }]
                    }
                }] }]
            }],
            "clusters": [upstream]
        }
    })
}

/// Starts the server-side Envoy for `spec` with a certificate for [`SERVER_NAME`] from `ca`.
pub fn start_server(
    spec: &EnvoySpec,
    ca: &TestCa,
    client: ClientCertificate,
) -> Result<Envoy, EnvoyError> {
    let server_leaf = ca.server(SERVER_NAME)?;
    Envoy::start_with(&spec.name, spec.concurrency, |dir| {
        let ca_file = ca.write(dir)?;
        let files = server_leaf.write(dir, "server")?;
        let config = server_bootstrap(spec, server_transport_socket(&files, &ca_file, client))?;
        write_json(dir, "envoy.yaml", &config)
    })
}

/// Starts a client-side Envoy in front of `server` that presents `workload` (or no
/// certificate).
pub fn start_client(
    name: &str,
    server: &Envoy,
    ca: &TestCa,
    workload: Option<&Leaf>,
) -> Result<Envoy, EnvoyError> {
    Envoy::start_with(name, 1, |dir| -> Result<PathBuf, EnvoyError> {
        let ca_file = ca.write(dir)?;
        let files = workload.map(|w| w.write(dir, "workload")).transpose()?;
        write_json(
            dir,
            "envoy.yaml",
            &client_bootstrap(server.addr(), &ca_file, files.as_ref()),
        )
    })
}
