//! Dead Peer Detection across the compositions, on a virtual clock: while no ESP flows, the
//! l2sec client and the l2sec server (IkeV1Server + IpsecLns) keep the connection by
//! answering each other's R-U-THERE, and a client that vanishes is declared dead.

mod common;

use std::time::Duration;

use common::stack::Stack;

#[test]
fn dpd_keeps_a_live_client_and_declares_a_vanished_one_dead() {
    let mut w = Stack::new(1, "198.51.100.0/24");
    w.pump();
    w.advance(Duration::from_secs(3));
    assert!(w.peers[0].address.is_some(), "the tunnel came up: {:?}", w.peers[0].failed);
    assert_eq!(w.data.lns().session_count(), 1);
    // Two minutes without ESP (so no L2TP HELLO or PPP echo reaches the server): only
    // Dead Peer Detection shows the client is alive, and its R-U-THERE are answered.
    w.esp = false;
    w.advance(Duration::from_secs(120));
    // (L2TP itself gives up on its tunnel meanwhile: its HELLOs go unanswered.)
    assert!(w.gone.is_empty(), "a live client's IPsec connection was removed: {:?}", w.gone);
    w.esp = true;
    // The client vanishes: the server's probes go unanswered.
    w.connected = false;
    w.advance(Duration::from_secs(120));
    assert_eq!(w.gone, [true], "DPD declared the vanished client dead");
}
