//! The origin parsers on any input.
//!
//! - `Origin::from_header` accepts a value only as a browser serializes it: on `Ok`, the
//!   serialization is the input itself, and parsing that again gives the same origin.
//! - `Origin::from_url` never panics on any UTF-8 string; a tuple origin it returns serializes to a
//!   value that `from_header` accepts as the same tuple (what the page's URL gives is what its
//!   requests send), and an opaque one serializes to `null`.
//! - Sites (`site`, `same_site`) never panic on either.

#![no_main]

use crossgate::Origin;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(origin) = Origin::from_header(data) {
        let serialized = origin.to_string();
        assert_eq!(
            serialized.as_bytes(),
            data,
            "from_header accepted a value that is not its own serialization"
        );
        let again = Origin::from_header(serialized.as_bytes())
            .unwrap_or_else(|e| panic!("{serialized:?} does not parse again: {e}"));
        assert_eq!(again.to_string(), serialized);
        assert_eq!(origin.tuple(), again.tuple());
        assert_eq!(origin.is_opaque(), serialized == "null");
        let _ = origin.site().map(|s| s.to_string());
        assert!(origin.same_site(&origin));
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(origin) = Origin::from_url(text) {
        let serialized = origin.to_string();
        match origin.tuple() {
            None => assert_eq!(serialized, "null"),
            Some(tuple) => {
                let header = Origin::from_header(serialized.as_bytes()).unwrap_or_else(|e| {
                    panic!("from_url({text:?}) serializes to {serialized:?}, which from_header refuses: {e}")
                });
                assert_eq!(header.tuple(), Some(tuple), "{text:?} → {serialized:?}");
            }
        }
        let _ = origin.site().map(|s| s.to_string());
        assert!(origin.same_site(&origin));
        assert!(origin.same_origin(&origin.clone()));
    }
});
