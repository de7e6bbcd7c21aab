//! JSONP for legacy clients: which callback names are safe, and the script that wraps a JSON
//! body.
//!
//! A callback is a JavaScript identifier path (`cb`, `jQuery123_456`, `app.handlers.done`) of at
//! most [`MAX_CALLBACK_LEN`] characters: never an expression, so that a crafted `callback=` cannot
//! run script of the requester's choosing in the page that loads the answer. The wrapper
//!
//! ```text
//! /**/ typeof cb === 'function' && cb(<json>);
//! ```
//!
//! starts with a comment (a Flash-era defence against a body read as another format), calls only
//! a function that exists, and escapes U+2028 and U+2029, which JSON allows in strings and older
//! JavaScript engines do not.
//!
//! ```
//! use crossgate::jsonp;
//!
//! assert!(jsonp::check_callback("app.handlers.done").is_ok());
//! assert!(jsonp::check_callback("alert(1)//").is_err());
//! assert_eq!(
//!     jsonp::wrap("cb", br#"{"ok":true}"#),
//!     b"/**/ typeof cb === 'function' && cb({\"ok\":true});".to_vec()
//! );
//! ```

use std::fmt;

/// The longest callback name accepted.
pub const MAX_CALLBACK_LEN: usize = 64;

/// Why a callback name is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackError {
    /// No name.
    Empty,
    /// Longer than [`MAX_CALLBACK_LEN`].
    TooLong(usize),
    /// Not a dotted path of JavaScript identifiers (`^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$`).
    NotAnIdentifierPath,
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::Empty => f.write_str("the callback name is empty"),
            CallbackError::TooLong(n) => write!(
                f,
                "the callback name is {n} characters long; at most {MAX_CALLBACK_LEN} are accepted"
            ),
            CallbackError::NotAnIdentifierPath => f.write_str(
                "the callback must be a JavaScript identifier or a dotted path of them \
                 (letters, digits, _ and $; not starting with a digit), such as handleData or \
                 app.handlers.done",
            ),
        }
    }
}

impl std::error::Error for CallbackError {}

/// Whether `name` may be used as a JSONP callback.
pub fn check_callback(name: &str) -> Result<(), CallbackError> {
    if name.is_empty() {
        return Err(CallbackError::Empty);
    }
    if name.len() > MAX_CALLBACK_LEN {
        return Err(CallbackError::TooLong(name.len()));
    }
    let identifier = |part: &str| {
        let mut bytes = part.bytes();
        bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
    };
    if name.split('.').all(identifier) {
        Ok(())
    } else {
        Err(CallbackError::NotAnIdentifierPath)
    }
}

/// The script that calls `callback` (already checked) with `json`, with U+2028 and U+2029
/// escaped.
pub fn wrap(callback: &str, json: &[u8]) -> Vec<u8> {
    const LINE_SEPARATOR: &[u8] = "\u{2028}".as_bytes();
    const PARAGRAPH_SEPARATOR: &[u8] = "\u{2029}".as_bytes();
    let mut out = Vec::with_capacity(json.len() + 2 * callback.len() + 40);
    out.extend_from_slice(b"/**/ typeof ");
    out.extend_from_slice(callback.as_bytes());
    out.extend_from_slice(b" === 'function' && ");
    out.extend_from_slice(callback.as_bytes());
    out.push(b'(');
    let mut rest = json;
    while !rest.is_empty() {
        if rest.starts_with(LINE_SEPARATOR) {
            out.extend_from_slice(b"\\u2028");
            rest = &rest[LINE_SEPARATOR.len()..];
        } else if rest.starts_with(PARAGRAPH_SEPARATOR) {
            out.extend_from_slice(b"\\u2029");
            rest = &rest[PARAGRAPH_SEPARATOR.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out.extend_from_slice(b");");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks() {
        for good in [
            "cb",
            "_",
            "$",
            "jQuery1234_5678",
            "app.handlers.done",
            "a$.b_c.$d9",
        ] {
            assert_eq!(check_callback(good), Ok(()), "{good}");
        }
        for (bad, error) in [
            ("", CallbackError::Empty),
            ("9cb", CallbackError::NotAnIdentifierPath),
            ("cb()", CallbackError::NotAnIdentifierPath),
            ("alert(1)//", CallbackError::NotAnIdentifierPath),
            ("a..b", CallbackError::NotAnIdentifierPath),
            (".a", CallbackError::NotAnIdentifierPath),
            ("a.", CallbackError::NotAnIdentifierPath),
            ("a b", CallbackError::NotAnIdentifierPath),
            ("a[0]", CallbackError::NotAnIdentifierPath),
            ("caf\u{e9}", CallbackError::NotAnIdentifierPath),
            ("cb;alert(1)", CallbackError::NotAnIdentifierPath),
        ] {
            assert_eq!(check_callback(bad), Err(error), "{bad:?}");
        }
        assert_eq!(check_callback(&"a".repeat(64)), Ok(()));
        assert_eq!(
            check_callback(&"a".repeat(65)),
            Err(CallbackError::TooLong(65))
        );
    }

    #[test]
    fn wrapping_escapes_the_two_separators_javascript_once_refused() {
        let json = "{\"s\":\"a\u{2028}b\u{2029}c\u{e9}\"}".as_bytes();
        let wrapped = String::from_utf8(wrap("cb", json)).expect("UTF-8");
        assert_eq!(
            wrapped,
            "/**/ typeof cb === 'function' && cb({\"s\":\"a\\u2028b\\u2029c\u{e9}\"});"
        );
    }
}
