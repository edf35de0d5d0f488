//! Diffie-Hellman key exchange for the IKE groups.
//!
//! | id | group | public value | shared secret |
//! |----|-------|--------------|---------------|
//! | 2  | 1024-bit MODP (RFC 2409 §6.2) | 128 bytes | 128 bytes |
//! | 5  | 1536-bit MODP (RFC 3526 §2) | 192 bytes | 192 bytes |
//! | 14 | 2048-bit MODP (RFC 3526 §3) | 256 bytes | 256 bytes |
//! | 15 | 3072-bit MODP (RFC 3526 §4) | 384 bytes | 384 bytes |
//! | 16 | 4096-bit MODP (RFC 3526 §5) | 512 bytes | 512 bytes |
//! | 19 | 256-bit random ECP (RFC 5903 §3.1) | x ‖ y, 64 bytes | x, 32 bytes |
//! | 20 | 384-bit random ECP (RFC 5903 §3.2) | x ‖ y, 96 bytes | x, 48 bytes |
//! | 31 | Curve25519 (RFC 8031) | 32 bytes | 32 bytes |
//!
//! MODP arithmetic is constant time in the private exponent (`crypto-bigint` fixed-size
//! Montgomery exponentiation). The peer's public value is always validated before use:
//! RFC 2409/RFC 7296 §2.14 range check `1 < y < p-1` for MODP, point-on-curve and not the
//! identity for ECP (RFC 5903 §7 / RFC 6989 §2.3), and an all-zero result is refused for
//! Curve25519 (RFC 7748 §6.1, RFC 8031 §2.3).

use core::fmt;

use crypto_bigint::{
    Odd, U1024, U1536, U2048, U3072, U4096, Uint,
    modular::{FixedMontyForm, FixedMontyParams},
};
use p256::elliptic_curve::sec1::ToSec1Point;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, modp_primes};

/// A Diffie-Hellman group, by its IANA "Transform Type 4" / IKEv1 Group Description number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DhGroup {
    /// Group 2: 1024-bit MODP (legacy).
    Modp1024,
    /// Group 5: 1536-bit MODP.
    Modp1536,
    /// Group 14: 2048-bit MODP.
    Modp2048,
    /// Group 15: 3072-bit MODP.
    Modp3072,
    /// Group 16: 4096-bit MODP.
    Modp4096,
    /// Group 19: NIST P-256.
    Ecp256,
    /// Group 20: NIST P-384.
    Ecp384,
    /// Group 31: Curve25519.
    Curve25519,
}

impl DhGroup {
    /// Every group this crate implements.
    pub const ALL: [Self; 8] = [
        Self::Modp1024,
        Self::Modp1536,
        Self::Modp2048,
        Self::Modp3072,
        Self::Modp4096,
        Self::Ecp256,
        Self::Ecp384,
        Self::Curve25519,
    ];

    /// The group's IANA number.
    #[must_use]
    pub const fn id(self) -> u16 {
        match self {
            Self::Modp1024 => 2,
            Self::Modp1536 => 5,
            Self::Modp2048 => 14,
            Self::Modp3072 => 15,
            Self::Modp4096 => 16,
            Self::Ecp256 => 19,
            Self::Ecp384 => 20,
            Self::Curve25519 => 31,
        }
    }

    /// The group with IANA number `id`.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedGroup`] for any other number.
    pub const fn from_id(id: u16) -> Result<Self, CryptoError> {
        Ok(match id {
            2 => Self::Modp1024,
            5 => Self::Modp1536,
            14 => Self::Modp2048,
            15 => Self::Modp3072,
            16 => Self::Modp4096,
            19 => Self::Ecp256,
            20 => Self::Ecp384,
            31 => Self::Curve25519,
            other => return Err(CryptoError::UnsupportedGroup(other)),
        })
    }

    /// Length of the public value carried in a KE payload, in bytes.
    #[must_use]
    pub const fn public_len(self) -> usize {
        match self {
            Self::Modp1024 => 128,
            Self::Modp1536 => 192,
            Self::Modp2048 => 256,
            Self::Modp3072 => 384,
            Self::Modp4096 => 512,
            Self::Ecp256 => 64,
            Self::Ecp384 => 96,
            Self::Curve25519 => 32,
        }
    }

    /// Length of the shared secret g^xy, in bytes.
    #[must_use]
    pub const fn shared_len(self) -> usize {
        match self {
            Self::Ecp256 => 32,
            Self::Ecp384 => 48,
            other => other.public_len(),
        }
    }

    /// Length of a freshly generated private value in bytes. For MODP this is the
    /// exponent length: at least twice the group's strength estimate of RFC 3526 §8.
    const fn private_len(self) -> usize {
        match self {
            Self::Modp1024 | Self::Modp1536 | Self::Ecp256 | Self::Curve25519 => 32,
            Self::Modp2048 => 40,
            Self::Ecp384 => 48,
            Self::Modp3072 => 56,
            Self::Modp4096 => 64,
        }
    }

    const fn modp_prime(self) -> Option<&'static [u8]> {
        match self {
            Self::Modp1024 => Some(&modp_primes::MODP_1024),
            Self::Modp1536 => Some(&modp_primes::MODP_1536),
            Self::Modp2048 => Some(&modp_primes::MODP_2048),
            Self::Modp3072 => Some(&modp_primes::MODP_3072),
            Self::Modp4096 => Some(&modp_primes::MODP_4096),
            _ => None,
        }
    }
}

/// Our private value, by group family.
enum Private {
    /// Big-endian exponent.
    Modp(Zeroizing<Vec<u8>>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    X25519(Zeroizing<[u8; 32]>),
}

/// One side of a Diffie-Hellman exchange: our private value and the public value to send.
///
/// The private value is wiped on drop and never printed.
pub struct KeyExchange {
    group: DhGroup,
    private: Private,
    public: Vec<u8>,
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group)
            .field("public_len", &self.public.len())
            .finish_non_exhaustive()
    }
}

/// The Diffie-Hellman shared secret g^xy in the group's fixed-length encoding.
/// Wiped on drop, never printed.
pub struct SharedSecret(Zeroizing<Vec<u8>>);

impl SharedSecret {
    /// The secret bytes (MODP values left-padded with zeros to the prime's length,
    /// RFC 7296 §2.14; ECP: the x coordinate, RFC 5903 §7).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Wraps bytes known from elsewhere (a key log, a test vector).
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedSecret({} bytes, redacted)", self.0.len())
    }
}

impl KeyExchange {
    /// Draws a fresh private value for `group` from `rng` and computes the public value.
    pub fn generate<R: CryptoRng + ?Sized>(group: DhGroup, rng: &mut R) -> Self {
        let mut buf = Zeroizing::new(vec![0u8; group.private_len()]);
        loop {
            rng.fill_bytes(&mut buf);
            // Retry on the (negligible) values a group cannot use: zero, or a
            // scalar at or above the curve order.
            if let Ok(kx) = Self::from_private_bytes(group, &buf) {
                return kx;
            }
        }
    }

    /// Builds the exchange from a known private value (for known-answer tests and
    /// key logs). MODP: a big-endian exponent, at most as long as the prime, not zero.
    /// ECP: the big-endian scalar, exactly the field length, in `1..n`. Curve25519:
    /// the 32-byte scalar (clamped as RFC 7748 §5 says).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPrivateValue`] if the value is unusable.
    pub fn from_private_bytes(group: DhGroup, private: &[u8]) -> Result<Self, CryptoError> {
        let (private, public) = match group {
            DhGroup::Ecp256 => {
                if private.len() != 32 {
                    return Err(CryptoError::InvalidPrivateValue);
                }
                let sk =
                    p256::SecretKey::from_slice(private).map_err(|_| CryptoError::InvalidPrivateValue)?;
                let point = sk.public_key().as_affine().to_sec1_point(false);
                let public = point.as_bytes()[1..].to_vec();
                (Private::P256(sk), public)
            }
            DhGroup::Ecp384 => {
                if private.len() != 48 {
                    return Err(CryptoError::InvalidPrivateValue);
                }
                let sk =
                    p384::SecretKey::from_slice(private).map_err(|_| CryptoError::InvalidPrivateValue)?;
                let point = sk.public_key().as_affine().to_sec1_point(false);
                let public = point.as_bytes()[1..].to_vec();
                (Private::P384(sk), public)
            }
            DhGroup::Curve25519 => {
                let k: [u8; 32] = private.try_into().map_err(|_| CryptoError::InvalidPrivateValue)?;
                let k = Zeroizing::new(k);
                let public = x25519_dalek::x25519(*k, x25519_dalek::X25519_BASEPOINT_BYTES);
                (Private::X25519(k), public.to_vec())
            }
            modp => {
                let prime = modp.modp_prime().ok_or(CryptoError::InvalidPrivateValue)?;
                if private.len() > prime.len() || private.iter().all(|&b| b == 0) {
                    return Err(CryptoError::InvalidPrivateValue);
                }
                let exp = Zeroizing::new(private.to_vec());
                let mut generator = vec![0u8; prime.len()];
                generator[prime.len() - 1] = 2;
                let public = modp_pow(modp, &generator, &exp);
                (Private::Modp(exp), public.to_vec())
            }
        };
        Ok(Self { group, private, public })
    }

    /// The group of this exchange.
    #[must_use]
    pub const fn group(&self) -> DhGroup {
        self.group
    }

    /// Our public value, as carried in the KE payload.
    #[must_use]
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Validates the peer's public value and computes the shared secret.
    ///
    /// # Errors
    /// [`CryptoError::PublicValueLength`] or [`CryptoError::InvalidPublicValue`] for a bad
    /// peer value, [`CryptoError::DegenerateSharedSecret`] for an all-zero X25519 result.
    pub fn shared_secret(&self, peer_public: &[u8]) -> Result<SharedSecret, CryptoError> {
        let expected = self.group.public_len();
        if peer_public.len() != expected {
            return Err(CryptoError::PublicValueLength { expected, got: peer_public.len() });
        }
        match &self.private {
            Private::Modp(exp) => {
                if !modp_public_in_range(self.group, peer_public) {
                    return Err(CryptoError::InvalidPublicValue);
                }
                Ok(SharedSecret(modp_pow(self.group, peer_public, exp)))
            }
            Private::P256(sk) => {
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(0x04);
                sec1.extend_from_slice(peer_public);
                let peer =
                    p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
                Ok(SharedSecret(Zeroizing::new(shared.raw_secret_bytes().to_vec())))
            }
            Private::P384(sk) => {
                let mut sec1 = Vec::with_capacity(97);
                sec1.push(0x04);
                sec1.extend_from_slice(peer_public);
                let peer =
                    p384::PublicKey::from_sec1_bytes(&sec1).map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = p384::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
                Ok(SharedSecret(Zeroizing::new(shared.raw_secret_bytes().to_vec())))
            }
            Private::X25519(k) => {
                let mut u = [0u8; 32];
                u.copy_from_slice(peer_public);
                let shared = Zeroizing::new(x25519_dalek::x25519(**k, u));
                if bool::from(shared.ct_eq(&[0u8; 32])) {
                    return Err(CryptoError::DegenerateSharedSecret);
                }
                Ok(SharedSecret(Zeroizing::new(shared.to_vec())))
            }
        }
    }
}

/// RFC 2409 §5 / RFC 7296 §2.14 (and NIST SP 800-56A §5.6.2.3.1): a MODP public value
/// must satisfy 1 < y < p-1. `y` has exactly the prime's length.
fn modp_public_in_range(group: DhGroup, y: &[u8]) -> bool {
    fn check<const L: usize>(prime: &[u8], y: &[u8]) -> bool {
        let p = Uint::<L>::from_be_slice(prime);
        let y = Uint::<L>::from_be_slice(y);
        y > Uint::ONE && y < p.wrapping_sub(&Uint::ONE)
    }
    let Some(prime) = group.modp_prime() else {
        return false;
    };
    if y.len() != prime.len() {
        return false;
    }
    match group {
        DhGroup::Modp1024 => check::<{ U1024::LIMBS }>(prime, y),
        DhGroup::Modp1536 => check::<{ U1536::LIMBS }>(prime, y),
        DhGroup::Modp2048 => check::<{ U2048::LIMBS }>(prime, y),
        DhGroup::Modp3072 => check::<{ U3072::LIMBS }>(prime, y),
        DhGroup::Modp4096 => check::<{ U4096::LIMBS }>(prime, y),
        _ => false,
    }
}

/// `base^exp mod p` for a MODP group, big-endian in and out, output padded to the
/// prime's length. Constant time in `exp` for a given exponent length. `base` has the
/// prime's length and `exp` is at most that long (both checked by the callers).
fn modp_pow(group: DhGroup, base: &[u8], exp: &[u8]) -> Zeroizing<Vec<u8>> {
    fn run<const L: usize>(prime: &[u8], base: &[u8], exp: &[u8]) -> Zeroizing<Vec<u8>> {
        let p = Uint::<L>::from_be_slice(prime);
        // The MODP primes are odd; `Odd::new` cannot fail for them.
        let odd = Odd::new(p).into_option().unwrap_or_else(|| unreachable!());
        let params = FixedMontyParams::new_vartime(odd);
        let mut padded = Zeroizing::new(vec![0u8; prime.len()]);
        let off = prime.len() - exp.len();
        padded[off..].copy_from_slice(exp);
        let mut e = Uint::<L>::from_be_slice(&padded);
        let b = Uint::<L>::from_be_slice(base);
        let bits = u32::try_from(exp.len() * 8).unwrap_or(u32::MAX);
        let r = FixedMontyForm::new(&b, &params).pow_bounded_exp(&e, bits);
        e.zeroize();
        let mut out = r.retrieve();
        let encoded = out.to_be_bytes();
        let bytes = Zeroizing::new(encoded.as_ref().to_vec());
        out.zeroize();
        bytes
    }
    let Some(prime) = group.modp_prime() else {
        return Zeroizing::new(Vec::new());
    };
    match group {
        DhGroup::Modp1024 => run::<{ U1024::LIMBS }>(prime, base, exp),
        DhGroup::Modp1536 => run::<{ U1536::LIMBS }>(prime, base, exp),
        DhGroup::Modp2048 => run::<{ U2048::LIMBS }>(prime, base, exp),
        DhGroup::Modp3072 => run::<{ U3072::LIMBS }>(prime, base, exp),
        DhGroup::Modp4096 => run::<{ U4096::LIMBS }>(prime, base, exp),
        _ => Zeroizing::new(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 5903 §8.1: 256-bit random ECP group test vector.
    #[test]
    fn rfc5903_ecp256() {
        let i = KeyExchange::from_private_bytes(
            DhGroup::Ecp256,
            &h("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
        )
        .unwrap();
        assert_eq!(
            i.public_value(),
            h(concat!(
                "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180",
                "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
            ))
        );
        let r = KeyExchange::from_private_bytes(
            DhGroup::Ecp256,
            &h("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"),
        )
        .unwrap();
        assert_eq!(
            r.public_value(),
            h(concat!(
                "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63",
                "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
            ))
        );
        let expected = h("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
        assert_eq!(i.shared_secret(r.public_value()).unwrap().as_bytes(), expected);
        assert_eq!(r.shared_secret(i.public_value()).unwrap().as_bytes(), expected);
    }

    /// RFC 5903 §8.2: 384-bit random ECP group test vector.
    #[test]
    fn rfc5903_ecp384() {
        let i = KeyExchange::from_private_bytes(
            DhGroup::Ecp384,
            &h(concat!(
                "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655",
                "E35B538041E649EE3FAEF896783AB194"
            )),
        )
        .unwrap();
        assert_eq!(
            i.public_value(),
            h(concat!(
                "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6",
                "DE3AC808ACB4BDB4C88732AEE95F41AA",
                "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38E",
                "EB9FCFF3C2C947DAE69B4C634573A81C"
            ))
        );
        let r = KeyExchange::from_private_bytes(
            DhGroup::Ecp384,
            &h(concat!(
                "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942",
                "E0308312916B8ED2960E4BD55A7448FC"
            )),
        )
        .unwrap();
        assert_eq!(
            r.public_value(),
            h(concat!(
                "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D",
                "0D1AC43A0336DEF96FDA41D0774A3571",
                "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FF",
                "F83FA40142209DFF5EAAD96DB9E6386C"
            ))
        );
        let expected = h(concat!(
            "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4",
            "D603135569B9E9D09CF5D4A270F59746"
        ));
        assert_eq!(i.shared_secret(r.public_value()).unwrap().as_bytes(), expected);
        assert_eq!(r.shared_secret(i.public_value()).unwrap().as_bytes(), expected);
    }

    /// RFC 7748 §6.1: X25519 Diffie-Hellman test vector (Alice and Bob).
    #[test]
    fn rfc7748_x25519_dh() {
        let alice = KeyExchange::from_private_bytes(
            DhGroup::Curve25519,
            &h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
        )
        .unwrap();
        assert_eq!(
            alice.public_value(),
            h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        let bob = KeyExchange::from_private_bytes(
            DhGroup::Curve25519,
            &h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
        )
        .unwrap();
        assert_eq!(bob.public_value(), h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
        let k = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(alice.shared_secret(bob.public_value()).unwrap().as_bytes(), k);
        assert_eq!(bob.shared_secret(alice.public_value()).unwrap().as_bytes(), k);
    }

    /// RFC 7748 §5.2: the first X25519 scalar-multiplication vector.
    #[test]
    fn rfc7748_x25519_scalar_mult() {
        let kx = KeyExchange::from_private_bytes(
            DhGroup::Curve25519,
            &h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        )
        .unwrap();
        let out =
            kx.shared_secret(&h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")).unwrap();
        assert_eq!(out.as_bytes(), h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"));
    }

    /// RFC 7748 §6.1 / RFC 8031 §2.3: a low-order peer point gives an all-zero secret,
    /// which is refused.
    #[test]
    fn x25519_rejects_all_zero_secret() {
        let kx = KeyExchange::generate(DhGroup::Curve25519, &mut ChaCha20Rng::seed_from_u64(1));
        assert_eq!(kx.shared_secret(&[0u8; 32]).unwrap_err(), CryptoError::DegenerateSharedSecret);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(kx.shared_secret(&one).unwrap_err(), CryptoError::DegenerateSharedSecret);
    }

    #[test]
    fn ecp_rejects_point_off_curve_and_identity() {
        let kx = KeyExchange::generate(DhGroup::Ecp256, &mut ChaCha20Rng::seed_from_u64(2));
        let mut bad = kx.public_value().to_vec();
        bad[63] ^= 1;
        assert_eq!(kx.shared_secret(&bad).unwrap_err(), CryptoError::InvalidPublicValue);
        assert_eq!(kx.shared_secret(&[0u8; 64]).unwrap_err(), CryptoError::InvalidPublicValue);
        let kx = KeyExchange::generate(DhGroup::Ecp384, &mut ChaCha20Rng::seed_from_u64(3));
        assert_eq!(kx.shared_secret(&[0u8; 96]).unwrap_err(), CryptoError::InvalidPublicValue);
        assert!(matches!(
            kx.shared_secret(&[0u8; 64]).unwrap_err(),
            CryptoError::PublicValueLength { expected: 96, got: 64 }
        ));
    }

    /// The published heads and tails of the RFC 2409/3526 primes (each starts with 64 one
    /// bits and pi's first digits, and ends with 64 one bits).
    #[test]
    fn modp_primes_match_published_words() {
        let cases: [(&[u8], &str); 5] = [
            (&modp_primes::MODP_1024, "49286651ece65381ffffffffffffffff"),
            (&modp_primes::MODP_1536, "f1746c08ca237327ffffffffffffffff"),
            (&modp_primes::MODP_2048, "15728e5a8aacaa68ffffffffffffffff"),
            (&modp_primes::MODP_3072, "4b82d120a93ad2caffffffffffffffff"),
            (&modp_primes::MODP_4096, "4df435c934063199ffffffffffffffff"),
        ];
        for (p, tail) in cases {
            assert_eq!(&p[..16], h("ffffffffffffffffc90fdaa22168c234"));
            assert_eq!(&p[p.len() - 16..], h(tail));
        }
    }

    /// Fermat check that each prime is (very likely) prime: 2^(p-1) = 1 mod p.
    #[test]
    fn modp_fermat() {
        for group in
            [DhGroup::Modp1024, DhGroup::Modp1536, DhGroup::Modp2048, DhGroup::Modp3072, DhGroup::Modp4096]
        {
            let p = group.modp_prime().unwrap();
            let mut pm1 = p.to_vec();
            *pm1.last_mut().unwrap() -= 1; // p is odd
            let mut two = vec![0u8; p.len()];
            two[p.len() - 1] = 2;
            let r = modp_pow(group, &two, &pm1);
            let mut one = vec![0u8; p.len()];
            one[p.len() - 1] = 1;
            assert_eq!(&r[..], &one[..], "{group:?}");
        }
    }

    /// Known answers computed with an independent implementation (Python's `pow`):
    /// a = SHA-256("l2sec modp a"), b = SHA-256("l2sec modp b"), g = 2.
    #[test]
    fn modp_known_answers() {
        let a = h(MODP_A);
        let b = h(MODP_B);
        for (group, ga, gab) in
            [(DhGroup::Modp1024, MODP1024_GA, MODP1024_GAB), (DhGroup::Modp2048, MODP2048_GA, MODP2048_GAB)]
        {
            let ka = KeyExchange::from_private_bytes(group, &a).unwrap();
            let kb = KeyExchange::from_private_bytes(group, &b).unwrap();
            assert_eq!(ka.public_value(), h(ga));
            assert_eq!(ka.shared_secret(kb.public_value()).unwrap().as_bytes(), h(gab));
            assert_eq!(kb.shared_secret(ka.public_value()).unwrap().as_bytes(), h(gab));
        }
    }

    #[test]
    fn modp_range_check() {
        let kx = KeyExchange::generate(DhGroup::Modp1024, &mut ChaCha20Rng::seed_from_u64(4));
        let p = modp_primes::MODP_1024;
        let mut v = vec![0u8; 128];
        assert_eq!(kx.shared_secret(&v).unwrap_err(), CryptoError::InvalidPublicValue);
        v[127] = 1;
        assert_eq!(kx.shared_secret(&v).unwrap_err(), CryptoError::InvalidPublicValue);
        v[127] = 2;
        assert!(kx.shared_secret(&v).is_ok());
        let mut pm1 = p.to_vec();
        pm1[127] -= 1;
        assert_eq!(kx.shared_secret(&pm1).unwrap_err(), CryptoError::InvalidPublicValue);
        assert_eq!(kx.shared_secret(&p).unwrap_err(), CryptoError::InvalidPublicValue);
        assert_eq!(kx.shared_secret(&[0xff; 128]).unwrap_err(), CryptoError::InvalidPublicValue);
        let mut pm2 = p.to_vec();
        pm2[127] -= 2;
        assert!(kx.shared_secret(&pm2).is_ok());
        assert!(matches!(kx.shared_secret(&[2u8; 127]).unwrap_err(), CryptoError::PublicValueLength { .. }));
    }

    /// Every group agrees with itself across two random parties.
    #[test]
    fn every_group_agrees() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        for group in DhGroup::ALL {
            let a = KeyExchange::generate(group, &mut rng);
            let b = KeyExchange::generate(group, &mut rng);
            assert_eq!(a.public_value().len(), group.public_len());
            let s1 = a.shared_secret(b.public_value()).unwrap();
            let s2 = b.shared_secret(a.public_value()).unwrap();
            assert_eq!(s1.as_bytes(), s2.as_bytes(), "{group:?}");
            assert_eq!(s1.as_bytes().len(), group.shared_len());
            assert_eq!(DhGroup::from_id(group.id()), Ok(group));
            assert!(!format!("{s1:?}{a:?}").contains(&hex::encode(&s1.as_bytes()[..4])));
        }
        assert_eq!(DhGroup::from_id(1), Err(CryptoError::UnsupportedGroup(1)));
    }

    const MODP_A: &str = "2c9460de744057340d8119a44b16a2121072cd3de8893da92d488de0c7d1b91a";
    const MODP_B: &str = "6f07919a6006ee8bd1bf5923364f49146abd2f5232e5e67f9205918f87d0c0a6";
    const MODP1024_GA: &str = concat!(
        "4f87677c591e7fea0d9bfd0b4684dc47d3c5115095b6ec374aa4806da10e499a",
        "7f291bb1729c32a1e4f23284744b0b4a630ada3e71c62288b386769b82ac347d",
        "65425606032b18b1bd714502fa4cf80b3e507aa20554961a91f77cbb0085a36b",
        "d23e30c8f7aff8d4f591c18a6836ad36f8f320782d04d72af361aa9b7b799407",
    );
    const MODP1024_GAB: &str = concat!(
        "7963d4e4fb31e533ecddc03c1f5a1bf46007ebe71c9825677c8811a684859152",
        "69aca049bd55c23fe083ca36280d8e8ee6a03261fa689c33a7e90f1033f8ae24",
        "495937bd5a5d92a47f412accf6756b08600f8b6caf56414cfab353270e0fc6e8",
        "78c51b9cb4467a6983bc56d85ca0d1f1d6da0e476f9f73950a9ed2a34c6af187",
    );
    const MODP2048_GA: &str = concat!(
        "ade9dadf0943149359633ba11d8b6fe2a14a531dbf8b6584e6c08c25f5770d00",
        "ed56a0bdd2561d9e24ab7360b46fed416c8df06a5eed0da5d54665b50c3f211b",
        "b1226204882ce9caf2938e2e6b9038d47ae7409ad68bdc28cf379ddaa08fbab4",
        "7ababe0d07d1f7371ec3a13473ebec473d2215da1df6b4dca491ba3bd6194cbc",
        "9917bc1baebb4c21e226a95de3caf02675443b7845bd1ff7d403803535fa0b21",
        "6fb5e1a813d3e7fab5ad98887daa63c8ba32299f55646b5720b93f1878bc0a24",
        "78bfa67c7d3a32a00f43115ecd79a67b85638e733dc777685724b28b9cb4b219",
        "8d61b4bbf1b8dbbec463a43bf3857a9495c681800a6bafffd23dfb40b011ce44",
    );
    const MODP2048_GAB: &str = concat!(
        "33caa04521ffeb437d9248e7bb47fc764f1d7506fc5c4ac5fba7e8ce6dddb5ca",
        "1e5f0fd65658636e2c2dea63c270c5acb06f24bbe248388ab07334523b42e5ce",
        "00aaf825ae138ba4f0e80ebcd4c804c2577fc1f04412133302c48d9e4a63d25c",
        "a625e80e59fe8af365dabd3bc8879584114f046b5d8b552fa31a3bb07f33d219",
        "7543845f5eb1b5477308407ad81972b732bd7f6da225741867c50cb5377dcf8d",
        "59141dc1f39dae936d0d37601685be5b3037ae536cac7b68746e4ea7747fc8ea",
        "786110006c4ce559b7fa48daaa617265ba94fbad8b06db7eb8b0141259aedee9",
        "bffcb7cc5e73f4ac7eed921f2e61ffd2feb9906e7df35bc59e321f242877e0eb",
    );
}
