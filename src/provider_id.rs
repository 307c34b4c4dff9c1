//! [`ProviderId`], the name every layer uses for a configured provider.
//!
//! A leaf module: the configuration assigns the ids, rules list them, decisions and key
//! lookups report them, so the type depends on none of those modules.

/// A provider's index in the compiled configuration's `providers`, in configuration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(pub usize);

impl ProviderId {
    pub fn index(self) -> usize {
        self.0
    }
}
