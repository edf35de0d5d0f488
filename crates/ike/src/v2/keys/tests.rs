//! The key schedule and SK protection checked against strongSwan's IKEv2 exchange in
//! `shared/lab/strongswan/examples/demo-direct.pcapng` (keys from its `ws-demo/keys.json`
//! and `esp_sa`, written by charon).

use super::*;
use crate::wire::v2::{PayloadIter, ProtocolId};

/// UDP payloads of the IKEv2 exchange: the wire module's capture test data.
pub(crate) use crate::wire::v2::tests::capture_data as capture;

pub(crate) fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// keys.json, "r-v2" uid 1: the shared secret charon computed.
const G_IR: &str = concat!(
    "29bdb4185f11ad3ccfe73be00e5c23e4dae68475d63f26b54e5cc84da9d3616ce19bf63ce0abf74e1e7b565a918a9c00",
    "3b9fa30e4e26728da55e54c1d7d66396788bce466d6bcc5e113bafc51a9453cd6f55c66ff57cda5f9a8ec7a284dd6e3c",
    "c5d448a65f92f07bd4538daf3291e592d541f00801c7886741ab1ea4b85223f1798fd66ec17b67831c3d21d3763c8e09",
    "6fbae9c23f160c318e6763802db72ade02cb58067c8b408adc034af849bd6459a8ee5327208f9f39661db855138cf987",
    "8bc449d9c4023143ab84b0a51748e41d041e88150804557b5044449e3780483256cc048803f803eefbca3ec579f78f60",
    "7bad58c54793cff4345c6dcc9554a39d",
);
const SKEYSEED: &str = "9f0c59ebd6b9d5d4f4604a0642d6a46529aad5557e143e0efdc5250547d6ffb6";
const SK_D: &str = "142d60cd1877fef609d9592a1273cca6f5dae1f2e2996955d2f94f022b134b98";
const SK_AI: &str = "93cba0655230194812978ee7844fcdf87ef7471350e84997673215fc07bae752";
const SK_AR: &str = "0423f1a2cebcf8734a50b9df1327dcad44c02e6b69bbc680fbf2590d567153be";
const SK_EI: &str = "945445917aece3c9b5515785818229af";
const SK_ER: &str = "883800b33a66683b714365b44368b801";
const SK_PI: &str = "e6389275be46218db2e33db3023ecc835f687ba2b1309f1ef62f2e6a3d6167c8";
const SK_PR: &str = "8198320e34b682cdc9618110f009e8b76ccaf73bb846512e184f373210902423";

/// esp_sa: the two SAs with HMAC-SHA-256-128 of the first IKEv2 exchange
/// (SPI, encryption key, integrity key).
const ESP_SAS: [(u32, &str, &str); 2] = [
    (
        0xd431_7b60,
        "c241169172d391639ded0664207d521a",
        "8a6c07e7a47e8ef8272fd7178606fb63122280cef385cfe6a562beb520d024f6",
    ),
    (
        0x39e4_3511,
        "0963c148421c04efe6af01565860d766",
        "18125518784279897be3cafbbc98d063e7ed1bd844792108cd9bd50293a9c99f",
    ),
];

pub(crate) const SUITE: IkeSuite = IkeSuite::aes128_sha256(DhGroup::Modp2048);

pub(crate) fn nonce(msg: &[u8]) -> Vec<u8> {
    let m = Message::parse(msg).unwrap();
    m.payloads()
        .find_map(|p| match p.unwrap().parse().unwrap() {
            Payload::Nonce(n) => Some(n.to_vec()),
            _ => None,
        })
        .unwrap()
}

fn init_pair() -> (Vec<u8>, Vec<u8>) {
    (h(capture::IKE_SA_INIT_REQUEST), h(capture::IKE_SA_INIT_RESPONSE))
}

fn spis() -> ([u8; 8], [u8; 8]) {
    let mut i = [0; 8];
    let mut r = [0; 8];
    i.copy_from_slice(&h("5de20c2aad1e71a6"));
    r.copy_from_slice(&h("95fa80b4856eb000"));
    (i, r)
}

pub(crate) fn captured_keys() -> IkeKeys {
    IkeKeys {
        sk_d: h(SK_D),
        sk_ai: h(SK_AI),
        sk_ar: h(SK_AR),
        sk_ei: h(SK_EI),
        sk_er: h(SK_ER),
        sk_pi: h(SK_PI),
        sk_pr: h(SK_PR),
    }
}

#[test]
fn skeyseed_and_sk_keys_match_strongswan() {
    let (req, resp) = init_pair();
    let (ni, nr) = (nonce(&req), nonce(&resp));
    assert_eq!(ni.len(), 32);
    let seed = IkeKeys::skeyseed(PrfAlgorithm::HmacSha256, &ni, &nr, &h(G_IR));
    assert_eq!(*seed, h(SKEYSEED));
    let (spi_i, spi_r) = spis();
    let keys = IkeKeys::derive(&SUITE, &ni, &nr, &h(G_IR), &spi_i, &spi_r).unwrap();
    assert_eq!(keys, captured_keys());
    // Swapping the nonces must change everything.
    let wrong = IkeKeys::derive(&SUITE, &nr, &ni, &h(G_IR), &spi_i, &spi_r).unwrap();
    assert_ne!(wrong.sk_d, keys.sk_d);
}

#[test]
fn prf_plus_structure() {
    let prf = PrfAlgorithm::HmacSha256;
    let out = prf_plus(prf, b"key", b"seed", 80).unwrap();
    let t1 = prf.prf(b"key", &[b"seed", &[1]]);
    let t2 = prf.prf(b"key", &[t1.as_bytes(), b"seed", &[2]]);
    let t3 = prf.prf(b"key", &[t2.as_bytes(), b"seed", &[3]]);
    assert_eq!(&out[..32], t1.as_bytes());
    assert_eq!(&out[32..64], t2.as_bytes());
    assert_eq!(&out[64..], &t3.as_bytes()[..16]);
    assert!(prf_plus(prf, b"key", b"seed", 255 * 32).is_ok());
    assert!(prf_plus(prf, b"key", b"seed", 255 * 32 + 1).is_err());
}

/// The captured IKE_AUTH messages verify and decrypt with charon's SK_a*/SK_e*, and their
/// inner chains parse.
#[test]
fn captured_ike_auth_opens() {
    let keys = captured_keys();
    let req = h(capture::IKE_AUTH_REQUEST);
    let m = Message::parse(&req[4..]).unwrap();
    let opened = open(&SUITE, keys.sender(true), &m).unwrap();
    let types: Vec<PayloadType> =
        PayloadIter::new(opened.first_inner, &opened.chain).map(|p| p.unwrap().payload_type).collect();
    assert!(types.contains(&PayloadType::IdentificationInitiator));
    assert!(types.contains(&PayloadType::Authentication));
    assert!(types.contains(&PayloadType::SecurityAssociation));
    assert!(types.contains(&PayloadType::TrafficSelectorsInitiator));
    // With the responder's keys it must fail, as must a flipped ciphertext bit.
    assert!(open(&SUITE, keys.sender(false), &m).is_err());
    let mut bad = req[4..].to_vec();
    bad[60] ^= 1;
    assert!(open(&SUITE, keys.sender(true), &Message::parse(&bad).unwrap()).is_err());

    let resp = h(capture::IKE_AUTH_RESPONSE);
    let m = Message::parse(&resp[4..]).unwrap();
    let opened = open(&SUITE, keys.sender(false), &m).unwrap();
    let types: Vec<PayloadType> =
        PayloadIter::new(opened.first_inner, &opened.chain).map(|p| p.unwrap().payload_type).collect();
    assert!(types.contains(&PayloadType::IdentificationResponder));
    assert!(types.contains(&PayloadType::Authentication));
}

fn esp_spi(chain: &[u8], first: PayloadType) -> u32 {
    PayloadIter::new(first, chain)
        .find_map(|p| match p.unwrap().parse().unwrap() {
            Payload::SecurityAssociation(sa) => {
                let p = &sa.proposals[0];
                assert_eq!(p.protocol_id, ProtocolId::Esp);
                Some(u32::from_be_bytes(p.spi.try_into().unwrap()))
            }
            _ => None,
        })
        .unwrap()
}

/// KEYMAT = prf+(SK_d, Ni | Nr), split in the order of RFC 7296 §2.17, gives the keys
/// charon installed in the kernel for the SPIs the two sides announced.
#[test]
fn child_keymat_matches_installed_esp_sas() {
    let keys = captured_keys();
    let (req, resp) = init_pair();
    let (ni, nr) = (nonce(&req), nonce(&resp));
    let enc = EspEncryption::AesCbc { key_len: 16 };
    let integ = EspIntegrity::HmacSha256_128;
    let (i_to_r, r_to_i) =
        child_keys(PrfAlgorithm::HmacSha256, &keys.sk_d, None, &ni, &nr, enc, integ).unwrap();
    // The initiator-to-responder SA uses the responder's SPI (from the IKE_AUTH response).
    let auth_req = h(capture::IKE_AUTH_REQUEST);
    let auth_resp = h(capture::IKE_AUTH_RESPONSE);
    let oreq = open(&SUITE, keys.sender(true), &Message::parse(&auth_req[4..]).unwrap()).unwrap();
    let oresp = open(&SUITE, keys.sender(false), &Message::parse(&auth_resp[4..]).unwrap()).unwrap();
    let spi_i = esp_spi(&oreq.chain, oreq.first_inner);
    let spi_r = esp_spi(&oresp.chain, oresp.first_inner);
    let find = |spi: u32| ESP_SAS.iter().find(|s| s.0 == spi).expect("SPI in esp_sa");
    let (_, e, a) = find(spi_r);
    assert_eq!(i_to_r.encryption, h(e));
    assert_eq!(i_to_r.integrity, h(a));
    let (_, e, a) = find(spi_i);
    assert_eq!(r_to_i.encryption, h(e));
    assert_eq!(r_to_i.integrity, h(a));
    // With PFS the shared secret goes first and changes the keys.
    let (pfs, _) =
        child_keys(PrfAlgorithm::HmacSha256, &keys.sk_d, Some(&[1, 2, 3]), &ni, &nr, enc, integ).unwrap();
    assert_ne!(pfs.encryption, i_to_r.encryption);
}

#[test]
fn seal_open_round_trip_cbc_and_gcm() {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for suite in [
        IkeSuite::aes128_sha256(DhGroup::Ecp256),
        IkeSuite::aes256_sha256(DhGroup::Ecp256),
        IkeSuite::aes_gcm16(16, DhGroup::Curve25519),
        IkeSuite::aes_gcm16(32, DhGroup::Curve25519),
    ] {
        let keys = IkeKeys::derive(&suite, &[1; 32], &[2; 32], &[3; 32], &[4; 8], &[5; 8]).unwrap();
        assert_eq!(keys.sk_ei.len(), suite.encryption.key_material_len());
        assert_eq!(keys.sk_ai.len(), suite.integrity.map_or(0, IkeIntegrity::key_len));
        let header = Header::new(
            [4; 8],
            [5; 8],
            crate::wire::v2::ExchangeType::IkeAuth,
            crate::wire::v2::Flags::INITIATOR,
            1,
        );
        let mut inner = Vec::new();
        let mut chain = crate::wire::v2::ChainBuilder::new(&mut inner);
        chain.push(&Payload::Nonce(&[9; 20])).unwrap();
        let first = chain.finish();
        let msg = seal(&suite, keys.sender(true), &header, first, &inner, &mut rng).unwrap();
        let m = Message::parse(&msg).unwrap();
        let opened = open(&suite, keys.sender(true), &m).unwrap();
        assert_eq!(opened.first_inner, PayloadType::Nonce);
        assert_eq!(&opened.chain[..], &inner[..]);
        assert!(open(&suite, keys.sender(false), &m).is_err());
        // Any flipped bit (header, SK header, IV, ciphertext, ICV) is refused.
        for at in [0, 20, 29, 33, msg.len() - 20, msg.len() - 1] {
            let mut bad = msg.clone();
            bad[at] ^= 0x40;
            if let Ok(m) = Message::parse(&bad) {
                assert!(open(&suite, keys.sender(true), &m).is_err(), "flip at {at} accepted");
            }
        }
    }
}

/// RFC 5282 §3 structure: the AES-GCM SK payload is an 8-byte IV, ciphertext as long
/// as the padded plaintext, a 16-byte tag; GCM keys carry a 4-byte salt.
#[test]
fn gcm_layout() {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    let suite = IkeSuite::aes_gcm16(16, DhGroup::Ecp256);
    let keys = IkeKeys::derive(&suite, &[1; 32], &[2; 32], &[3; 32], &[4; 8], &[5; 8]).unwrap();
    assert_eq!(keys.sk_ei.len(), 20);
    assert!(keys.sk_ai.is_empty());
    let header =
        Header::new([4; 8], [5; 8], crate::wire::v2::ExchangeType::IkeAuth, crate::wire::v2::Flags(0), 1);
    let msg = seal(
        &suite,
        keys.sender(false),
        &header,
        PayloadType::Nonce,
        &[0; 17],
        &mut ChaCha20Rng::seed_from_u64(1),
    )
    .unwrap();
    // 28 header + 4 SK header + 8 IV + (17 + 1 pad length) + 16 tag.
    assert_eq!(msg.len(), 28 + 4 + 8 + 18 + 16);
}
