//! The Envoy configuration each platform produces from the manifests in `deploy/`, built the
//! way that platform builds it, so the end-to-end tests run the shipped manifests through a
//! real Envoy.
//!
//! What is emulated, per platform (the guides in `deploy/*/README.md` say the same):
//! - **Istio** (`WasmPlugin`, `TrafficExtension`): istiod's ECDS resource for the plugin
//!   (`config.name` `<namespace>.<name>`, `root_id` = `pluginName`, `configuration` =
//!   `pluginConfig` as JSON in a `StringValue`, `failure_policy` from `failStrategy`), read
//!   from a file instead of istiod; the module as the local file the istio-agent leaves after
//!   pulling the image; the IdP cluster named `outbound|<port>||<host>` after the
//!   `ServiceEntry`, reaching a local IdP over plain HTTP instead of through TLS origination.
//! - **Kuma** (`MeshProxyPatch`): the clusters and the HTTP filter exactly as the patch's
//!   values say (Kuma inserts them as they are), the filter before the router; clusters
//!   pointed at local servers without TLS; `${CLAIMCHECK_SHA256}` filled in with the built
//!   module's hash.
//! - **Envoy** (`deploy/envoy/`): the shipped bootstrap and ECDS file with only addresses,
//!   paths and TLS changed.
//!
//! Every function returns the bootstrap as JSON (which Envoy reads as YAML).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::envoy::{repo_root, EnvoyError};

/// The Wasm filter configuration's type URL.
pub const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
/// istiod's prefix for the ECDS resource of a `WasmPlugin` (spelt this way in Istio).
pub const ISTIO_WASM_RESOURCE_PREFIX: &str = "extenstions.istio.io/wasmplugin/";
/// The upstream every test route leads to.
pub const UPSTREAM_CLUSTER: &str = "echo";

/// Why a manifest could not be turned into an Envoy configuration.
#[derive(Debug)]
pub struct PlatformError(pub String);

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlatformError {}

impl From<PlatformError> for EnvoyError {
    fn from(e: PlatformError) -> Self {
        EnvoyError::Template(e.0)
    }
}

fn err(message: impl Into<String>) -> PlatformError {
    PlatformError(message.into())
}

/// A file under `deploy/`.
pub fn deploy_file(relative: &str) -> Result<String, PlatformError> {
    let path = repo_root().join("deploy").join(relative);
    fs::read_to_string(&path).map_err(|e| err(format!("read {}: {e}", path.display())))
}

/// Every document of a multi-document YAML text, as JSON values.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>, PlatformError> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value: Value =
            serde::Deserialize::deserialize(document).map_err(|e| err(format!("YAML: {e}")))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

fn yaml_value(text: &str) -> Result<Value, PlatformError> {
    serde_yaml_ng::from_str(text).map_err(|e| err(format!("YAML: {e}")))
}

fn kind_of<'a>(documents: &'a [Value], kind: &str) -> Result<&'a Value, PlatformError> {
    documents
        .iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some(kind))
        .ok_or_else(|| err(format!("no {kind} in the manifest")))
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Result<&'a str, PlatformError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| err(format!("no string at {pointer}")))
}

/// A `STATIC` cluster on 127.0.0.1:`port`, plain HTTP.
pub fn local_cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": "127.0.0.1", "port_value": port }
            } } }] }]
        }
    })
}

/// Points an existing cluster at 127.0.0.1:`port` over plain HTTP, keeping its name and
/// timeouts: the stand-in for DNS and TLS to the real host.
pub fn localize_cluster(cluster: &mut Value, port: u16) -> Result<(), PlatformError> {
    let name = str_at(cluster, "/name")?.to_owned();
    let object = cluster
        .as_object_mut()
        .ok_or_else(|| err("a cluster is not an object"))?;
    object.remove("transport_socket");
    object.remove("dns_lookup_family");
    object.insert("type".into(), json!("STATIC"));
    if let Some(Value::Object(local)) = local_cluster(&name, port).get("load_assignment") {
        object.insert("load_assignment".into(), Value::Object(local.clone()));
    }
    Ok(())
}

/// The skeleton every platform shares: admin and listener `ingress` on 127.0.0.1 port 0, one
/// route to the upstream, `http_filters` before the router, `clusters` plus the upstream's.
pub fn bootstrap(http_filters: Vec<Value>, mut clusters: Vec<Value>, echo_port: u16) -> Value {
    let mut filters = http_filters;
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
    }));
    clusters.push(local_cluster(UPSTREAM_CLUSTER, echo_port));
    json!({
        // A sidecar has both; ECDS refuses to subscribe without them.
        "node": { "id": "sidecar~127.0.0.1~orders-1.orders~orders.svc.cluster.local", "cluster": "orders.orders" },
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": {
            "listeners": [{
                "name": "ingress",
                "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
                "filter_chains": [{ "filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        "route_config": { "name": "local", "virtual_hosts": [{
                            "name": "local", "domains": ["*"],
                            "routes": [{ "name": "app", "match": { "prefix": "/" },
                                         "route": { "cluster": UPSTREAM_CLUSTER, "timeout": "30s" } }]
                        }] },
                        "http_filters": filters
                    }
                }] }]
            }],
            "clusters": clusters
        }
    })
}

/// Writes `value` as `<dir>/<name>` (JSON, which Envoy reads as YAML) and returns the path.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> Result<PathBuf, EnvoyError> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| EnvoyError::Template(format!("serialize {name}: {e}")))?;
    fs::write(&path, text).map_err(|e| EnvoyError::Io(format!("write {}", path.display()), e))?;
    Ok(path)
}

/// An ECDS resource file (what a `path_config_source` reads): one `TypedExtensionConfig`.
pub fn ecds_file(name: &str, wasm: &Value) -> Value {
    json!({ "resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": name,
        "typed_config": wasm
    }] })
}

/// The listener's reference to an ECDS resource read from `path`.
pub fn config_discovery(name: &str, path: &Path) -> Value {
    json!({
        "name": name,
        "config_discovery": {
            "config_source": {
                "resource_api_version": "V3",
                "path_config_source": { "path": path.to_string_lossy() }
            },
            "type_urls": [WASM_TYPE]
        }
    })
}

/// Replaces the file at `path` in one step (write aside, rename over), as an operator or a
/// config agent should: Envoy's file watch fires on the rename and never reads half a file.
pub fn replace_file(path: &Path, value: &Value) -> Result<(), EnvoyError> {
    let aside = path.with_extension("next.yaml");
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| EnvoyError::Template(format!("serialize: {e}")))?;
    fs::write(&aside, text).map_err(|e| EnvoyError::Io(format!("write {}", aside.display()), e))?;
    fs::rename(&aside, path).map_err(|e| EnvoyError::Io(format!("rename {}", path.display()), e))
}

/// What istiod makes of a `WasmPlugin` or `TrafficExtension`.
#[derive(Debug, Clone)]
pub struct IstioPlugin {
    /// The ECDS resource name the listener refers to.
    pub resource_name: String,
    /// The `envoy.extensions.filters.http.wasm.v3.Wasm` istiod sends.
    pub wasm: Value,
    /// The IdP cluster named after the `ServiceEntry`: `outbound|<port>||<host>`.
    pub idp_cluster: String,
}

/// Builds the Istio pieces from `deploy/istio/<plugin_file>` and `idp-egress.yaml`, with the
/// module at `wasm_file` (where the istio-agent would have left the pulled image's module).
pub fn istio_plugin(plugin_file: &str, wasm_file: &Path) -> Result<IstioPlugin, PlatformError> {
    let plugin_docs = yaml_documents(&deploy_file(&format!("istio/{plugin_file}"))?)?;
    let egress_docs = yaml_documents(&deploy_file("istio/idp-egress.yaml")?)?;
    let (plugin, wasm_spec) = match kind_of(&plugin_docs, "WasmPlugin") {
        Ok(plugin) => (plugin, plugin.get("spec")),
        Err(_) => {
            let plugin = kind_of(&plugin_docs, "TrafficExtension")?;
            (plugin, plugin.pointer("/spec/wasm"))
        }
    };
    let wasm_spec = wasm_spec.ok_or_else(|| err("no Wasm spec"))?;
    let namespace = str_at(plugin, "/metadata/namespace")?;
    let name = str_at(plugin, "/metadata/name")?;
    let plugin_config = wasm_spec
        .get("pluginConfig")
        .ok_or_else(|| err("no pluginConfig"))?;
    let failure_policy = match wasm_spec.get("failStrategy").and_then(Value::as_str) {
        Some("FAIL_OPEN") => "FAIL_OPEN",
        Some("FAIL_RELOAD") => "FAIL_RELOAD",
        // FAIL_CLOSE, and Istio's default.
        _ => "FAIL_CLOSED",
    };
    let root_id = wasm_spec
        .get("pluginName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wasm = json!({
        "@type": WASM_TYPE,
        "config": {
            "name": format!("{namespace}.{name}"),
            "root_id": root_id,
            "failure_policy": failure_policy,
            "vm_config": {
                "runtime": "envoy.wasm.runtime.v8",
                "code": { "local": { "filename": wasm_file.to_string_lossy() } }
            },
            "configuration": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": plugin_config.to_string()
            }
        }
    });
    let entry = kind_of(&egress_docs, "ServiceEntry")?;
    let host = str_at(entry, "/spec/hosts/0")?;
    let port = entry
        .pointer("/spec/ports/0/number")
        .and_then(Value::as_u64)
        .ok_or_else(|| err("ServiceEntry without a port number"))?;
    Ok(IstioPlugin {
        resource_name: format!("{ISTIO_WASM_RESOURCE_PREFIX}{namespace}.{name}"),
        wasm,
        idp_cluster: format!("outbound|{port}||{host}"),
    })
}

/// The Istio sidecar's bootstrap for `plugin`: the filter through ECDS (file `ecds.yaml` in
/// `dir`), the IdP cluster on `idp_port`.
pub fn istio_bootstrap(
    plugin: &IstioPlugin,
    dir: &Path,
    idp_port: u16,
    echo_port: u16,
) -> Result<PathBuf, EnvoyError> {
    let ecds = write_json(
        dir,
        "ecds.yaml",
        &ecds_file(&plugin.resource_name, &plugin.wasm),
    )?;
    let config = bootstrap(
        vec![config_discovery(&plugin.resource_name, &ecds)],
        vec![local_cluster(&plugin.idp_cluster, idp_port)],
        echo_port,
    );
    write_json(dir, "envoy.yaml", &config)
}

/// What a Kuma `MeshProxyPatch` adds.
#[derive(Debug, Clone)]
pub struct KumaPatch {
    /// The HTTP filters added before the router, as written.
    pub http_filters: Vec<Value>,
    /// The clusters added, as written.
    pub clusters: Vec<Value>,
}

/// Reads `deploy/kuma/meshproxypatch.yaml`, with `${CLAIMCHECK_VERSION}` and
/// `${CLAIMCHECK_SHA256}` filled in as `make dist` does.
pub fn kuma_patch(version: &str, sha256: &str) -> Result<KumaPatch, PlatformError> {
    let text = deploy_file("kuma/meshproxypatch.yaml")?
        .replace("${CLAIMCHECK_VERSION}", version)
        .replace("${CLAIMCHECK_SHA256}", sha256);
    let documents = yaml_documents(&text)?;
    let patch = kind_of(&documents, "MeshProxyPatch")?;
    let modifications = patch
        .pointer("/spec/default/appendModifications")
        .and_then(Value::as_array)
        .ok_or_else(|| err("no appendModifications"))?;
    let mut result = KumaPatch {
        http_filters: Vec::new(),
        clusters: Vec::new(),
    };
    for modification in modifications {
        if let Some(cluster) = modification.get("cluster") {
            if str_at(cluster, "/operation")? != "Add" {
                return Err(err("only cluster Add is emulated"));
            }
            result
                .clusters
                .push(yaml_value(str_at(cluster, "/value")?)?);
        }
        if let Some(filter) = modification.get("httpFilter") {
            let operation = str_at(filter, "/operation")?;
            let before = filter.pointer("/match/name").and_then(Value::as_str);
            if operation != "AddBefore" || before != Some("envoy.filters.http.router") {
                return Err(err("only httpFilter AddBefore the router is emulated"));
            }
            result
                .http_filters
                .push(yaml_value(str_at(filter, "/value")?)?);
        }
    }
    Ok(result)
}

/// The Kuma data plane's bootstrap for `patch`: clusters named in `ports` pointed at local
/// servers, filters before the router.
pub fn kuma_bootstrap(
    patch: &KumaPatch,
    ports: &[(&str, u16)],
    dir: &Path,
    echo_port: u16,
) -> Result<PathBuf, EnvoyError> {
    let mut clusters = patch.clusters.clone();
    for cluster in &mut clusters {
        let name = str_at(cluster, "/name")?.to_owned();
        let port = ports
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .ok_or_else(|| err(format!("no local server for cluster {name}")))?;
        localize_cluster(cluster, port)?;
    }
    let config = bootstrap(patch.http_filters.clone(), clusters, echo_port);
    write_json(dir, "envoy.yaml", &config)
}

/// The shipped `deploy/envoy/` pair, localized: returns the bootstrap path. The ECDS file is
/// written to `<dir>/claimcheck-filter.yaml` (see [`envoy_filter_resource`]).
pub fn envoy_bootstrap(
    dir: &Path,
    wasm_file: &Path,
    idp_port: u16,
    echo_port: u16,
) -> Result<PathBuf, EnvoyError> {
    let mut config = yaml_value(&deploy_file("envoy/envoy.yaml")?)?;
    let ecds_path = dir.join("claimcheck-filter.yaml");
    let resource = envoy_filter_resource(wasm_file)?;
    write_json(dir, "claimcheck-filter.yaml", &resource)?;
    set(
        &mut config,
        "/admin/address/socket_address",
        json!({ "address": "127.0.0.1", "port_value": 0 }),
    )?;
    let listener = "/static_resources/listeners/0";
    set(
        &mut config,
        &format!("{listener}/address/socket_address"),
        json!({ "address": "127.0.0.1", "port_value": 0 }),
    )?;
    let filters = format!("{listener}/filter_chains/0/filters/0/typed_config/http_filters");
    let http_filters = config
        .pointer_mut(&filters)
        .and_then(Value::as_array_mut)
        .ok_or_else(|| err("no http_filters"))?;
    for filter in http_filters {
        if let Some(source) =
            filter.pointer_mut("/config_discovery/config_source/path_config_source")
        {
            *source = json!({ "path": ecds_path.to_string_lossy() });
        }
    }
    let clusters = config
        .pointer_mut("/static_resources/clusters")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| err("no clusters"))?;
    for cluster in clusters {
        let port = match cluster.get("name").and_then(Value::as_str) {
            Some("idp") => idp_port,
            _ => echo_port,
        };
        localize_cluster(cluster, port)?;
    }
    write_json(dir, "envoy.yaml", &config)
}

/// The shipped ECDS resource (`deploy/envoy/claimcheck-filter.yaml`) with the module at
/// `wasm_file`.
pub fn envoy_filter_resource(wasm_file: &Path) -> Result<Value, PlatformError> {
    let mut resource = yaml_value(&deploy_file("envoy/claimcheck-filter.yaml")?)?;
    set(
        &mut resource,
        "/resources/0/typed_config/config/vm_config/code/local/filename",
        json!(wasm_file.to_string_lossy()),
    )?;
    Ok(resource)
}

/// The plugin configuration inside an ECDS resource, parsed.
pub fn plugin_configuration(resource: &Value) -> Result<Value, PlatformError> {
    let text = str_at(
        resource,
        "/resources/0/typed_config/config/configuration/value",
    )?;
    serde_json::from_str(text).map_err(|e| err(format!("plugin configuration: {e}")))
}

/// The ECDS resource with another plugin configuration.
pub fn with_plugin_configuration(resource: &Value, config: &Value) -> Result<Value, PlatformError> {
    let mut resource = resource.clone();
    set(
        &mut resource,
        "/resources/0/typed_config/config/configuration/value",
        json!(config.to_string()),
    )?;
    Ok(resource)
}

fn set(value: &mut Value, pointer: &str, new: Value) -> Result<(), PlatformError> {
    let slot = value
        .pointer_mut(pointer)
        .ok_or_else(|| err(format!("nothing at {pointer}")))?;
    *slot = new;
    Ok(())
}
