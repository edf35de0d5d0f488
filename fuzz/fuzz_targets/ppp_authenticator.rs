//! Fuzz a PPP session in either role with arbitrary frames, time steps, authentication
//! answers and closes. The first input byte picks the role; then each operation is one
//! byte, followed for frames by a length byte and the frame.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ppp::{Acceptance, AuthMethod, AuthVerdict, Config, Event, PeerCredentials, Session};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let Some((&role, mut rest)) = data.split_first() else { return };
    let mut cfg = if role & 1 == 0 {
        let mut c = Config::authenticator("l2sec");
        c.ipcp.local = Some([192, 0, 2, 1].into());
        c.ipcp.peer = Some([192, 0, 2, 10].into());
        c.ipcp.dns = [Some([192, 0, 2, 53].into()), None];
        c.auth_methods = match role >> 1 & 3 {
            0 => vec![AuthMethod::MsChapV2],
            1 => vec![AuthMethod::ChapMd5],
            2 => vec![AuthMethod::Pap],
            _ => vec![AuthMethod::MsChapV1, AuthMethod::Pap],
        };
        c
    } else {
        let mut c = Config::peer(PeerCredentials::new("user", "pass"));
        c.auth_methods.push(AuthMethod::MsChapV1);
        c
    };
    cfg.ipv6cp = role & 8 != 0;
    let mut s = Session::new(cfg, ChaCha20Rng::seed_from_u64(u64::from(role)));
    let mut now = Instant::now();
    s.open(now);
    let mut pending = Vec::new();
    let mut buf = Vec::new();
    while let Some((&op, r)) = rest.split_first() {
        rest = r;
        match op % 6 {
            0 | 1 | 2 => {
                let Some((&len, r)) = rest.split_first() else { break };
                let n = usize::from(len).min(r.len());
                let (frame, r) = r.split_at(n);
                rest = r;
                let _ = s.handle_input(now, frame);
            }
            3 => {
                now += Duration::from_millis(u64::from(op) * 40);
                s.handle_timeout(now);
            }
            4 => {
                if let Some(id) = pending.pop() {
                    let v = if op & 0x40 != 0 {
                        AuthVerdict::Accept(Acceptance {
                            authenticator_response: Some([op; 20]),
                            peer_address: Some([192, 0, 2, op].into()),
                            ..Acceptance::default()
                        })
                    } else {
                        AuthVerdict::Reject(l2sec_ppp::Rejection {
                            retry: op & 0x80 != 0,
                            ..Default::default()
                        })
                    };
                    let _ = s.answer_auth(now, id, v);
                }
            }
            _ => s.close(now, "fuzz"),
        }
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            assert_eq!(t.len, buf.len());
            assert!(l2sec_ppp::wire::Frame::parse(&buf).is_ok());
            buf.clear();
        }
        while let Some(e) = s.poll_event() {
            if let Event::Authenticate(r) = e {
                pending.push(r.id);
            }
        }
        if let Some(d) = s.poll_timeout() {
            assert!(d >= now);
        }
    }
});
