//! The JSON path of the place a configuration error points at, from the error's position.
//!
//! serde_json reports where in the text it stopped (line and column); users need to know
//! which setting is wrong (`providers.corp.refresh.interval_s`). A wrapper that tracks the
//! path while deserializing (serde_path_to_error) doubles the deserialization code of every
//! configuration type: it was the largest single part of the module (130 KB of 900). Here
//! the path is recovered only when there is an error, by reading the text up to the error's
//! position and keeping the stack of objects and arrays open there.

/// What the error is about, as far as the path goes: an unknown member name is reported at
/// the name, so the name belongs to the path; any other error after a member name (a
/// duplicate key, say) is about the object holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtName {
    Included,
    Excluded,
}

impl AtName {
    /// serde's messages for a member name that is not allowed.
    pub fn for_message(message: &str) -> AtName {
        if message.starts_with("unknown field") || message.starts_with("unknown variant") {
            AtName::Included
        } else {
            AtName::Excluded
        }
    }
}

/// The path (`rules[1].match.headers[0].name`; empty for the document itself) of what is
/// at byte `offset` of `text`. Text past the offset is not read; malformed text yields the
/// path as far as it could be followed.
pub fn at(text: &[u8], offset: usize, at_name: AtName) -> String {
    let mut reader = Reader { frames: Vec::new() };
    let end = offset.min(text.len());
    let mut index = 0;
    while index < end {
        index = reader.step(text, index, end);
    }
    reader.path(at_name)
}

/// The byte offset of serde_json's 1-based `line` and its `column` (bytes before the next
/// unread one on that line).
pub fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(index, _)| index + 1)
    };
    line_start.saturating_add(column)
}

/// An object or array open at the position.
#[derive(Debug)]
enum Frame {
    Object {
        /// The last member name read, until the `,` after its value.
        name: Option<String>,
        /// Past the `:` after `name`: inside (or after) its value.
        in_value: bool,
    },
    Array {
        index: usize,
        /// An element at `index` has started.
        in_value: bool,
    },
}

struct Reader {
    frames: Vec<Frame>,
}

impl Reader {
    /// Reads one token starting at `index`; returns where the next one starts.
    fn step(&mut self, text: &[u8], index: usize, end: usize) -> usize {
        let Some(&byte) = text.get(index) else {
            return end;
        };
        match byte {
            b'{' => {
                self.value_starts();
                self.frames.push(Frame::Object {
                    name: None,
                    in_value: false,
                });
            }
            b'[' => {
                self.value_starts();
                self.frames.push(Frame::Array {
                    index: 0,
                    in_value: false,
                });
            }
            b'}' | b']' => {
                self.frames.pop();
            }
            b':' => {
                if let Some(Frame::Object { in_value, .. }) = self.frames.last_mut() {
                    *in_value = true;
                }
            }
            b',' => match self.frames.last_mut() {
                Some(Frame::Object { name, in_value }) => {
                    *name = None;
                    *in_value = false;
                }
                Some(Frame::Array { index, in_value }) => {
                    *index = index.saturating_add(1);
                    *in_value = false;
                }
                None => {}
            },
            b'"' => {
                let close = string_end(text, index).min(end);
                let expects_name = matches!(
                    self.frames.last(),
                    Some(Frame::Object {
                        in_value: false,
                        ..
                    })
                );
                if expects_name {
                    let name = text
                        .get(index..close)
                        .and_then(|token| serde_json::from_slice::<String>(token).ok())
                        .unwrap_or_default();
                    if let Some(Frame::Object { name: slot, .. }) = self.frames.last_mut() {
                        *slot = Some(name);
                    }
                } else {
                    self.value_starts();
                }
                return close;
            }
            byte if byte.is_ascii_whitespace() => {}
            _ => self.value_starts(),
        }
        index + 1
    }

    /// A value starts: inside an array, it is the element at the current index.
    fn value_starts(&mut self) {
        if let Some(Frame::Array { in_value, .. }) = self.frames.last_mut() {
            *in_value = true;
        }
    }

    fn path(&self, at_name: AtName) -> String {
        let mut path = String::new();
        for frame in &self.frames {
            match frame {
                Frame::Object {
                    name: Some(name),
                    in_value,
                } if *in_value || at_name == AtName::Included => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
                Frame::Array {
                    index,
                    in_value: true,
                } => {
                    path.push('[');
                    path.push_str(&index.to_string());
                    path.push(']');
                }
                _ => {}
            }
        }
        path
    }
}

/// The index just past the string token opening at `start` (its closing quote included),
/// or the text's length when it never closes.
fn string_end(text: &[u8], start: usize) -> usize {
    let mut index = start + 1;
    while let Some(&byte) = text.get(index) {
        match byte {
            b'\\' => index += 2,
            b'"' => return index + 1,
            _ => index += 1,
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path at the end of `prefix`, which is read as the start of a document.
    fn path_after(prefix: &str, at_name: AtName) -> String {
        at(prefix.as_bytes(), prefix.len(), at_name)
    }

    #[test]
    fn a_member_value_is_named_by_its_member() {
        assert_eq!(
            path_after(r#"{"dry_run": "yes""#, AtName::Excluded),
            "dry_run"
        );
    }

    #[test]
    fn nested_members_and_elements_are_joined_as_serde_path_to_error_does() {
        let prefix = r#"{"rules": [{"a": 1}, {"match": {"headers": [{"name": "x"}, {"name": 5"#;
        assert_eq!(
            path_after(prefix, AtName::Excluded),
            "rules[1].match.headers[1].name"
        );
    }

    #[test]
    fn an_unknown_name_belongs_to_the_path_and_a_duplicate_does_not() {
        let prefix = r#"{"providers": {"p": {}, "p""#;
        assert_eq!(path_after(prefix, AtName::Included), "providers.p");
        assert_eq!(path_after(prefix, AtName::Excluded), "providers");
    }

    #[test]
    fn a_closed_object_is_named_by_the_member_holding_it() {
        assert_eq!(path_after(r#"{"default": {}"#, AtName::Excluded), "default");
        assert_eq!(path_after(r#"{"rules": []}"#, AtName::Excluded), "");
    }

    #[test]
    fn an_element_is_named_only_once_it_started() {
        assert_eq!(path_after(r#"{"a": [1, "#, AtName::Excluded), "a");
        assert_eq!(path_after(r#"{"a": [1, tru"#, AtName::Excluded), "a[1]");
    }

    #[test]
    fn brackets_and_escaped_quotes_inside_strings_are_text() {
        let prefix = r#"{"a\"}": {"b": "[{\"x", "c": 1"#;
        assert_eq!(path_after(prefix, AtName::Excluded), "a\"}.c");
    }

    #[test]
    fn an_unterminated_document_names_what_was_open() {
        assert_eq!(path_after(r#"{"a": {"b": "#, AtName::Excluded), "a.b");
        assert_eq!(path_after(r#"{"a": "unterminated"#, AtName::Excluded), "a");
    }

    #[test]
    fn offsets_count_lines_from_one_and_columns_in_bytes() {
        let text = b"{\n  \"a\": 1,\n  \"b\": x\n}";
        assert_eq!(offset_of(text, 1, 1), 1);
        assert_eq!(offset_of(text, 3, 8), 20);
        assert_eq!(text.get(19), Some(&b'x'));
    }
}
