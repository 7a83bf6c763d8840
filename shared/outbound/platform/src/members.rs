//! The top-level members of a JSON object, read straight off its text.
//!
//! For text serde_json has already validated (a record's `RawValue`): the
//! proxy reads three fields of each ~1 KiB record integration-manager
//! sends, and serde's derive skipped the rest byte by byte, about half a
//! microsecond a record (~8 % of a first sync's CPU through the proxy).
//! Here a value that is not wanted is only stepped over: a string to its
//! closing quote with `memchr`, an array or object to its matching bracket.
//! Nothing is parsed or built. On text that is not valid JSON the answers
//! are meaningless but nothing panics: every index is checked.

use std::borrow::Cow;

use memchr::memchr2;

/// The members of the object `text` holds, in the order written, or `None`
/// when it holds no object.
pub(crate) fn members(text: &str) -> Option<Members<'_>> {
    let bytes = text.as_bytes();
    let open = skip_whitespace(bytes, 0);
    if bytes.get(open) != Some(&b'{') {
        return None;
    }
    let first = skip_whitespace(bytes, open + 1);
    Some(Members {
        text,
        at: first,
        done: bytes.get(first) != Some(&b'"'),
    })
}

pub(crate) struct Members<'a> {
    text: &'a str,
    /// Where the next member's key starts (its opening quote).
    at: usize,
    done: bool,
}

/// A member: its name and its value's text, exactly as written (without
/// the whitespace around it).
pub(crate) struct Member<'a> {
    /// The name as written, its quotes included.
    quoted_name: &'a str,
    pub value: &'a str,
}

impl<'a> Member<'a> {
    /// The member's name with its escapes resolved (`"\u0069d"` is `id`).
    pub fn name(&self) -> Cow<'a, str> {
        string_text(self.quoted_name).unwrap_or(Cow::Borrowed(""))
    }
}

/// The text a JSON string (quotes included) stands for, borrowed unless it
/// holds an escape; `None` when `value` is not a string.
pub(crate) fn string_text(value: &str) -> Option<Cow<'_, str>> {
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(value).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        if self.done {
            return None;
        }
        self.done = true;
        let bytes = self.text.as_bytes();
        let key_end = string_end(bytes, self.at)?;
        let colon = skip_whitespace(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let value_start = skip_whitespace(bytes, colon + 1);
        let value_end = value_end(bytes, value_start)?;
        let member = Member {
            quoted_name: self.text.get(self.at..key_end)?,
            value: self.text.get(value_start..value_end)?,
        };
        let after = skip_whitespace(bytes, value_end);
        if bytes.get(after) == Some(&b',') {
            self.at = skip_whitespace(bytes, after + 1);
            self.done = false;
        }
        Some(member)
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        at += 1;
    }
    at
}

/// Just past the closing quote of the string whose opening quote is at `at`.
fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let mut from = at + 1;
    loop {
        let found = from + memchr2(b'"', b'\\', bytes.get(from..)?)?;
        if bytes[found] == b'"' {
            return Some(found + 1);
        }
        // An escape: the character after the backslash is never the end
        // (`\uXXXX`'s digits hold neither a quote nor a backslash).
        from = found + 2;
    }
}

/// Just past the value that starts at `at`.
fn value_end(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => string_end(bytes, at),
        b'{' | b'[' => {
            // Valid JSON nests its brackets properly, so one depth serves both.
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        // A number, true, false or null: up to the next delimiter.
        _ => {
            let rest = bytes.get(at..)?;
            let length = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(rest.len());
            (length > 0).then_some(at + length)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<(String, String)> {
        members(text)
            .expect("an object")
            .map(|m| (m.name().into_owned(), m.value.to_owned()))
            .collect()
    }

    #[test]
    fn each_member_is_its_name_and_its_values_text() {
        let text = r#" { "a" : 1 , "b":"x,}\"]" ,"c":{"d":[1,{"e":"}"}]},"f":[],"g":true,"h":null,"i":-1.5e3 } "#;
        let pairs = read(text);
        let expected = [
            ("a", "1"),
            ("b", r#""x,}\"]""#),
            ("c", r#"{"d":[1,{"e":"}"}]}"#),
            ("f", "[]"),
            ("g", "true"),
            ("h", "null"),
            ("i", "-1.5e3"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn names_are_read_with_their_escapes_resolved() {
        let pairs = read(r#"{"\u0069d":"x","a\"b":2,"\\":3}"#);
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["id", "a\"b", "\\"]);
    }

    #[test]
    fn only_an_object_has_members() {
        assert!(members("[1]").is_none());
        assert!(members(r#""{}""#).is_none());
        assert!(members("").is_none());
        assert_eq!(read("{}").len(), 0);
        assert_eq!(read(" {\n} ").len(), 0);
    }

    #[test]
    fn text_that_is_not_json_ends_the_members_without_a_panic() {
        for text in [
            "{",
            "{\"",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":\"",
            "{\"a\":[",
            "{\"a\":\"\\",
            "{\"a\":1,",
            "{\"a\"1}",
            "{\"é\":\"\\é\"}",
        ] {
            let _ = members(text).map(|m| m.count());
        }
    }
}
