//! One HTTP stream through the module: feed it request and response events, then inspect what
//! the module did (edits, local reply, pause and resume).

use crate::abi::{Action, Headers};
use crate::error::HostError;
use crate::host::Inner;
use crate::state::{LocalResponse, StreamState, VmId};
use std::cell::RefCell;
use std::rc::Rc;

/// An HTTP stream context in one VM. Cheap to keep; the host stays usable alongside it.
pub struct HttpStream {
    inner: Rc<RefCell<Inner>>,
    vm: VmId,
    context: u32,
}

#[derive(Clone, Copy)]
enum Side {
    Request,
    Response,
}

fn owned(headers: &[(&str, &str)]) -> Headers {
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

impl HttpStream {
    pub(crate) fn new(inner: Rc<RefCell<Inner>>, vm: VmId, context: u32) -> Self {
        HttpStream { inner, vm, context }
    }

    pub fn vm(&self) -> VmId {
        self.vm
    }

    pub fn context_id(&self) -> u32 {
        self.context
    }

    fn with<T>(&self, f: impl FnOnce(&mut StreamState) -> T) -> Result<T, HostError> {
        let mut inner = self.inner.borrow_mut();
        let state = inner.vm(self.vm)?.state_mut();
        let stream = state
            .streams
            .get_mut(&self.context)
            .ok_or(HostError::StreamCompleted {
                context_id: self.context,
            })?;
        Ok(f(stream))
    }

    fn read<T>(&self, f: impl FnOnce(&StreamState) -> T) -> T
    where
        T: Default,
    {
        self.with(|s| f(s)).unwrap_or_default()
    }

    fn live(&self) -> Result<(), HostError> {
        if self.with(|s| s.completed)? {
            return Err(HostError::StreamCompleted {
                context_id: self.context,
            });
        }
        Ok(())
    }

    fn callback(&self, name: &str, args: &[i32]) -> Result<Action, HostError> {
        let mut all = vec![self.context as i32];
        all.extend_from_slice(args);
        let raw = self
            .inner
            .borrow_mut()
            .call(self.vm, self.context, name, &all)?;
        Ok(Action::from_raw(raw.unwrap_or(0)))
    }

    /// Applies the callback's answer: Continue forwards, Pause holds (until the module calls
    /// `proxy_continue_stream`). A local reply ends the request side either way.
    fn settle(
        &self,
        side: Side,
        action: Action,
        forward_headers: bool,
    ) -> Result<Action, HostError> {
        self.with(|s| match side {
            Side::Request if s.local_response.is_some() => {}
            Side::Request => match action {
                Action::Continue => {
                    s.request_paused = false;
                    if forward_headers {
                        s.forwarded_request_headers = Some(s.request_headers.clone());
                    }
                }
                Action::Pause => s.request_paused = true,
            },
            Side::Response => s.response_paused = action == Action::Pause,
        })?;
        Ok(action)
    }

    /// `proxy_on_request_headers(context, count, end_of_stream)` with `headers` as the
    /// request's header map (include `:method`, `:path`, `:authority`, `:scheme`).
    pub fn send_request_headers(
        &self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        self.live()?;
        self.with(|s| {
            s.request_headers = owned(headers);
            s.has_request_headers = true;
        })?;
        let action = self.callback(
            "proxy_on_request_headers",
            &[headers.len() as i32, end_of_stream as i32],
        )?;
        if action == Action::Pause {
            self.with(|s| s.stopped_all = s.local_response.is_none())?;
        }
        self.settle(Side::Request, action, true)
    }

    /// `proxy_on_request_body(context, size, end_of_stream)`. After a `Pause` on a body chunk
    /// Envoy buffers: the next call sees the accumulated body. While a `Pause` from
    /// `on_request_headers` holds the request, chunks are withheld (returns `Pause` without
    /// calling the module) and delivered as one when the module resumes, as Envoy does.
    pub fn send_request_body(
        &self,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        self.live()?;
        let withheld = self.with(|s| {
            let withhold = s.stopped_all && s.request_paused && s.local_response.is_none();
            if withhold {
                s.withheld_request_body.extend_from_slice(chunk);
                s.withheld_end_of_stream = Some(end_of_stream);
            }
            withhold
        })?;
        if withheld {
            return Ok(Action::Pause);
        }
        let mut inner = self.inner.borrow_mut();
        deliver_request_body(&mut inner, self.vm, self.context, chunk, end_of_stream)
    }

    /// `proxy_on_request_trailers(context, count)`.
    pub fn send_request_trailers(&self, trailers: &[(&str, &str)]) -> Result<Action, HostError> {
        self.live()?;
        self.with(|s| {
            s.request_trailers = owned(trailers);
            s.has_request_trailers = true;
        })?;
        let action = self.callback("proxy_on_request_trailers", &[trailers.len() as i32])?;
        self.settle(Side::Request, action, false)
    }

    /// `proxy_on_response_headers(context, count, end_of_stream)` with the upstream's headers
    /// (include `:status`).
    pub fn send_response_headers(
        &self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        self.live()?;
        self.with(|s| {
            s.response_headers = owned(headers);
            s.has_response_headers = true;
        })?;
        let action = self.callback(
            "proxy_on_response_headers",
            &[headers.len() as i32, end_of_stream as i32],
        )?;
        self.settle(Side::Response, action, false)
    }

    /// `proxy_on_response_body(context, size, end_of_stream)`, buffering like the request side.
    pub fn send_response_body(
        &self,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        self.live()?;
        let size = self.with(|s| {
            if !s.buffering_response_body {
                s.response_body.clear();
            }
            s.response_body.extend_from_slice(chunk);
            s.response_body.len()
        })?;
        let action = self.callback(
            "proxy_on_response_body",
            &[size as i32, end_of_stream as i32],
        )?;
        self.with(|s| {
            s.buffering_response_body = action == Action::Pause && !end_of_stream;
            if action == Action::Continue {
                let body = s.response_body.clone();
                s.forwarded_response_body.extend_from_slice(&body);
            }
        })?;
        self.settle(Side::Response, action, false)
    }

    /// `proxy_on_response_trailers(context, count)`.
    pub fn send_response_trailers(&self, trailers: &[(&str, &str)]) -> Result<Action, HostError> {
        self.live()?;
        self.with(|s| {
            s.response_trailers = owned(trailers);
            s.has_response_trailers = true;
        })?;
        let action = self.callback("proxy_on_response_trailers", &[trailers.len() as i32])?;
        self.settle(Side::Response, action, false)
    }

    /// Ends the stream per the ABI: `proxy_on_done`, `proxy_on_log`, `proxy_on_delete`.
    /// Inspection keeps working afterwards; new events fail with `StreamCompleted`.
    pub fn complete(&self) -> Result<(), HostError> {
        self.live()?;
        self.callback("proxy_on_done", &[])?;
        self.callback("proxy_on_log", &[])?;
        self.callback("proxy_on_delete", &[])?;
        self.with(|s| s.completed = true)
    }

    /// Sets a property for this stream only (e.g. `&["xds", "route_name"]`).
    pub fn set_property(&self, path: &[&str], value: impl Into<Vec<u8>>) -> Result<(), HostError> {
        let path = path.iter().map(|s| s.to_string()).collect();
        let value = value.into();
        self.with(|s| {
            s.properties.insert(path, value);
        })
    }

    /// A property of this stream as a string: one the module set with `proxy_set_property`
    /// (Envoy's filter state, what an access log prints) or the test set.
    pub fn property(&self, path: &[&str]) -> Option<String> {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.read(|s| s.properties.get(&path).cloned())
            .map(|value| String::from_utf8_lossy(&value).into_owned())
    }

    /// The local response the module sent, if any.
    pub fn local_response(&self) -> Option<LocalResponse> {
        self.read(|s| s.local_response.clone())
    }

    /// The request headers as they went upstream (after the module's edits), or `None` while
    /// the request is held or when the module answered locally.
    pub fn forwarded_request_headers(&self) -> Option<Headers> {
        self.read(|s| s.forwarded_request_headers.clone())
    }

    /// First value of a forwarded request header.
    pub fn forwarded_request_header(&self, name: &str) -> Option<String> {
        self.forwarded_request_headers()
            .and_then(|h| crate::state::header_value(&h, name).map(str::to_owned))
    }

    /// The request body forwarded upstream so far.
    pub fn forwarded_request_body(&self) -> Vec<u8> {
        self.read(|s| s.forwarded_request_body.clone())
    }

    /// The current request header map (the module's edits included).
    pub fn request_headers(&self) -> Headers {
        self.read(|s| s.request_headers.clone())
    }

    pub fn request_trailers(&self) -> Headers {
        self.read(|s| s.request_trailers.clone())
    }

    /// The current request body buffer.
    pub fn request_body(&self) -> Vec<u8> {
        self.read(|s| s.request_body.clone())
    }

    /// The current response header map (the module's edits included).
    pub fn response_headers(&self) -> Headers {
        self.read(|s| s.response_headers.clone())
    }

    pub fn response_trailers(&self) -> Headers {
        self.read(|s| s.response_trailers.clone())
    }

    /// The response body sent downstream so far.
    pub fn forwarded_response_body(&self) -> Vec<u8> {
        self.read(|s| s.forwarded_response_body.clone())
    }

    /// True while the request is held (a callback returned Pause and nobody resumed it).
    pub fn is_request_paused(&self) -> bool {
        self.read(|s| s.request_paused)
    }

    /// True once the module resumed a held request with `proxy_continue_stream`.
    pub fn was_request_resumed(&self) -> bool {
        self.read(|s| s.request_resumed)
    }

    pub fn is_response_paused(&self) -> bool {
        self.read(|s| s.response_paused)
    }

    pub fn was_response_resumed(&self) -> bool {
        self.read(|s| s.response_resumed)
    }

    /// True when the module reset the stream (`proxy_close_stream`).
    pub fn was_reset(&self) -> bool {
        self.read(|s| s.reset)
    }
}

/// Calls `proxy_on_request_body` and applies its answer (buffering, forwarding, holding).
pub(crate) fn deliver_request_body(
    inner: &mut Inner,
    vm: VmId,
    context: u32,
    chunk: &[u8],
    end_of_stream: bool,
) -> Result<Action, HostError> {
    let size = {
        let s = stream_state(inner, vm, context)?;
        if !s.buffering_request_body {
            s.request_body.clear();
        }
        s.request_body.extend_from_slice(chunk);
        s.request_body.len()
    };
    let args = [context as i32, size as i32, end_of_stream as i32];
    let raw = inner.call(vm, context, "proxy_on_request_body", &args)?;
    let action = Action::from_raw(raw.unwrap_or(0));
    let s = stream_state(inner, vm, context)?;
    s.buffering_request_body = action == Action::Pause && !end_of_stream;
    if s.local_response.is_none() {
        match action {
            Action::Continue => {
                let body = s.request_body.clone();
                s.forwarded_request_body.extend_from_slice(&body);
                s.request_paused = false;
            }
            Action::Pause => s.request_paused = true,
        }
    }
    Ok(action)
}

fn stream_state(inner: &mut Inner, vm: VmId, context: u32) -> Result<&mut StreamState, HostError> {
    inner
        .vm(vm)?
        .state_mut()
        .streams
        .get_mut(&context)
        .ok_or(HostError::StreamCompleted {
            context_id: context,
        })
}
