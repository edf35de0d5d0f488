//! Aggressive Mode responder choosing the pre-shared key by the initiator's identity.

use std::time::Instant;

use l2sec_ike::Error;
use l2sec_ike::v1::phase1::{Event, Identity, Phase1, Phase1Config, State};
use l2sec_ike::v1::psk::PskTable;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type P1 = Phase1<ChaCha20Rng>;

fn config(psk: &[u8], id: &str) -> Phase1Config {
    let mut c = Phase1Config::new(psk, Identity::fqdn(id));
    c.proposals.truncate(1);
    c.allow_aggressive = true;
    c
}

fn table() -> PskTable {
    let mut t = PskTable::new();
    t.insert(Identity::fqdn("alice.example"), b"alice-secret");
    t.insert(Identity::fqdn("bob.example"), b"bob-secret");
    t
}

fn next(m: &mut P1, now: Instant) -> Vec<u8> {
    let mut buf = Vec::new();
    m.poll_transmit(now, &mut buf).expect("a datagram");
    buf
}

/// Runs AM1..AM3 between an initiator `id`/`psk` and a table responder whose own
/// `config.psk` is a decoy; returns the responder.
fn run(id: &str, psk: &[u8], seed: u64) -> (P1, P1, Result<(), Error>) {
    let now = Instant::now();
    let mut i = Phase1::initiate_aggressive(config(psk, id), ChaCha20Rng::seed_from_u64(seed), now).unwrap();
    let mut r = Phase1::respond_with_psks(
        config(b"decoy-not-used", "server"),
        table(),
        ChaCha20Rng::seed_from_u64(seed + 1),
        now,
    );
    let am1 = next(&mut i, now);
    if let Err(e) = r.handle_input(now, &am1) {
        return (i, r, Err(e));
    }
    let am2 = next(&mut r, now);
    if let Err(e) = i.handle_input(now, &am2) {
        return (i, r, Err(e));
    }
    let am3 = next(&mut i, now);
    let result = r.handle_input(now, &am3);
    (i, r, result)
}

#[test]
fn each_identity_authenticates_with_its_own_key() {
    for (n, (id, psk)) in
        [("alice.example", &b"alice-secret"[..]), ("bob.example", &b"bob-secret"[..])].iter().enumerate()
    {
        let (mut i, mut r, result) = run(id, psk, 10 * n as u64);
        result.unwrap();
        assert_eq!(r.state(), State::Established);
        assert!(
            matches!(r.poll_event(), Some(Event::Established { peer_id, .. }) if peer_id == Identity::fqdn(id))
        );
        assert!(matches!(i.poll_event(), Some(Event::Established { .. })));
        assert_eq!(i.keys().unwrap().skeyid_d(), r.keys().unwrap().skeyid_d());
    }
}

#[test]
fn another_identitys_key_does_not_authenticate() {
    // Alice's identity with Bob's key: the responder derives with Alice's key, so the
    // initiator rejects HASH_R in AM2.
    let (i, _r, result) = run("alice.example", b"bob-secret", 30);
    assert_eq!(result, Err(Error::AuthenticationFailed));
    assert_ne!(i.state(), State::Established);
}

#[test]
fn unknown_identity_is_dropped_without_state() {
    let (_i, r, result) = run("mallory.example", b"decoy-not-used", 40);
    assert_eq!(result, Err(Error::AuthenticationFailed));
    // The responder is still waiting for a first message: nothing was committed.
    assert_eq!(r.state(), State::AwaitingSa);
    assert_eq!(r.cookies().1, [0; 8]);
}
