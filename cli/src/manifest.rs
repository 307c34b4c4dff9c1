//! Finding claimcheck's plugin configuration in what users actually have on disk: the
//! configuration itself (JSON or YAML), an Istio `WasmPlugin` (`spec.pluginConfig`) or
//! `TrafficExtension` (`spec.wasm.pluginConfig`), a Kuma `MeshProxyPatch` whose
//! `appendModifications[].httpFilter.value` embeds an Envoy Wasm filter, or an Envoy
//! bootstrap with `envoy.filters.http.wasm` filters — several per file in multi-document
//! YAML. Extraction only: validation is the core's `config::load`, as in the filter.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize as _;
use serde_json::Value;

/// Largest configuration or manifest file read. Kubernetes objects are capped by etcd's
/// default 1.5 MiB request limit and Envoy bootstraps are smaller still; 4 MiB leaves
/// room for multi-document files without reading arbitrary input whole.
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The `@type` of Envoy's Wasm HTTP filter configuration.
const WASM_FILTER_TYPE: &str = "envoy.extensions.filters.http.wasm.v3.Wasm";

/// One plugin configuration found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundConfig {
    /// Where it was found, for people: `document 2, WasmPlugin claimcheck: spec.pluginConfig`.
    pub origin: String,
    /// The configuration as the filter receives it: JSON text.
    pub json: Vec<u8>,
    /// Where the same file turns this filter off for a route or virtual host (Envoy's
    /// per-route `FilterConfig` with `disabled: true`), as paths in the file.
    pub disabled_at: Vec<String>,
}

/// The `@type` of Envoy's per-route filter switch.
const FILTER_CONFIG_TYPE: &str = "envoy.config.route.v3.FilterConfig";

/// Why a file yielded no configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// YAML syntax error in a document.
    Yaml { document: usize, message: String },
    /// A Kuma `httpFilter.value` that is not YAML.
    EmbeddedFilter { origin: String, message: String },
    /// Manifests were recognised, but none carries a plugin configuration.
    NoConfiguration,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Yaml { document, message } => {
                write!(f, "document {document}: not valid YAML: {message}")
            }
            ManifestError::EmbeddedFilter { origin, message } => {
                write!(
                    f,
                    "{origin}: the embedded filter is not valid YAML: {message}"
                )
            }
            ManifestError::NoConfiguration => f.write_str(
                "no claimcheck configuration found (looked for a plugin configuration, \
                 WasmPlugin spec.pluginConfig, TrafficExtension spec.wasm.pluginConfig, \
                 MeshProxyPatch wasm httpFilter, Envoy wasm filter configuration)",
            ),
        }
    }
}

impl std::error::Error for ManifestError {}

/// Finds every plugin configuration in a file's text.
pub fn find_configs(text: &str) -> Result<Vec<FoundConfig>, ManifestError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') || trimmed.starts_with('"') {
        let mut found = Vec::new();
        match serde_json::from_str::<Value>(trimmed) {
            Ok(value) if !is_plain_config(&value) => collect(&value, None, &mut found)?,
            // A plain configuration, or JSON that does not parse: the core reads the bytes
            // exactly as written, as Envoy would hand them over, and reports any syntax
            // error itself with its line and column.
            _ => found.push(FoundConfig {
                origin: String::new(),
                json: trimmed.as_bytes().to_vec(),
                disabled_at: Vec::new(),
            }),
        }
        return non_empty(found);
    }
    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|error| ManifestError::Yaml {
            document: index + 1,
            message: error.to_string(),
        })?;
        if !value.is_null() {
            documents.push((index + 1, value));
        }
    }
    let several = documents.len() > 1;
    let mut found = Vec::new();
    for (number, value) in &documents {
        let document = several.then_some(*number);
        if is_plain_config(value) {
            found.push(FoundConfig {
                origin: document
                    .map(|n| format!("document {n}"))
                    .unwrap_or_default(),
                json: value.to_string().into_bytes(),
                disabled_at: Vec::new(),
            });
        } else {
            collect(value, document, &mut found)?;
        }
    }
    non_empty(found)
}

fn non_empty(found: Vec<FoundConfig>) -> Result<Vec<FoundConfig>, ManifestError> {
    if found.is_empty() {
        Err(ManifestError::NoConfiguration)
    } else {
        Ok(found)
    }
}

/// A document that is a plugin configuration itself rather than a manifest around one:
/// an object that is neither a Kubernetes object (`kind`), an Envoy bootstrap, nor an xDS
/// resource file (`resources`, as ECDS reads from a `path_config_source`). A misspelt
/// configuration still lands here, so the core reports what is wrong with it.
fn is_plain_config(value: &Value) -> bool {
    const BOOTSTRAP_KEYS: [&str; 7] = [
        "static_resources",
        "staticResources",
        "dynamic_resources",
        "dynamicResources",
        "admin",
        "node",
        "resources",
    ];
    match value.as_object() {
        Some(object) => {
            !object.contains_key("kind")
                && !BOOTSTRAP_KEYS.iter().any(|key| object.contains_key(*key))
        }
        None => false,
    }
}

fn describe(document: Option<usize>, kind: &str, name: Option<&str>, location: &str) -> String {
    let mut origin = String::new();
    if let Some(number) = document {
        origin.push_str(&format!("document {number}, "));
    }
    origin.push_str(kind);
    if let Some(name) = name {
        origin.push(' ');
        origin.push_str(name);
    }
    origin.push_str(": ");
    origin.push_str(location);
    origin
}

fn collect(
    value: &Value,
    document: Option<usize>,
    found: &mut Vec<FoundConfig>,
) -> Result<(), ManifestError> {
    let kind = value.get("kind").and_then(Value::as_str);
    let name = value.pointer("/metadata/name").and_then(Value::as_str);
    match kind {
        // Without `pluginConfig` Istio hands the filter an empty configuration, which the
        // core refuses: validate exactly that.
        Some("WasmPlugin") => found.push(FoundConfig {
            origin: describe(document, "WasmPlugin", name, "spec.pluginConfig"),
            json: value
                .pointer("/spec/pluginConfig")
                .map(plugin_config_json)
                .unwrap_or_default(),
            disabled_at: Vec::new(),
        }),
        Some("TrafficExtension") => found.push(FoundConfig {
            origin: describe(document, "TrafficExtension", name, "spec.wasm.pluginConfig"),
            json: value
                .pointer("/spec/wasm/pluginConfig")
                .map(plugin_config_json)
                .unwrap_or_default(),
            disabled_at: Vec::new(),
        }),
        // `kubectl get -o yaml` wraps several objects in a List.
        Some("List") => {
            let items = value
                .get("items")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for item in items {
                collect(item, document, found)?;
            }
        }
        Some("MeshProxyPatch") => {
            let modifications = value
                .pointer("/spec/default/appendModifications")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (index, modification) in modifications.iter().enumerate() {
                let Some(filter) = modification.pointer("/httpFilter/value") else {
                    continue;
                };
                let location =
                    format!("spec.default.appendModifications[{index}].httpFilter.value");
                let origin = describe(document, "MeshProxyPatch", name, &location);
                let filter: Value = match filter {
                    Value::String(text) => serde_yaml_ng::from_str(text).map_err(|error| {
                        ManifestError::EmbeddedFilter {
                            origin: origin.clone(),
                            message: error.to_string(),
                        }
                    })?,
                    other => other.clone(),
                };
                let mut inner = Vec::new();
                find_wasm_filters(&filter, String::new(), None, &mut inner);
                for one in inner {
                    found.push(FoundConfig {
                        origin: format!("{origin} -> {}", one.path),
                        json: one.json,
                        disabled_at: Vec::new(),
                    });
                }
            }
        }
        _ => {
            let mut inner = Vec::new();
            find_wasm_filters(value, String::new(), None, &mut inner);
            let kind = kind.unwrap_or("Envoy configuration");
            for one in inner {
                let mut disabled_at = Vec::new();
                if let Some(filter_name) = &one.filter_name {
                    find_disabled(value, String::new(), filter_name, &mut disabled_at);
                }
                found.push(FoundConfig {
                    origin: describe(document, kind, name, &one.path),
                    json: one.json,
                    disabled_at,
                });
            }
        }
    }
    Ok(())
}

/// Istio passes `pluginConfig` (a Struct) to the filter as JSON text; a string holding
/// JSON is passed through as written.
fn plugin_config_json(config: &Value) -> Vec<u8> {
    match config {
        Value::String(text) => text.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    }
}

/// One Envoy Wasm filter found in a tree.
struct WasmFilter {
    /// Path of its plugin configuration.
    path: String,
    json: Vec<u8>,
    /// The HTTP filter's `name`, which per-route configuration refers to it by.
    filter_name: Option<String>,
}

/// Walks a tree for Envoy Wasm filter configs (`@type` …`wasm.v3.Wasm`) and returns the
/// plugin configuration of each (`config.configuration`), with its path. `parent_name` is
/// the `name` of the object holding `value` (an HTTP filter's, around its `typed_config`).
fn find_wasm_filters(
    value: &Value,
    path: String,
    parent_name: Option<&str>,
    found: &mut Vec<WasmFilter>,
) {
    match value {
        Value::Object(object) => {
            let is_wasm = object
                .get("@type")
                .and_then(Value::as_str)
                .is_some_and(|type_url| type_url.ends_with(WASM_FILTER_TYPE));
            if is_wasm {
                if let Some(configuration) = value.pointer("/config/configuration") {
                    if let Some(json) = any_payload(configuration) {
                        found.push(WasmFilter {
                            path: join(&path, "config.configuration"),
                            json,
                            filter_name: parent_name.map(str::to_owned),
                        });
                    }
                }
                return;
            }
            let name = object.get("name").and_then(Value::as_str);
            for (key, child) in object {
                find_wasm_filters(child, join(&path, key), name, found);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                find_wasm_filters(child, format!("{path}[{index}]"), None, found);
            }
        }
        _ => {}
    }
}

/// Every `typed_per_filter_config` entry that turns the filter `name` off
/// (`FilterConfig` with `disabled: true`). A route so configured skips claimcheck entirely:
/// forged identity headers and unverified tokens reach the upstream. An `allow` rule lets
/// the same requests through without a token and still strips them.
fn find_disabled(value: &Value, path: String, name: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for key in ["typed_per_filter_config", "typedPerFilterConfig"] {
                let entry = object.get(key).and_then(|per_filter| per_filter.get(name));
                let disabled = entry.is_some_and(|entry| {
                    entry
                        .get("@type")
                        .and_then(Value::as_str)
                        .is_some_and(|type_url| type_url.ends_with(FILTER_CONFIG_TYPE))
                        && entry.get("disabled") == Some(&Value::Bool(true))
                });
                if disabled {
                    found.push(format!("{}.{name}", join(&path, key)));
                }
            }
            for (key, child) in object {
                find_disabled(child, join(&path, key), name, found);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                find_disabled(child, format!("{path}[{index}]"), name, found);
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The bytes a `google.protobuf.Any` configuration hands the plugin: a `StringValue`'s
/// text, a `BytesValue`'s decoded bytes (base64 in proto JSON), or a `Struct` as JSON.
fn any_payload(any: &Value) -> Option<Vec<u8>> {
    let type_url = any.get("@type").and_then(Value::as_str).unwrap_or_default();
    let value = any.get("value")?;
    match value {
        Value::String(text) if type_url.ends_with("google.protobuf.BytesValue") => {
            STANDARD.decode(text).ok()
        }
        Value::String(text) => Some(text.as_bytes().to_vec()),
        other => Some(other.to_string().into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"providers":{},"rules":[],"default":{"action":"deny"}}"#;

    fn json_of(found: &FoundConfig) -> Value {
        serde_json::from_slice(&found.json).unwrap()
    }

    #[test]
    fn plain_json_config_is_passed_through_byte_for_byte() {
        let found = find_configs(CONFIG).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].json, CONFIG.as_bytes());
        assert_eq!(found[0].origin, "");
    }

    #[test]
    fn plain_yaml_config_becomes_json() {
        let found = find_configs("providers: {}\nrules: []\ndefault:\n  action: deny\n").unwrap();
        assert_eq!(
            json_of(&found[0]),
            serde_json::from_str::<Value>(CONFIG).unwrap()
        );
    }

    #[test]
    fn json_that_does_not_parse_is_handed_to_the_core_as_written() {
        let found = find_configs("{\"rules\": [,]}").unwrap();
        assert_eq!(found[0].json, b"{\"rules\": [,]}");
    }

    #[test]
    fn misspelt_config_is_still_handed_to_validation() {
        let found = find_configs(r#"{"provders": {}}"#).unwrap();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn istio_wasm_plugin_config_is_spec_plugin_config() {
        let manifest = "\
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: claimcheck
spec:
  url: oci://example/claimcheck:1
  pluginConfig:
    default:
      action: deny
";
        let found = find_configs(manifest).unwrap();
        assert_eq!(found[0].origin, "WasmPlugin claimcheck: spec.pluginConfig");
        assert_eq!(
            json_of(&found[0]),
            serde_json::json!({"default": {"action": "deny"}})
        );
    }

    #[test]
    fn istio_traffic_extension_config_is_spec_wasm_plugin_config() {
        let manifest = "\
kind: TrafficExtension
metadata: {name: te}
spec:
  wasm:
    url: oci://example/claimcheck:1
    pluginConfig: {default: {action: allow}}
";
        let found = find_configs(manifest).unwrap();
        assert_eq!(
            found[0].origin,
            "TrafficExtension te: spec.wasm.pluginConfig"
        );
        assert_eq!(json_of(&found[0])["default"]["action"], "allow");
    }

    #[test]
    fn kuma_mesh_proxy_patch_config_is_inside_the_embedded_wasm_filter() {
        let manifest = r#"
apiVersion: kuma.io/v1alpha1
kind: MeshProxyPatch
metadata:
  name: claimcheck
spec:
  targetRef: {kind: Mesh}
  default:
    appendModifications:
      - cluster:
          operation: Add
          value: "name: idp"
      - httpFilter:
          operation: AddBefore
          match: {name: envoy.filters.http.router}
          value: |
            name: envoy.filters.http.wasm
            typedConfig:
              '@type': type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: claimcheck
                configuration:
                  '@type': type.googleapis.com/google.protobuf.StringValue
                  value: '{"default": {"action": "deny"}}'
                vmConfig:
                  runtime: envoy.wasm.runtime.v8
"#;
        let found = find_configs(manifest).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].origin,
            "MeshProxyPatch claimcheck: spec.default.appendModifications[1].httpFilter.value -> typedConfig.config.configuration"
        );
        assert_eq!(found[0].json, br#"{"default": {"action": "deny"}}"#);
    }

    #[test]
    fn envoy_bootstrap_wasm_filter_configuration_is_found() {
        let bootstrap = r#"
static_resources:
  listeners:
    - filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                http_filters:
                  - name: envoy.filters.http.wasm
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        configuration:
                          "@type": type.googleapis.com/google.protobuf.BytesValue
                          value: eyJhIjoxfQ==
                  - name: envoy.filters.http.router
"#;
        let found = find_configs(bootstrap).unwrap();
        assert_eq!(found[0].json, br#"{"a":1}"#);
        assert!(found[0]
            .origin
            .starts_with("Envoy configuration: static_resources.listeners[0]"));
    }

    #[test]
    fn ecds_resource_file_wasm_filter_configuration_is_found() {
        let found = find_configs(
            r#"
resources:
  - "@type": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig
    name: claimcheck
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
      config:
        configuration:
          "@type": type.googleapis.com/google.protobuf.StringValue
          value: '{"default": {"action": "deny"}}'
"#,
        )
        .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            json_of(&found[0]),
            serde_json::json!({"default": {"action": "deny"}})
        );
        assert!(
            found[0]
                .origin
                .ends_with("resources[0].typed_config.config.configuration"),
            "{}",
            found[0].origin
        );
    }

    #[test]
    fn multi_document_yaml_yields_every_configuration_with_its_document_number() {
        let manifests = "\
kind: ServiceEntry
metadata: {name: idp}
---
kind: WasmPlugin
metadata: {name: a}
spec: {pluginConfig: {default: {action: deny}}}
---
kind: WasmPlugin
metadata: {name: b}
spec: {pluginConfig: {default: {action: allow}}}
---
";
        let found = find_configs(manifests).unwrap();
        let origins: Vec<&str> = found.iter().map(|f| f.origin.as_str()).collect();
        assert_eq!(
            origins,
            [
                "document 2, WasmPlugin a: spec.pluginConfig",
                "document 3, WasmPlugin b: spec.pluginConfig"
            ]
        );
    }

    #[test]
    fn wasm_plugin_without_plugin_config_yields_the_empty_configuration_istio_sends() {
        let found =
            find_configs("kind: WasmPlugin\nmetadata: {name: w}\nspec: {url: oci://x}\n").unwrap();
        assert_eq!(found[0].json, b"");
    }

    #[test]
    fn kubernetes_list_items_are_searched() {
        let list = "\
kind: List
items:
  - kind: WasmPlugin
    metadata: {name: a}
    spec: {pluginConfig: {default: {action: deny}}}
";
        let found = find_configs(list).unwrap();
        assert_eq!(found[0].origin, "WasmPlugin a: spec.pluginConfig");
    }

    #[test]
    fn manifests_without_a_configuration_are_reported() {
        assert_eq!(
            find_configs("kind: Service\nmetadata: {name: x}\n"),
            Err(ManifestError::NoConfiguration)
        );
        assert_eq!(find_configs(""), Err(ManifestError::NoConfiguration));
    }

    #[test]
    fn yaml_syntax_errors_name_their_document() {
        assert!(matches!(
            find_configs("a: [1\n"),
            Err(ManifestError::Yaml { document: 1, .. })
        ));
    }

    #[test]
    fn plugin_config_given_as_a_json_string_is_passed_through() {
        let found =
            find_configs("kind: WasmPlugin\nspec:\n  pluginConfig: '{\"x\": 1}'\n").unwrap();
        assert_eq!(found[0].json, br#"{"x": 1}"#);
    }
}
