//! Pre-shared keys chosen by the peer's identity, for an Aggressive Mode responder.
//!
//! RFC 2409 §5.4: in Main Mode the initiator's identity arrives encrypted with a key
//! that already depends on the pre-shared key, so a Main Mode responder can only pick the
//! key by the peer's address (one [`super::phase1::Phase1Config`] per peer). Aggressive
//! Mode sends IDii in clear in its first message, so the responder can look the key up by
//! that identity: this table.
//!
//! Identities are public values and are matched as given; the keys themselves are never
//! compared (a wrong key shows as a HASH_I mismatch, checked in constant time).

use core::fmt;

use super::keys::SecretBytes;
use super::phase1::Identity;

/// Pre-shared keys by peer identity (ID type and data must both match).
#[derive(Clone, Default)]
pub struct PskTable {
    entries: Vec<(Identity, SecretBytes)>,
}

impl PskTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the key for `id`.
    pub fn insert(&mut self, id: Identity, psk: &[u8]) {
        let psk = SecretBytes::new(psk.to_vec());
        match self.entries.iter_mut().find(|(i, _)| *i == id) {
            Some(entry) => entry.1 = psk,
            None => self.entries.push((id, psk)),
        }
    }

    /// The key for `id`, if any.
    #[must_use]
    pub fn get(&self, id: &Identity) -> Option<&SecretBytes> {
        self.entries.iter().find(|(i, _)| i == id).map(|(_, k)| k)
    }

    /// Number of identities.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No identities.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for PskTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(id, _)| id)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_type_and_data_and_no_secret_in_debug() {
        let mut t = PskTable::new();
        t.insert(Identity::fqdn("a.example"), b"secret-a");
        t.insert(Identity::fqdn("b.example"), b"secret-b");
        t.insert(Identity::fqdn("a.example"), b"secret-a2");
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(&Identity::fqdn("a.example")).unwrap().as_bytes(), b"secret-a2");
        assert!(t.get(&Identity::fqdn("c.example")).is_none());
        // Same bytes, other ID type: no match.
        let user = Identity { id_type: crate::wire::v1::IdType::UserFqdn, data: b"a.example".to_vec() };
        assert!(t.get(&user).is_none());
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
