//! Many clients behind one NAT address at once (all from the same outer address and
//! port): every one gets its own IKE SA, ESP SAs, L2TP session and pool address, and every
//! one pings through the tunnel.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::stack::Stack;

#[test]
fn two_hundred_clients_from_one_address_get_distinct_addresses_and_all_ping() {
    let n = 200;
    let mut w = Stack::new(n, "198.51.100.0/23");
    w.pump();
    w.advance(Duration::from_secs(2));
    let failed: Vec<_> = w
        .peers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.address.is_none())
        .map(|(i, p)| (i, p.failed.clone()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} clients did not come up: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    let addresses: HashSet<_> = w.peers.iter().map(|p| p.address.unwrap()).collect();
    assert_eq!(addresses.len(), n, "every client has its own address");
    assert_eq!(w.ike.peer_count(), n);
    assert_eq!(w.data.lns().session_count(), n);
    for i in 0..n {
        w.ping(i, 1);
    }
    w.pump();
    let missing: Vec<usize> = (0..n).filter(|&i| w.peers[i].replies != 1).collect();
    assert!(missing.is_empty(), "no echo reply for clients {missing:?}");
}
