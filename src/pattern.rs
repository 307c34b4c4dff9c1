//! [`Pattern`]: a user regex that must match its whole input, bounded in size.
//!
//! A leaf module: rule matching, claim conditions and issuer templates all use it.

/// Compiled-program size limit for one regex. regex-lite's default is 10 MiB per
/// pattern; 256 KiB is far above any realistic route or claim pattern and keeps a
/// configuration with many regexes small in the VM.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Nesting limit for regex groups; bounds the parser's recursion.
pub const REGEX_NEST_LIMIT: u32 = 64;

/// A regex that must match the whole input (`^(?:...)$`), as Envoy's `safe_regex`
/// does: an unanchored `admin` would otherwise also accept `notadmin`.
/// regex-lite matches in linear time, so no pattern can stall a request.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex_lite::Regex,
}

/// Two patterns are the same when they were written the same: what a configuration check
/// needs to see that two rules test the same thing.
impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, regex_lite::Error> {
        let build = |pattern: &str| {
            regex_lite::RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .nest_limit(REGEX_NEST_LIMIT)
                .build()
        };
        // Validate the pattern on its own first: `a)|(b` is invalid alone but would
        // compile once wrapped, silently escaping the anchors.
        build(source)?;
        let regex = build(&format!("^(?:{source})$"))?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_the_whole_input() {
        let p = Pattern::new("admin|ops").unwrap();
        assert!(p.is_match("admin"));
        assert!(p.is_match("ops"));
        assert!(!p.is_match("notadmin"));
        assert!(!p.is_match("opsx"));
    }

    #[test]
    fn a_pattern_cannot_escape_its_anchors() {
        assert!(Pattern::new("a)|(b").is_err());
        assert!(Pattern::new("x)|(?:.*").is_err());
    }
}
