//! Recomputes IKEv1 keys, IVs and hashes of real strongSwan 5.9.8 exchanges.
//!
//! `data/demo-direct-ikev1.txt` holds the ISAKMP messages of the lab capture
//! `shared/lab/strongswan/examples/demo-direct.pcapng` (frame, source, hex; NAT-T non-ESP
//! markers removed). `data/strongswan-ikev1-keys.txt` holds the secrets charon logged for
//! those exchanges (`ws-demo/keys.json`). From the PSK, the captured nonces and public
//! values and the logged g^xy we recompute SKEYID*, Ka and the IV, decrypt every
//! encrypted message, check every HASH strongSwan sent, and recompute the ESP KEYMAT.

use std::collections::HashMap;

use l2sec_ike::crypto::{CipherAlgorithm, PrfAlgorithm};
use l2sec_ike::v1::crypt::{self, IvChain};
use l2sec_ike::v1::keys::{Phase1Exchange, Phase1Keys, skeyid_psk};
use l2sec_ike::wire::v1::{
    ExchangeType, Message, MessageRepr, Payload, PayloadType, RawPayload, split_payload_chain,
};

const PSK: &[u8] = b"lab-psk-0123456789";
const MESSAGES: &str = include_str!("data/demo-direct-ikev1.txt");
const KEYS: &str = include_str!("data/strongswan-ikev1-keys.txt");

#[derive(Clone)]
struct Frame {
    number: u32,
    from_initiator: bool,
    bytes: Vec<u8>,
}

fn frames() -> Vec<Frame> {
    MESSAGES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let number = it.next().unwrap().parse().unwrap();
            let from_initiator = it.next().unwrap() == "192.0.2.1";
            let bytes = hex::decode(it.next().unwrap()).unwrap();
            Frame { number, from_initiator, bytes }
        })
        .collect()
}

fn keys() -> HashMap<(String, String), Vec<u8>> {
    KEYS.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let spi = it.next().unwrap().to_string();
            let name = it.next().unwrap().to_string();
            ((spi, name), hex::decode(it.next().unwrap()).unwrap())
        })
        .collect()
}

/// The frames of one IKE SA (by initiator cookie).
fn session(ispi: &str) -> Vec<Frame> {
    let cky = hex::decode(ispi).unwrap();
    frames().into_iter().filter(|f| f.bytes[..8] == cky[..]).collect()
}

fn raw<'a>(chain: &'a [RawPayload<'a>], t: PayloadType) -> &'a [u8] {
    chain.iter().find(|p| p.payload_type == t).unwrap_or_else(|| panic!("no {t:?} payload")).body
}

/// The bytes of the payload chain after the first (HASH) payload, without padding:
/// what Quick Mode HASH(1)/HASH(2) and informational HASH(1) cover.
fn after_first_payload(plaintext: &[u8], first: PayloadType) -> Vec<u8> {
    let (chain, padding) = split_payload_chain(first, plaintext).unwrap();
    let hash_len = 4 + chain[0].body.len();
    plaintext[hash_len..plaintext.len() - padding.len()].to_vec()
}

struct Phase1 {
    keys: Phase1Keys,
    ivs: IvChain,
    ni_b: Vec<u8>,
    nr_b: Vec<u8>,
}

fn check_keys(ispi: &str, keys: &Phase1Keys, ivs: &IvChain) {
    let k = self::keys();
    let get = |name: &str| k[&(ispi.to_string(), name.to_string())].clone();
    assert_eq!(keys.skeyid(), get("SKEYID"), "SKEYID");
    assert_eq!(keys.skeyid_d(), get("SKEYID_d"), "SKEYID_d");
    assert_eq!(keys.skeyid_a(), get("SKEYID_a"), "SKEYID_a");
    assert_eq!(keys.skeyid_e(), get("SKEYID_e"), "SKEYID_e");
    assert_eq!(keys.encryption_key(), get("encryption_key_Ka"), "Ka");
    assert_eq!(ivs.iv_for(keys, 0).as_bytes(), get("initial_IV"), "initial IV");
}

/// Main Mode: messages 1-4 in clear, 5 and 6 encrypted.
fn main_mode(ispi: &str) -> (Phase1, Vec<Frame>) {
    let frames = session(ispi);
    let k = keys();
    let g_xy = &k[&(ispi.to_string(), "shared_Diffie_Hellman_secret".into())];
    let m1 = Message::parse(&frames[0].bytes).unwrap();
    let m3 = Message::parse(&frames[2].bytes).unwrap();
    let m4 = Message::parse(&frames[3].bytes).unwrap();
    assert_eq!(m1.header.exchange_type, ExchangeType::IdentityProtection);
    let (c1, _) = split_payload_chain(m1.header.next_payload, m1.body).unwrap();
    let (c3, _) = split_payload_chain(m3.header.next_payload, m3.body).unwrap();
    let (c4, _) = split_payload_chain(m4.header.next_payload, m4.body).unwrap();
    let sai_b = raw(&c1, PayloadType::SecurityAssociation);
    let (g_xi, ni_b) = (raw(&c3, PayloadType::KeyExchange), raw(&c3, PayloadType::Nonce));
    let (g_xr, nr_b) = (raw(&c4, PayloadType::KeyExchange), raw(&c4, PayloadType::Nonce));
    assert_eq!(g_xi.len(), 256, "MODP 2048 public value");

    let prf = PrfAlgorithm::HmacSha1;
    let skeyid = skeyid_psk(prf, PSK, ni_b, nr_b);
    let cky_i = m4.header.initiator_spi;
    let cky_r = m4.header.responder_spi;
    let keys = Phase1Keys::derive(prf, CipherAlgorithm::AesCbc128, &skeyid, g_xy, &cky_i, &cky_r);
    let mut ivs = IvChain::new(keys.initial_iv(g_xi, g_xr));
    check_keys(ispi, &keys, &ivs);

    let ex = Phase1Exchange { g_xi, g_xr, cky_i: &cky_i, cky_r: &cky_r, sai_b };
    // MM5 (initiator: IDii, HASH_I) and MM6 (responder: IDir, HASH_R).
    for (frame, initiator) in [(&frames[4], true), (&frames[5], false)] {
        assert_eq!(frame.from_initiator, initiator);
        let m = Message::parse(&frame.bytes).unwrap();
        let d = crypt::decrypt(keys.cipher(), keys.encryption_key(), &ivs.iv_for(&keys, 0), &m).unwrap();
        let (chain, padding) = split_payload_chain(m.header.next_payload, &d.plaintext).unwrap();
        assert!(padding.len() < 16);
        let id_b = raw(&chain, PayloadType::Identification);
        let hash = raw(&chain, PayloadType::Hash);
        let expected = if initiator { keys.hash_i(&ex, id_b) } else { keys.hash_r(&ex, id_b) };
        assert!(expected.ct_eq_bytes(hash), "HASH of frame {}", frame.number);
        ivs.commit(0, d.next_iv);
    }
    let rest = frames[6..].to_vec();
    (Phase1 { keys, ivs, ni_b: ni_b.to_vec(), nr_b: nr_b.to_vec() }, rest)
}

/// Aggressive Mode: messages 1 and 2 in clear (2 carries HASH_R), 3 encrypted (HASH_I).
fn aggressive_mode(ispi: &str) -> (Phase1, Vec<Frame>) {
    let frames = session(ispi);
    let k = keys();
    let g_xy = &k[&(ispi.to_string(), "shared_Diffie_Hellman_secret".into())];
    let m1 = Message::parse(&frames[0].bytes).unwrap();
    let m2 = Message::parse(&frames[1].bytes).unwrap();
    assert_eq!(m1.header.exchange_type, ExchangeType::Aggressive);
    let (c1, _) = split_payload_chain(m1.header.next_payload, m1.body).unwrap();
    let (c2, _) = split_payload_chain(m2.header.next_payload, m2.body).unwrap();
    let sai_b = raw(&c1, PayloadType::SecurityAssociation);
    let (g_xi, ni_b) = (raw(&c1, PayloadType::KeyExchange), raw(&c1, PayloadType::Nonce));
    let (g_xr, nr_b) = (raw(&c2, PayloadType::KeyExchange), raw(&c2, PayloadType::Nonce));
    let idii_b = raw(&c1, PayloadType::Identification);
    let idir_b = raw(&c2, PayloadType::Identification);

    let prf = PrfAlgorithm::HmacSha1;
    let skeyid = skeyid_psk(prf, PSK, ni_b, nr_b);
    let cky_i = m2.header.initiator_spi;
    let cky_r = m2.header.responder_spi;
    let keys = Phase1Keys::derive(prf, CipherAlgorithm::AesCbc128, &skeyid, g_xy, &cky_i, &cky_r);
    let mut ivs = IvChain::new(keys.initial_iv(g_xi, g_xr));
    check_keys(ispi, &keys, &ivs);
    let ex = Phase1Exchange { g_xi, g_xr, cky_i: &cky_i, cky_r: &cky_r, sai_b };
    assert!(keys.hash_r(&ex, idir_b).ct_eq_bytes(raw(&c2, PayloadType::Hash)));
    // A wrong PSK gives a HASH_R that does not match.
    let wrong = Phase1Keys::derive(
        prf,
        CipherAlgorithm::AesCbc128,
        &skeyid_psk(prf, b"not-the-psk", ni_b, nr_b),
        g_xy,
        &cky_i,
        &cky_r,
    );
    assert!(!wrong.hash_r(&ex, idir_b).ct_eq_bytes(raw(&c2, PayloadType::Hash)));

    let m3 = Message::parse(&frames[2].bytes).unwrap();
    let d = crypt::decrypt(keys.cipher(), keys.encryption_key(), &ivs.iv_for(&keys, 0), &m3).unwrap();
    let (c3, _) = split_payload_chain(m3.header.next_payload, &d.plaintext).unwrap();
    assert!(keys.hash_i(&ex, idii_b).ct_eq_bytes(raw(&c3, PayloadType::Hash)));
    ivs.commit(0, d.next_iv);
    let rest = frames[3..].to_vec();
    (Phase1 { keys, ivs, ni_b: ni_b.to_vec(), nr_b: nr_b.to_vec() }, rest)
}

/// Quick Mode (3 messages, or 2 when the capture stops early) then informational
/// messages; returns the number of QM messages checked and the ESP SPIs and KEYMATs.
fn phase2(p1: &mut Phase1, frames: &[Frame], ispi: &str) -> usize {
    let keys = &p1.keys;
    let mut qm_ni = Vec::new();
    let mut qm_nr = Vec::new();
    let mut spis: Vec<Vec<u8>> = Vec::new();
    let mut qm_count = 0;
    for frame in frames {
        let m = Message::parse(&frame.bytes).unwrap();
        assert!(m.header.flags.encrypted(), "frame {}", frame.number);
        let mid = m.header.message_id;
        let iv = p1.ivs.iv_for(keys, mid);
        let d = crypt::decrypt(keys.cipher(), keys.encryption_key(), &iv, &m).unwrap();
        let (chain, _) = split_payload_chain(m.header.next_payload, &d.plaintext).unwrap();
        assert_eq!(chain[0].payload_type, PayloadType::Hash, "frame {}", frame.number);
        let hash = chain[0].body;
        let after = after_first_payload(&d.plaintext, m.header.next_payload);
        match m.header.exchange_type {
            ExchangeType::QuickMode => {
                qm_count += 1;
                let ok = match qm_count {
                    1 => {
                        qm_ni = raw(&chain, PayloadType::Nonce).to_vec();
                        keys.quick_hash1(mid, &after).ct_eq_bytes(hash)
                    }
                    2 => {
                        qm_nr = raw(&chain, PayloadType::Nonce).to_vec();
                        keys.quick_hash2(mid, &qm_ni, &after).ct_eq_bytes(hash)
                    }
                    _ => keys.quick_hash3(mid, &qm_ni, &qm_nr).ct_eq_bytes(hash),
                };
                assert!(ok, "QM HASH of frame {}", frame.number);
                if qm_count <= 2 {
                    let payloads = MessageRepr {
                        header: m.header,
                        payloads: l2sec_ike::wire::v1::parse_payload_chain(
                            m.header.next_payload,
                            &d.plaintext,
                        )
                        .unwrap()
                        .0,
                    };
                    let sa = payloads
                        .payloads
                        .iter()
                        .find_map(|p| match p {
                            Payload::SecurityAssociation(sa) => Some(sa.clone()),
                            _ => None,
                        })
                        .unwrap();
                    spis.push(sa.proposals[0].spi.to_vec());
                }
            }
            ExchangeType::Informational => {
                assert!(
                    keys.quick_hash1(mid, &after).ct_eq_bytes(hash),
                    "informational HASH of frame {}",
                    frame.number
                );
            }
            other => panic!("unexpected exchange {other:?}"),
        }
        p1.ivs.commit(mid, d.next_iv);
    }
    // ESP KEYMAT (RFC 2409 §5.5, no PFS) for AES-128 + HMAC-SHA1: 16 + 20 bytes, for the
    // SA whose SPI the responder chose (the initiator's outbound SA) and the initiator's.
    let k = keys_for(ispi);
    let name = k
        .iter()
        .find(|((s, n), _)| s == ispi && n.ends_with(".spi_out"))
        .map(|((_, n), _)| n.trim_end_matches(".spi_out").to_string())
        .unwrap();
    let get = |field: &str| k[&(ispi.to_string(), format!("{name}.{field}"))].clone();
    let spi_r = &spis[1];
    let spi_i = &spis[0];
    assert_eq!(spi_r, &get("spi_out"));
    assert_eq!(spi_i, &get("spi_in"));
    let mut seed = vec![3];
    seed.extend_from_slice(spi_r);
    seed.extend_from_slice(&qm_ni);
    seed.extend_from_slice(&qm_nr);
    assert_eq!(seed, get("initiator_SA_seed"));
    let out = p1.keys.keymat(None, 3, spi_r, &qm_ni, &qm_nr, 36);
    assert_eq!(&out.as_bytes()[..16], get("encryption_initiator_key"));
    assert_eq!(&out.as_bytes()[16..], get("integrity_initiator_key"));
    let inn = p1.keys.keymat(None, 3, spi_i, &qm_ni, &qm_nr, 36);
    assert_eq!(&inn.as_bytes()[..16], get("encryption_responder_key"));
    assert_eq!(&inn.as_bytes()[16..], get("integrity_responder_key"));
    // Phase-1 nonces are not the QM nonces.
    assert_ne!(p1.ni_b, qm_ni);
    assert_ne!(p1.nr_b, qm_nr);
    qm_count
}

fn keys_for(_ispi: &str) -> HashMap<(String, String), Vec<u8>> {
    keys()
}

#[test]
fn main_mode_tunnel_session() {
    let (mut p1, rest) = main_mode("11c45d9f79fcddbe");
    assert_eq!(phase2(&mut p1, &rest, "11c45d9f79fcddbe"), 3);
}

#[test]
fn main_mode_l2tp_session() {
    let (mut p1, rest) = main_mode("23fc89c88636ceed");
    assert_eq!(phase2(&mut p1, &rest, "23fc89c88636ceed"), 2);
}

#[test]
fn aggressive_mode_tunnel_session() {
    let (mut p1, rest) = aggressive_mode("334ed9a05bd7afc8");
    assert_eq!(phase2(&mut p1, &rest, "334ed9a05bd7afc8"), 3);
}

#[test]
fn aggressive_mode_l2tp_session() {
    let (mut p1, rest) = aggressive_mode("e81c5dade5e42835");
    assert_eq!(phase2(&mut p1, &rest, "e81c5dade5e42835"), 2);
}

/// Every plaintext message of the capture parses into typed payloads and encodes back to
/// the same bytes.
#[test]
fn plaintext_messages_round_trip() {
    let mut n = 0;
    for f in frames() {
        let m = Message::parse(&f.bytes).unwrap();
        if m.header.flags.encrypted() {
            continue;
        }
        let repr = MessageRepr::parse(&f.bytes).unwrap();
        let mut out = Vec::new();
        repr.encode(&mut out);
        assert_eq!(out, f.bytes, "frame {}", f.number);
        n += 1;
    }
    assert_eq!(n, 12);
}

/// Decrypted bodies re-encode to the same payload chain, and re-encrypting with the same
/// IV reproduces strongSwan's ciphertext (zero padding).
#[test]
fn encrypted_messages_reencrypt_identically() {
    let (p1, _) = main_mode("11c45d9f79fcddbe");
    let frames = session("11c45d9f79fcddbe");
    let m5 = Message::parse(&frames[4].bytes).unwrap();
    let keys = &p1.keys;
    let ke = |i: usize| {
        let m = Message::parse(&frames[i].bytes).unwrap();
        let (c, _) = split_payload_chain(m.header.next_payload, m.body).unwrap();
        raw(&c, PayloadType::KeyExchange).to_vec()
    };
    let iv0 = keys.initial_iv(&ke(2), &ke(3));
    let d = crypt::decrypt(keys.cipher(), keys.encryption_key(), &iv0, &m5).unwrap();
    let (payloads, padding) =
        l2sec_ike::wire::v1::parse_payload_chain(m5.header.next_payload, &d.plaintext).unwrap();
    assert!(padding.iter().all(|&b| b == 0), "strongSwan pads with zeros");
    let mut chain = Vec::new();
    l2sec_ike::wire::v1::encode_payload_chain(&payloads, &mut chain);
    assert_eq!(chain, d.plaintext[..d.plaintext.len() - padding.len()]);
    let mut out = Vec::new();
    let next =
        crypt::encrypt(keys.cipher(), keys.encryption_key(), &iv0, &m5.header, &chain, &mut out).unwrap();
    assert_eq!(out, frames[4].bytes);
    assert_eq!(next, d.next_iv);
}

/// RFC 3947 §3.2: the NAT-D payloads of Main Mode messages 3 and 4 hash the destination
/// then the source address (192.0.2.1 and 192.0.2.2, port 500; no NAT in the lab).
/// Both demo peers force UDP encapsulation (swanctl `encap = yes`; the ESP traffic of the
/// capture is on port 4500), which strongSwan does by sending a bogus hash for its own
/// address: the destination hashes match, the source hashes must not.
#[test]
fn nat_discovery_hashes_match() {
    use l2sec_ike::v1::natt::nat_discovery_hash;
    let frames = session("11c45d9f79fcddbe");
    let client: std::net::SocketAddr = "192.0.2.1:500".parse().unwrap();
    let server: std::net::SocketAddr = "192.0.2.2:500".parse().unwrap();
    for (frame, dst, src, faked) in [(&frames[2], server, client, true), (&frames[3], client, server, true)] {
        let m = Message::parse(&frame.bytes).unwrap();
        let (c, _) = split_payload_chain(m.header.next_payload, m.body).unwrap();
        let natd: Vec<&[u8]> =
            c.iter().filter(|p| p.payload_type == PayloadType::NatDiscovery).map(|p| p.body).collect();
        assert_eq!(natd.len(), 2, "frame {}", frame.number);
        let (i, r) = (&m.header.initiator_spi, &m.header.responder_spi);
        assert!(nat_discovery_hash(PrfAlgorithm::HmacSha1, i, r, dst).ct_eq_bytes(natd[0]));
        assert_eq!(
            nat_discovery_hash(PrfAlgorithm::HmacSha1, i, r, src).ct_eq_bytes(natd[1]),
            !faked,
            "frame {}",
            frame.number
        );
        let moved: std::net::SocketAddr = "192.0.2.1:4500".parse().unwrap();
        assert!(!nat_discovery_hash(PrfAlgorithm::HmacSha1, i, r, moved).ct_eq_bytes(natd[0]));
    }
}

/// The Child SA description built from the Main Mode tunnel session holds exactly the
/// ESP keys charon installed, for the initiator's point of view.
#[test]
fn child_sa_matches_charon_esp_keys() {
    use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode, Lifetime};
    use l2sec_ike::v1::quick::{NegotiatedEsp, child_sa};
    let ispi = "11c45d9f79fcddbe";
    let (p1, rest) = main_mode(ispi);
    let mut ivs = p1.ivs.clone();
    let mut nonces = Vec::new();
    for frame in &rest[..2] {
        let m = Message::parse(&frame.bytes).unwrap();
        let iv = ivs.iv_for(&p1.keys, m.header.message_id);
        let d = crypt::decrypt(p1.keys.cipher(), p1.keys.encryption_key(), &iv, &m).unwrap();
        let (chain, _) = split_payload_chain(m.header.next_payload, &d.plaintext).unwrap();
        nonces.push(raw(&chain, PayloadType::Nonce).to_vec());
        ivs.commit(m.header.message_id, d.next_iv);
    }
    let k = keys();
    let get = |f: &str| k[&(ispi.to_string(), format!("esp.mm-tun.{f}"))].clone();
    let spi = |f: &str| u32::from_be_bytes(get(f).try_into().unwrap());
    let child = child_sa(
        &p1.keys,
        &NegotiatedEsp {
            spi_in: spi("spi_in"),
            spi_out: spi("spi_out"),
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            mode: EspMode::Tunnel,
            encapsulation: EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 },
            ni_b: &nonces[0],
            nr_b: &nonces[1],
            pfs_g_xy: None,
            hard_lifetime: Lifetime::default(),
            soft_lifetime: Lifetime::default(),
        },
    )
    .unwrap();
    assert_eq!(child.spi_out, 0xf640_9d78);
    assert_eq!(child.keys_out.encryption, get("encryption_initiator_key"));
    assert_eq!(child.keys_out.integrity, get("integrity_initiator_key"));
    assert_eq!(child.keys_in.encryption, get("encryption_responder_key"));
    assert_eq!(child.keys_in.integrity, get("integrity_responder_key"));
}

/// Our Quick Mode responder accepts charon's real QM1 (HASH(1) verified, AES-128/SHA1
/// tunnel over UDP chosen) and answers with a HASH(2) that charon's keys would verify.
#[test]
fn quick_mode_responder_accepts_charon_qm1() {
    use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
    use l2sec_ike::v1::quick::{EspProposal, IsakmpContext, QuickMode, QuickModeConfig};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    let ispi = "11c45d9f79fcddbe";
    let (p1, rest) = main_mode(ispi);
    let m = Message::parse(&rest[0].bytes).unwrap();
    let ctx = IsakmpContext {
        phase1_iv: p1.ivs.iv_for(&p1.keys, 0),
        keys: p1.keys.clone(),
        cookies: (m.header.initiator_spi, m.header.responder_spi),
        udp_encapsulated: true,
    };
    let config = QuickModeConfig {
        proposals: vec![EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            lifetime: std::time::Duration::from_secs(3600),
        }],
        mode: EspMode::Tunnel,
        encapsulation: EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 },
        traffic_selectors: None,
        retransmit_timeout: std::time::Duration::from_secs(1),
        max_retransmits: 3,
        pfs_group: None,
        nat_oa: None,
    };
    let now = std::time::Instant::now();
    let mut qr = QuickMode::respond(ctx, config, ChaCha20Rng::seed_from_u64(1), now, &rest[0].bytes).unwrap();
    let mut qm2 = Vec::new();
    qr.poll_transmit(now, &mut qm2).unwrap();
    // Check HASH(2) the way charon would: decrypt with the IV after QM1.
    let iv = {
        let d = crypt::decrypt(
            p1.keys.cipher(),
            p1.keys.encryption_key(),
            &p1.ivs.iv_for(&p1.keys, m.header.message_id),
            &m,
        )
        .unwrap();
        d.next_iv
    };
    let ni_b = {
        let d = crypt::decrypt(
            p1.keys.cipher(),
            p1.keys.encryption_key(),
            &p1.ivs.iv_for(&p1.keys, m.header.message_id),
            &m,
        )
        .unwrap();
        let (c, _) = split_payload_chain(m.header.next_payload, &d.plaintext).unwrap();
        raw(&c, PayloadType::Nonce).to_vec()
    };
    let reply = Message::parse(&qm2).unwrap();
    let d = crypt::decrypt(p1.keys.cipher(), p1.keys.encryption_key(), &iv, &reply).unwrap();
    let after = after_first_payload(&d.plaintext, reply.header.next_payload);
    let (c, _) = split_payload_chain(reply.header.next_payload, &d.plaintext).unwrap();
    assert!(p1.keys.quick_hash2(reply.header.message_id, &ni_b, &after).ct_eq_bytes(c[0].body));
    // The chosen transform carries the RFC 3947 UDP-Encapsulated-Tunnel mode charon asked for.
    let payloads =
        l2sec_ike::wire::v1::parse_payload_chain(reply.header.next_payload, &d.plaintext).unwrap().0;
    let sa = payloads
        .iter()
        .find_map(|p| match p {
            Payload::SecurityAssociation(sa) => Some(sa.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(sa.proposals[0].transforms[0].basic(4), Some(3));
}

/// charon's Delete messages at the end of each session decode and authenticate: one
/// deletes the ESP SA (charon's inbound SPI), the other the ISAKMP SA (both cookies).
#[test]
fn charon_delete_messages_decode() {
    use l2sec_ike::v1::info::{self, Informational};
    use l2sec_ike::v1::quick::IsakmpContext;
    use l2sec_ike::wire::v1::ProtocolId;
    let ispi = "11c45d9f79fcddbe";
    let (p1, rest) = main_mode(ispi);
    let cookies = {
        let m = Message::parse(&rest[0].bytes).unwrap();
        (m.header.initiator_spi, m.header.responder_spi)
    };
    let ctx = IsakmpContext {
        phase1_iv: p1.ivs.iv_for(&p1.keys, 0),
        keys: p1.keys.clone(),
        cookies,
        udp_encapsulated: true,
    };
    let infos: Vec<Vec<Informational>> =
        rest[3..5].iter().map(|f| info::decode(&ctx, &f.bytes).unwrap()).collect();
    let k = keys();
    let spi_in = k[&(ispi.to_string(), "esp.mm-tun.spi_in".to_string())].clone();
    assert_eq!(infos[0], [Informational::Delete { protocol_id: ProtocolId::IpsecEsp, spis: vec![spi_in] }]);
    let mut both = cookies.0.to_vec();
    both.extend_from_slice(&cookies.1);
    assert_eq!(infos[1], [Informational::Delete { protocol_id: ProtocolId::Isakmp, spis: vec![both] }]);
    // A flipped ciphertext bit fails authentication.
    let mut bad = rest[3].bytes.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(info::decode(&ctx, &bad).is_err());
}

/// DPD round trip with our encoder and decoder under charon's ISAKMP SA keys.
#[test]
fn dpd_round_trip() {
    use l2sec_ike::v1::info::{self, Informational};
    use l2sec_ike::v1::quick::IsakmpContext;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    let (p1, rest) = main_mode("23fc89c88636ceed");
    let m = Message::parse(&rest[0].bytes).unwrap();
    let ctx = IsakmpContext {
        phase1_iv: p1.ivs.iv_for(&p1.keys, 0),
        keys: p1.keys.clone(),
        cookies: (m.header.initiator_spi, m.header.responder_spi),
        udp_encapsulated: true,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let ping = info::encode(&ctx, &Informational::dpd(&ctx, 41, false), &mut rng).unwrap();
    let got = info::decode(&ctx, &ping).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_dpd(), Some((41, false)));
    let ack = info::encode(&ctx, &Informational::dpd(&ctx, 41, true), &mut rng).unwrap();
    assert_eq!(info::decode(&ctx, &ack).unwrap()[0].as_dpd(), Some((41, true)));
    // Another ISAKMP SA's keys do not authenticate it.
    let (other, _) = main_mode("11c45d9f79fcddbe");
    let wrong = IsakmpContext { keys: other.keys.clone(), ..ctx.clone() };
    assert!(info::decode(&wrong, &ping).is_err());
}
