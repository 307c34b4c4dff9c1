//! `proxy_get_property`: the attributes Envoy exposes, serialized as Envoy serializes them.
//!
//! Envoy evaluates a path as a CEL attribute: strings come back as their bytes, integers as
//! 8-byte little-endian `i64`, maps (`request.headers`) in the serialized-pairs encoding.
//! Lookup order here: a value set on the stream (by the test or by the module with
//! `proxy_set_property`), then attributes derived from the stream's headers, then values set for
//! the whole host (plugin name, root id, VM id, and anything a test sets).

use crate::abi::{encode_pairs, Headers};
use crate::state::{header_value, Shared, StreamState, VmState};

/// Host-wide property keys the builder always sets.
pub(crate) const PLUGIN_NAME: &str = "plugin_name";
pub(crate) const PLUGIN_ROOT_ID: &str = "plugin_root_id";
pub(crate) const PLUGIN_VM_ID: &str = "plugin_vm_id";

pub(crate) fn get(state: &VmState, path: &[String]) -> Option<Vec<u8>> {
    if let Some(stream) = state.stream() {
        if let Some(value) = stream.properties.get(path) {
            return Some(value.clone());
        }
        if let Some(value) = derived(stream, path) {
            return Some(value);
        }
    }
    state.shared.borrow().host_properties.get(path).cloned()
}

pub(crate) fn host_vm_id(shared: &Shared) -> String {
    shared
        .host_properties
        .get(&vec![PLUGIN_VM_ID.to_string()])
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn derived(stream: &StreamState, path: &[String]) -> Option<Vec<u8>> {
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    let request = &stream.request_headers;
    let response = &stream.response_headers;
    match segments.as_slice() {
        ["request", "path"] => text(request, ":path"),
        ["request", "url_path"] => header_value(request, ":path")
            .map(|p| p.split('?').next().unwrap_or_default().as_bytes().to_vec()),
        ["request", "method"] => text(request, ":method"),
        ["request", "host"] => text(request, ":authority"),
        ["request", "scheme"] => text(request, ":scheme"),
        ["request", "id"] => text(request, "x-request-id"),
        ["request", "headers"] => Some(encode_pairs(request)),
        ["request", "headers", name] => text(request, name),
        ["response", "headers"] if !response.is_empty() => Some(encode_pairs(response)),
        ["response", "headers", name] => text(response, name),
        ["response", "code"] => header_value(response, ":status")
            .and_then(|s| s.parse::<i64>().ok())
            .map(|code| code.to_le_bytes().to_vec()),
        _ => None,
    }
}

fn text(headers: &Headers, name: &str) -> Option<Vec<u8>> {
    header_value(headers, name).map(|v| v.as_bytes().to_vec())
}
