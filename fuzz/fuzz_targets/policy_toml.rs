//! `Policy::from_toml` on any text.
//!
//! - It never panics.
//! - On `Ok`, the policy as written round-trips: `PolicyConfig` serialized with `toml::to_string`
//!   is read back by `from_toml` as an equal config, and `from_config` accepts it too; every
//!   warning has a reason and a fix.
//! - On `Err`, there is at least one error, and every problem (errors and warnings) has a reason
//!   and a fix; the whole report displays.

#![no_main]

use crossgate::Policy;
use crossgate::policy::Problem;
use libfuzzer_sys::fuzz_target;

fn check_problem(p: &Problem, text: &str) {
    assert!(!p.reason.is_empty(), "no reason: {p:?} for {text:?}");
    assert!(!p.fix.is_empty(), "no fix: {p:?} for {text:?}");
    let _ = p.to_string();
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::from_toml(text) {
        Ok(policy) => {
            for w in policy.warnings() {
                check_problem(w, text);
            }
            let config = policy.config();
            let written = toml::to_string(config)
                .unwrap_or_else(|e| panic!("{config:?} does not serialize: {e}"));
            let again = Policy::from_toml(&written).unwrap_or_else(|e| {
                panic!("{text:?} is valid, but its config written back is not:\n{written}\n{e}")
            });
            assert_eq!(again.config(), config, "written back as:\n{written}");
            assert!(Policy::from_config(config.clone()).is_ok(), "{config:?}");
        }
        Err(errors) => {
            assert!(
                errors.errors().count() > 0,
                "refused without an error: {errors:?}"
            );
            for p in errors.problems() {
                check_problem(p, text);
            }
            let _ = errors.to_string();
        }
    }
});
