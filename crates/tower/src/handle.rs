//! [`PolicyHandle`]: a policy replaced at runtime, read by every request without a lock.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use crossgate::Policy;

/// A shared, swappable [`Policy`], for services whose allowed origins change while they run
/// (tenants in a database, a config file reloaded on a signal).
///
/// Clones share the same slot. [`replace`](PolicyHandle::replace) is atomic: a request sees the
/// old policy or the new one, never a mix. Requests read the slot through
/// [`arc_swap::ArcSwap`], which takes no lock and does not allocate, so a reload never stalls the
/// request path and the request path never stalls a reload.
#[derive(Clone)]
pub struct PolicyHandle {
    slot: Arc<ArcSwap<Policy>>,
}

impl PolicyHandle {
    /// A handle holding `policy`.
    pub fn new(policy: Policy) -> PolicyHandle {
        PolicyHandle {
            slot: Arc::new(ArcSwap::from_pointee(policy)),
        }
    }

    /// Makes `policy` the one every layer built from this handle applies, from the next request
    /// on; returns the previous one. Requests already decided keep the headers they were given.
    pub fn replace(&self, policy: Policy) -> Policy {
        let previous = self.slot.swap(Arc::new(policy));
        Policy::clone(&previous)
    }

    /// The policy in force now.
    pub fn current(&self) -> Policy {
        Policy::clone(&self.slot.load())
    }

    /// Runs `f` on the policy in force, without cloning it (the request path).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Policy) -> R) -> R {
        f(&self.slot.load())
    }
}

impl From<Policy> for PolicyHandle {
    fn from(policy: Policy) -> PolicyHandle {
        PolicyHandle::new(policy)
    }
}

impl fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyHandle")
            .field("current", &*self.slot.load())
            .finish()
    }
}
