//! The request as the core sees it: plain values copied out of the host once.

/// An HTTP request's routing-relevant parts. Header names are lowercase
/// (HTTP/2 and Envoy's header maps already are); values are as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The `:path` pseudo-header: path plus query string.
    pub path: String,
    /// The `:authority` (or `host`) of the request.
    pub host: String,
    pub headers: Vec<(String, String)>,
    /// Envoy's `xds.route_name`, when the host provides one.
    pub route_name: Option<String>,
}

impl Request {
    /// The first value of a header; `name` must be lowercase.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every value of a header, in order; `name` must be lowercase.
    pub fn headers_named<'r, 'n>(
        &'r self,
        name: &'n str,
    ) -> impl Iterator<Item = &'r str> + use<'r, 'n> {
        self.headers
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(path, _)| path)
    }

    /// The raw query string (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, query)| query)
    }
}
