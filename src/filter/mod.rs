//! The proxy-wasm shell: the only code that talks to the host.
//!
//! [`root`] owns the configuration, the key sets and their fetching, and the requests parked
//! while keys load; [`http`] turns a request into a [`crate::request::Request`], asks
//! [`crate::authorize`] for a decision and applies it. Neither decides anything itself.

mod access_log;
mod apply;
mod fetch;
mod http;
mod metrics;
mod root;
mod state;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::Root::new(context_id))
    });
}}
