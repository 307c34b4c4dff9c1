//! The proxy-wasm shell: the only code that talks to the host.
//!
//! [`root`] owns the configuration and the requests parked while keys load, and feeds each
//! provider's key machine (`crate::keys`) its ticks and call answers; [`fetch`] performs the
//! machine's commands with host calls; [`http`] turns a request into a
//! [`crate::request::Request`], asks [`crate::authorize`] for an outcome and carries it out
//! ([`apply`]). Which refusal or allowance a request gets is the core's judgement.

mod access_log;
#[cfg(feature = "count-allocations")]
mod alloc_count;
mod apply;
mod clock;
mod crypto;
mod fetch;
mod http;
mod introspection;
mod metrics;
mod parked;
mod replay;
mod root;
mod state;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::Root::new(context_id))
    });
}}
