//! The computations of CHAP-MD5 (RFC 1994), MS-CHAPv1 (RFC 2433), MS-CHAPv2 (RFC 2759)
//! and MPPE key derivation from MS-CHAPv2 (RFC 3079 §3.4).
//!
//! These are plain functions so that a local verifier, a RADIUS glue or a test can use them
//! without a session. Password hashes and keys are returned in zeroize-on-drop wrappers.

use cipher::{BlockCipherEncrypt, KeyInit};
use sha1::Digest;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// RFC 1994 §4.1: the CHAP-MD5 Response value, MD5(Identifier ‖ secret ‖ Challenge).
#[must_use]
pub fn chap_md5_response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = md5::Md5::new();
    h.update([identifier]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Checks a CHAP-MD5 Response value in constant time.
#[must_use]
pub fn chap_md5_verify(identifier: u8, secret: &[u8], challenge: &[u8], response: &[u8]) -> bool {
    let want = chap_md5_response(identifier, secret, challenge);
    bool::from(want.ct_eq(response))
}

/// RFC 2759 §8.3 NtPasswordHash: MD4 of the password in UTF-16LE (RFC 2433 §A.2 is the
/// same function).
#[must_use]
pub fn nt_password_hash(password: &str) -> Zeroizing<[u8; 16]> {
    let mut unicode = Zeroizing::new(Vec::with_capacity(password.len() * 2));
    for u in password.encode_utf16() {
        unicode.extend_from_slice(&u.to_le_bytes());
    }
    Zeroizing::new(md4::Md4::digest(&unicode[..]).into())
}

/// RFC 2759 §8.4 HashNtPasswordHash: MD4 of the NT password hash.
#[must_use]
pub fn hash_nt_password_hash(hash: &[u8; 16]) -> Zeroizing<[u8; 16]> {
    Zeroizing::new(md4::Md4::digest(hash).into())
}

/// RFC 2759 §8.2 ChallengeHash: the first 8 octets of
/// SHA1(PeerChallenge ‖ AuthenticatorChallenge ‖ UserName). Any `DOMAIN\` prefix of the
/// user name is left out, as the RFC asks.
#[must_use]
pub fn challenge_hash(peer_challenge: &[u8; 16], auth_challenge: &[u8; 16], user: &[u8]) -> [u8; 8] {
    let user = strip_domain(user);
    let mut h = sha1::Sha1::new();
    h.update(peer_challenge);
    h.update(auth_challenge);
    h.update(user);
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// The user name after the last backslash (RFC 2759 §8.2).
#[must_use]
pub fn strip_domain(user: &[u8]) -> &[u8] {
    match user.iter().rposition(|&b| b == b'\\') {
        Some(i) => &user[i + 1..],
        None => user,
    }
}

/// RFC 2759 §8.6 DesEncrypt key expansion: spreads 7 key octets over 8, leaving the low
/// (parity) bit of each zero.
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

/// RFC 2759 §8.5 ChallengeResponse (and RFC 2433 §A.5): the 8-octet challenge encrypted
/// with DES under three keys cut from the zero-padded 21-octet password hash.
#[must_use]
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = Zeroizing::new([0u8; 21]);
    z[..16].copy_from_slice(password_hash);
    let mut out = [0u8; 24];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        let mut key = des_key(&z[i * 7..i * 7 + 7]);
        let cipher = des::Des::new(&key.into());
        key.zeroize();
        let mut block = (*challenge).into();
        cipher.encrypt_block(&mut block);
        chunk.copy_from_slice(&block);
    }
    out
}

/// RFC 2759 §8.1 GenerateNTResponse.
#[must_use]
pub fn mschapv2_nt_response(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
    password: &str,
) -> [u8; 24] {
    let ch = challenge_hash(peer_challenge, auth_challenge, user);
    challenge_response(&ch, &nt_password_hash(password))
}

/// Same as [`mschapv2_nt_response`] from the NT password hash (what a store of NT hashes,
/// like pppd's or a directory's, holds).
#[must_use]
pub fn mschapv2_nt_response_from_hash(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
    password_hash: &[u8; 16],
) -> [u8; 24] {
    let ch = challenge_hash(peer_challenge, auth_challenge, user);
    challenge_response(&ch, password_hash)
}

/// RFC 2759 §8.7 Magic1: "Magic server to client signing constant".
const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
/// RFC 2759 §8.7 Magic2: "Pad to make it do more than one iteration".
const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// RFC 2759 §8.7 GenerateAuthenticatorResponse: the 20 octets sent as `S=<hex>` in the
/// Success message (from the NT password hash).
#[must_use]
pub fn mschapv2_authenticator_response(
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user: &[u8],
) -> [u8; 20] {
    let hh = hash_nt_password_hash(password_hash);
    let mut h = sha1::Sha1::new();
    h.update(&hh[..]);
    h.update(nt_response);
    h.update(MAGIC1);
    let digest = h.finalize();
    let ch = challenge_hash(peer_challenge, auth_challenge, user);
    let mut h = sha1::Sha1::new();
    h.update(digest);
    h.update(ch);
    h.update(MAGIC2);
    h.finalize().into()
}

/// Compares two authenticator responses in constant time.
#[must_use]
pub fn authenticator_response_eq(a: &[u8; 20], b: &[u8; 20]) -> bool {
    bool::from(a.ct_eq(b))
}

/// What an authenticator learns from a successful MS-CHAPv2 verification.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MsChapV2Outcome {
    /// The 20 octets for the `S=` field of the Success message.
    pub authenticator_response: [u8; 20],
    /// MPPE keys from the authenticator's (server's) point of view.
    pub mppe: MppeKeys,
}

impl std::fmt::Debug for MsChapV2Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsChapV2Outcome").finish_non_exhaustive()
    }
}

/// Verifies an MS-CHAPv2 NT-Response against an NT password hash (constant time) and, if
/// it matches, computes the authenticator response and the server's MPPE keys.
#[must_use]
pub fn mschapv2_verify(
    password_hash: &[u8; 16],
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
    nt_response: &[u8; 24],
) -> Option<MsChapV2Outcome> {
    let want = mschapv2_nt_response_from_hash(auth_challenge, peer_challenge, user, password_hash);
    if !bool::from(want.ct_eq(nt_response)) {
        return None;
    }
    Some(MsChapV2Outcome {
        authenticator_response: mschapv2_authenticator_response(
            password_hash,
            nt_response,
            peer_challenge,
            auth_challenge,
            user,
        ),
        mppe: MppeKeys::from_mschapv2(password_hash, nt_response, Side::Server),
    })
}

/// RFC 2433 §A.5 NtChallengeResponse (MS-CHAPv1), from the password.
#[must_use]
pub fn mschapv1_nt_response(challenge: &[u8; 8], password: &str) -> [u8; 24] {
    challenge_response(challenge, &nt_password_hash(password))
}

/// RFC 3079 §3.4 master key magic: "This is the MPPE Master Key".
const MPPE_MAGIC1: &[u8; 27] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4 Magic2 (client send key, server receive key).
const MPPE_MAGIC2: &[u8; 84] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// RFC 3079 §3.4 Magic3 (client receive key, server send key).
const MPPE_MAGIC3: &[u8; 84] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";

/// Which end of the link keys are derived for (RFC 3079 §3.4 IsServer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The peer (client).
    Client,
    /// The authenticator (server).
    Server,
}

/// RFC 3079 §3.4 GetMasterKey: SHA1(PasswordHashHash ‖ NT-Response ‖ Magic1), 16 octets.
#[must_use]
pub fn mppe_master_key(password_hash: &[u8; 16], nt_response: &[u8; 24]) -> Zeroizing<[u8; 16]> {
    let hh = hash_nt_password_hash(password_hash);
    let mut h = sha1::Sha1::new();
    h.update(&hh[..]);
    h.update(nt_response);
    h.update(MPPE_MAGIC1);
    let d = h.finalize();
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&d[..16]);
    out
}

/// RFC 3079 §3.4 GetAsymmetricStartKey for a 16-octet session key:
/// SHA1(MasterKey ‖ SHSpad1 ‖ Magic ‖ SHSpad2), where the magic depends on direction
/// and side.
#[must_use]
pub fn mppe_asymmetric_start_key(master: &[u8; 16], send: bool, side: Side) -> Zeroizing<[u8; 16]> {
    let magic: &[u8] = match (send, side) {
        (true, Side::Server) | (false, Side::Client) => MPPE_MAGIC3,
        (true, Side::Client) | (false, Side::Server) => MPPE_MAGIC2,
    };
    let mut h = sha1::Sha1::new();
    h.update(master);
    h.update([0u8; 40]);
    h.update(magic);
    h.update([0xf2u8; 40]);
    let d = h.finalize();
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&d[..16]);
    out
}

/// The two MPPE start keys of one end of the link (RFC 3079 §3.4), 16 octets each. For
/// 40- and 56-bit MPPE the first 8 octets are used (RFC 3079 §3.4, §3.5).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MppeKeys {
    /// The key this end encrypts with (RADIUS MS-MPPE-Send-Key on the server side).
    pub send: [u8; 16],
    /// The key this end decrypts with (RADIUS MS-MPPE-Recv-Key on the server side).
    pub recv: [u8; 16],
}

impl std::fmt::Debug for MppeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MppeKeys { .. }")
    }
}

impl MppeKeys {
    /// Derives both start keys for `side` from the NT password hash and the NT-Response.
    #[must_use]
    pub fn from_mschapv2(password_hash: &[u8; 16], nt_response: &[u8; 24], side: Side) -> Self {
        let master = mppe_master_key(password_hash, nt_response);
        MppeKeys {
            send: *mppe_asymmetric_start_key(&master, true, side),
            recv: *mppe_asymmetric_start_key(&master, false, side),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s.replace(' ', "")).unwrap().try_into().unwrap()
    }

    // RFC 2759 §9.2 "Hash and Response Test Vectors".
    const USER: &[u8] = b"User";
    const PASSWORD: &str = "clientPass";
    const AUTH_CHALLENGE: &str = "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28";
    const PEER_CHALLENGE: &str = "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E";
    const CHALLENGE: &str = "D0 2E 43 86 BC E9 12 26";
    const NT_RESPONSE: &str = "82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF";
    const PASSWORD_HASH: &str = "44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE";
    const PASSWORD_HASH_HASH: &str = "41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F";
    const AUTHENTICATOR_RESPONSE: &str = "S=407A5589115FD0D6209F510FE9C04566932CDA56";

    #[test]
    fn rfc2759_9_2_every_intermediate_value() {
        let ac: [u8; 16] = h(AUTH_CHALLENGE);
        let pc: [u8; 16] = h(PEER_CHALLENGE);
        assert_eq!(challenge_hash(&pc, &ac, USER), h::<8>(CHALLENGE));
        let ph = nt_password_hash(PASSWORD);
        assert_eq!(*ph, h::<16>(PASSWORD_HASH));
        assert_eq!(*hash_nt_password_hash(&ph), h::<16>(PASSWORD_HASH_HASH));
        let nt = mschapv2_nt_response(&ac, &pc, USER, PASSWORD);
        assert_eq!(nt, h::<24>(NT_RESPONSE));
        assert_eq!(challenge_response(&h(CHALLENGE), &ph), nt);
        let ar = mschapv2_authenticator_response(&ph, &nt, &pc, &ac, USER);
        let mut s = Vec::new();
        crate::wire::encode_mschapv2_success(&ar, "", &mut s);
        assert_eq!(s, AUTHENTICATOR_RESPONSE.as_bytes());
        // A domain prefix does not change the challenge hash.
        assert_eq!(challenge_hash(&pc, &ac, b"CORP\\User"), h::<8>(CHALLENGE));
    }

    #[test]
    fn rfc2759_verify_accepts_vector_and_rejects_one_bit_off() {
        let ac: [u8; 16] = h(AUTH_CHALLENGE);
        let pc: [u8; 16] = h(PEER_CHALLENGE);
        let ph = nt_password_hash(PASSWORD);
        let mut nt: [u8; 24] = h(NT_RESPONSE);
        let ok = mschapv2_verify(&ph, &ac, &pc, USER, &nt).expect("vector verifies");
        assert_eq!(ok.authenticator_response, h::<20>("407A5589115FD0D6209F510FE9C04566932CDA56"));
        nt[23] ^= 1;
        assert!(mschapv2_verify(&ph, &ac, &pc, USER, &nt).is_none());
        assert!(mschapv2_verify(&nt_password_hash("clientpass"), &ac, &pc, USER, &h(NT_RESPONSE)).is_none());
    }

    // RFC 3079 §3.5.3 "Sample Key Derivations" (128-bit keys from the RFC 2759 vector).
    #[test]
    fn rfc3079_3_5_3_mppe_128_keys() {
        let ph = nt_password_hash(PASSWORD);
        let nt: [u8; 24] = h(NT_RESPONSE);
        let mk = mppe_master_key(&ph, &nt);
        assert_eq!(*mk, h::<16>("FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31"));
        let send = mppe_asymmetric_start_key(&mk, true, Side::Server);
        assert_eq!(*send, h::<16>("8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB"));
        let server = MppeKeys::from_mschapv2(&ph, &nt, Side::Server);
        let client = MppeKeys::from_mschapv2(&ph, &nt, Side::Client);
        assert_eq!(server.send, *send);
        // The server's receive key, as FreeRADIUS sends it in MS-MPPE-Recv-Key for this vector.
        assert_eq!(server.recv, h::<16>("D5F0E9521E3EA9589645E86051C82226"));
        // Each side's send key is the other's receive key.
        assert_eq!(client.send, server.recv);
        assert_eq!(client.recv, server.send);
        assert_eq!(format!("{server:?}"), "MppeKeys { .. }");
    }

    // RFC 2433 Appendix B (MS-CHAPv1 example): password "MyPw", challenge 102DB5DF085D3041.
    #[test]
    fn rfc2433_mschapv1_nt_response() {
        assert_eq!(*nt_password_hash("MyPw"), h::<16>("FC156AF7EDCD6C0EDDE3337D427F4EAC"));
        assert_eq!(
            mschapv1_nt_response(&h("102DB5DF085D3041"), "MyPw"),
            h::<24>("4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61")
        );
    }

    // CHAP-MD5 (RFC 1994 §4.1): MD5(0x01 ‖ "secret" ‖ 00..0f), computed independently with
    // Python's hashlib. The captured real-pppd exchange is checked in tests/replay.rs.
    #[test]
    fn chap_md5_definition() {
        let challenge: Vec<u8> = (0u8..16).collect();
        let r = chap_md5_response(1, b"secret", &challenge);
        assert_eq!(r, h::<16>("740e86463bda3a4d7017d6e0fba0699d"));
        assert!(chap_md5_verify(1, b"secret", &challenge, &r));
        assert!(!chap_md5_verify(2, b"secret", &challenge, &r));
        assert!(!chap_md5_verify(1, b"secret", &challenge, &r[..15]));
    }
}
