//! MS-CHAPv2 (RFC 2759) and MPPE key derivation (RFC 3079), just what the tests need to
//! play the PPP peer and to predict what a server must answer. Checked against the
//! RFC 2759 §9.2 and RFC 3079 §3.5.3 vectors below.

use des::Des;
use des::cipher::{BlockCipherEncrypt, KeyInit};
use md4::{Digest as _, Md4};
use sha1::Sha1;

/// RFC 2759 §8.3: MD4 of the UTF-16LE password.
pub fn nt_password_hash(password: &str) -> [u8; 16] {
    let unicode: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    Md4::digest(&unicode).into()
}

/// RFC 2759 §8.2.
pub fn challenge_hash(peer: &[u8; 16], auth: &[u8; 16], user: &[u8]) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer);
    h.update(auth);
    h.update(user);
    let d = h.finalize();
    d[..8].try_into().unwrap()
}

/// RFC 2759 §8.6: spread 7 octets into a DES key (parity bits left zero).
fn des_key(k7: &[u8]) -> [u8; 8] {
    let mut v = 0u64;
    for &b in k7 {
        v = (v << 8) | u64::from(b);
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (((v >> (49 - 7 * i)) & 0x7f) as u8) << 1;
    }
    out
}

fn des_encrypt(k7: &[u8], block: &[u8; 8]) -> [u8; 8] {
    let cipher = Des::new_from_slice(&des_key(k7)).unwrap();
    let mut b = (*block).into();
    cipher.encrypt_block(&mut b);
    b.into()
}

/// RFC 2759 §8.5.
pub fn challenge_response(challenge: &[u8; 8], hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(hash);
    let mut out = [0u8; 24];
    for i in 0..3 {
        out[8 * i..8 * i + 8].copy_from_slice(&des_encrypt(&z[7 * i..7 * i + 7], challenge));
    }
    out
}

/// RFC 2759 §8.1.
pub fn generate_nt_response(auth: &[u8; 16], peer: &[u8; 16], user: &[u8], password: &str) -> [u8; 24] {
    challenge_response(&challenge_hash(peer, auth, user), &nt_password_hash(password))
}

const MAGIC1: &[u8] = b"Magic server to client signing constant";
const MAGIC2: &[u8] = b"Pad to make it do more than one iteration";

/// RFC 2759 §8.7: "S=" and 40 upper-case hex digits.
pub fn authenticator_response(
    password: &str,
    nt_response: &[u8; 24],
    peer: &[u8; 16],
    auth: &[u8; 16],
    user: &[u8],
) -> String {
    let hh: [u8; 16] = Md4::digest(nt_password_hash(password)).into();
    let mut h = Sha1::new();
    h.update(hh);
    h.update(nt_response);
    h.update(MAGIC1);
    let d = h.finalize();
    let mut h = Sha1::new();
    h.update(d);
    h.update(challenge_hash(peer, auth, user));
    h.update(MAGIC2);
    format!("S={}", hex::encode_upper(h.finalize()))
}

const KEY_MAGIC1: &[u8] = b"This is the MPPE Master Key";
const KEY_MAGIC2: &[u8] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
const KEY_MAGIC3: &[u8] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";

/// RFC 3079 §3.4: GetMasterKey.
pub fn master_key(password: &str, nt_response: &[u8; 24]) -> [u8; 16] {
    let hh: [u8; 16] = Md4::digest(nt_password_hash(password)).into();
    let mut h = Sha1::new();
    h.update(hh);
    h.update(nt_response);
    h.update(KEY_MAGIC1);
    h.finalize()[..16].try_into().unwrap()
}

/// RFC 3079 §3.4: GetAsymmetricStartKey for the server (the NAS): its send key or its
/// receive key, 16 octets.
pub fn server_key(master: &[u8; 16], send: bool) -> [u8; 16] {
    let magic = if send { KEY_MAGIC3 } else { KEY_MAGIC2 };
    let mut h = Sha1::new();
    h.update(master);
    h.update([0u8; 40]);
    h.update(magic);
    h.update([0xf2u8; 40]);
    h.finalize()[..16].try_into().unwrap()
}

#[test]
fn rfc2759_and_rfc3079_vectors() {
    let auth: [u8; 16] = hex::decode("5B5D7C7D7B3F2F3E3C2C602132262628").unwrap().try_into().unwrap();
    let peer: [u8; 16] = hex::decode("21402324255E262A28295F2B3A337C7E").unwrap().try_into().unwrap();
    assert_eq!(hex::encode_upper(nt_password_hash("clientPass")), "44EBBA8D5312B8D611474411F56989AE");
    assert_eq!(hex::encode_upper(challenge_hash(&peer, &auth, b"User")), "D02E4386BCE91226");
    let nt = generate_nt_response(&auth, &peer, b"User", "clientPass");
    assert_eq!(hex::encode_upper(nt), "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
    assert_eq!(
        authenticator_response("clientPass", &nt, &peer, &auth, b"User"),
        "S=407A5589115FD0D6209F510FE9C04566932CDA56"
    );
    let mk = master_key("clientPass", &nt);
    assert_eq!(hex::encode_upper(mk), "FDECE3717A8C838CB388E527AE3CDD31");
    assert_eq!(hex::encode_upper(server_key(&mk, true)), "8B7CDC149B993A1BA118CB153F56DCCB");
    assert_eq!(hex::encode_upper(server_key(&mk, false)), "D5F0E9521E3EA9589645E86051C82226");
}
