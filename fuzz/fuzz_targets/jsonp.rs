//! JSONP on any input.
//!
//! - `check_callback` never panics, and accepts only what the pattern says:
//!   `^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$`, at most 64 bytes (checked against a reference
//!   written independently, byte by byte).
//! - `wrap`, for an accepted callback and any body, is the prefix, the body with U+2028 and
//!   U+2029 escaped (no raw separator survives), and `);`.

#![no_main]

use crossgate::jsonp;
use libfuzzer_sys::fuzz_target;

fn reference(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > jsonp::MAX_CALLBACK_LEN {
        return false;
    }
    let mut start = true;
    for &b in name {
        let ok = match b {
            b'.' => !start,
            b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'$' => true,
            b'0'..=b'9' => !start,
            _ => false,
        };
        if !ok {
            return false;
        }
        start = b == b'.';
    }
    !start
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (name, body) = data.split_at(split);
    let Ok(name) = std::str::from_utf8(name) else {
        return;
    };
    let accepted = jsonp::check_callback(name).is_ok();
    assert_eq!(accepted, reference(name.as_bytes()), "{name:?}");
    if accepted {
        let script = jsonp::wrap(name, body);
        let prefix = format!("/**/ typeof {name} === 'function' && {name}(");
        assert!(script.starts_with(prefix.as_bytes()));
        assert!(script.ends_with(b");"));
        let inner = &script[prefix.len()..script.len() - 2];
        for separator in ["\u{2028}", "\u{2029}"] {
            assert!(!inner.windows(3).any(|w| w == separator.as_bytes()), "a raw separator survived");
        }
        let restored = String::from_utf8_lossy(inner)
            .replace("\\u2028", "\u{2028}")
            .replace("\\u2029", "\u{2029}");
        // Escaping is the only change (a body that already contained the escape text restores to
        // a separator; compare lossily in both directions instead).
        let original = String::from_utf8_lossy(body)
            .replace("\\u2028", "\u{2028}")
            .replace("\\u2029", "\u{2029}");
        assert_eq!(restored, original);
    }
});
