//! Header values kept for the life of the process, so that writing one into a response is a
//! copy, not a reference-count increment and decrement on a cache line that every core shares.
//!
//! Each response header a policy writes (an exact origin's `Access-Control-Allow-Origin`, the
//! method and header lists, `Access-Control-Max-Age`) is built once, when the policy is compiled.
//! A `HeaderValue` over shared bytes costs two atomic operations per response (the clone into the
//! response, and its drop); over static bytes it costs none. Measured in crossgate-tower's
//! benchmark, that was a third of the layer's added time for a preflight, before any contention
//! between cores.
//!
//! Each distinct value is kept once (a policy reloaded with the same origins adds nothing), and
//! at most [`MAX_INTERNED_BYTES`] in all: past that, new values are reference-counted as before,
//! so a service that reloads ever-new policies cannot grow without bound.

use std::collections::HashSet;
use std::sync::Mutex;

use http::HeaderValue;

/// The most memory kept for the life of the process, counting each value's bytes plus
/// [`ENTRY_OVERHEAD`] (4 MiB: about forty thousand origins of forty bytes). Every policy compiled
/// draws on it, including one only validated; past it, values are shared as before, which is
/// only slower.
pub(crate) const MAX_INTERNED_BYTES: usize = 4 << 20;

/// What one kept value costs beyond its bytes: its allocation's header and rounding, and its slot
/// in the set (an estimate).
const ENTRY_OVERHEAD: usize = 64;

struct Interned {
    values: Option<HashSet<&'static str>>,
    bytes: usize,
}

static INTERNED: Mutex<Interned> = Mutex::new(Interned {
    values: None,
    bytes: 0,
});

/// `text` as a header value whose clones never touch a reference count, or, past the budget,
/// whose clones never allocate. `None` if `text` cannot be a header value.
pub(crate) fn header_value(text: &str) -> Option<HeaderValue> {
    let value = HeaderValue::from_str(text).ok()?;
    // `from_static` takes visible ASCII and tab only (no obs-text), and panics otherwise.
    let visible = text
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
    if !visible {
        return Some(shared(value));
    }
    match intern(text) {
        Some(kept) => Some(HeaderValue::from_static(kept)),
        None => Some(shared(value)),
    }
}

fn intern(text: &str) -> Option<&'static str> {
    let mut interned = INTERNED.lock().ok()?;
    let Interned { values, bytes } = &mut *interned;
    let values = values.get_or_insert_with(HashSet::new);
    if let Some(kept) = values.get(text) {
        return Some(kept);
    }
    let cost = text.len() + ENTRY_OVERHEAD;
    if *bytes + cost > MAX_INTERNED_BYTES {
        return None;
    }
    // Deliberately never freed: see the module documentation for the bound.
    let kept: &'static str = Box::leak(text.to_owned().into_boxed_str());
    values.insert(kept);
    *bytes += cost;
    Some(kept)
}

/// Makes a header value's bytes shared, so that every later clone is a reference-count increment
/// and never allocates (a fresh `HeaderValue` allocates on its first clone). The server relies on
/// this for its allocation-free request path; `tests/alloc.rs` checks it.
pub(crate) fn shared(value: HeaderValue) -> HeaderValue {
    drop(value.clone());
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_once_and_its_clones_share_the_same_bytes() {
        let a = header_value("https://intern-test.example").expect("valid");
        let b = header_value("https://intern-test.example").expect("valid");
        assert_eq!(a, b);
        assert_eq!(
            a.as_bytes().as_ptr(),
            b.as_bytes().as_ptr(),
            "one copy for both"
        );
        let c = a.clone();
        assert_eq!(c.as_bytes().as_ptr(), a.as_bytes().as_ptr());
    }

    #[test]
    fn values_that_cannot_be_static_are_still_values() {
        let value = header_value("caf\u{e9}").expect("obs-text is a valid header value");
        assert_eq!(value.as_bytes(), "caf\u{e9}".as_bytes());
        assert_eq!(header_value("a\nb"), None);
    }
}
