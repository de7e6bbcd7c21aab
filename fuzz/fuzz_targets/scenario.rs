//! The browser simulation on any scenario file: never a panic, and results that hold together.
//!
//! The input is read as a scenario file (one scenario or an array, JSON). Every scenario that
//! parses is simulated with both profiles; the result must be self-consistent: an allowed fetch
//! has a status and readable headers and prints nothing to the console; a blocked one has no
//! status; a preflight, when sent, is an OPTIONS with
//! `Access-Control-Request-Method`; every request carries the page's origin or `null`. A scenario
//! with an answer's status outside 100..=599 is refused by `check` and by the simulation, and
//! only such a scenario is.

#![no_main]

use crossgate::browser::Profile;
use crossgate::browser::scenario::{STATUS_RANGE, Scenario};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scenarios: Vec<Scenario> = match serde_json::from_slice::<Vec<Scenario>>(data) {
        Ok(list) => list,
        Err(_) => match serde_json::from_slice::<Scenario>(data) {
            Ok(one) => vec![one],
            Err(_) => return,
        },
    };
    for scenario in &scenarios {
        let statuses_ok = scenario
            .server
            .values()
            .flat_map(|e| [&e.preflight, &e.response])
            .flatten()
            .all(|a| STATUS_RANGE.contains(&a.status));
        assert_eq!(scenario.check().is_ok(), statuses_ok, "{scenario:?}");
        for profile in [Profile::Chromium, Profile::Spec] {
            let Ok(result) = scenario.simulate(profile) else { continue };
            assert!(statuses_ok, "simulated with a status out of range: {scenario:?}");
            match result.outcome.as_str() {
                "allowed" => {
                    assert!(result.status.is_some_and(|s| STATUS_RANGE.contains(&s)), "{result:?}");
                    assert!(result.readable_headers.is_some(), "{result:?}");
                    assert!(result.console.is_empty(), "{result:?}");
                }
                "blocked" => assert!(result.status.is_none() && result.readable_headers.is_none(), "{result:?}"),
                other => panic!("outcome {other}"),
            }
            if result.preflight_sent {
                // The first request, or the first after a redirect (a same-origin request
                // redirected cross-origin is preflighted there, as browsers do).
                assert!(
                    result.requests.iter().any(|r| r.method == "OPTIONS" && r.acrm.is_some()),
                    "{result:?}"
                );
            }
            assert!(result.console.len() <= 1, "{result:?}");
            for request in &result.requests {
                if let Some(origin) = &request.origin {
                    assert!(origin == &scenario.request.origin || origin == "null", "{result:?}");
                }
            }
        }
    }
});
