//! The RADIUS keyed computations: authenticators, Message-Authenticator, User-Password
//! hiding and the salted encryption of MPPE keys and tunnel passwords.
//!
//! Every function here is pure: secrets and authenticators are arguments, and anything
//! random (salts) is chosen by the caller.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::EncodeError;

/// Length of authenticators, Message-Authenticator and MD5 output.
pub const AUTHENTICATOR_LEN: usize = 16;

/// MD5 over the concatenation of `parts`.
pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Constant-time comparison of two authenticators or MACs.
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// RFC 2865 §3: Response Authenticator = MD5(Code | Identifier | Length | Request
/// Authenticator | Attributes | Secret), where `packet` is the whole response (its own
/// authenticator field is skipped) and `request_authenticator` the one of the request.
#[must_use]
pub fn response_authenticator(packet: &[u8], request_authenticator: &[u8; 16], secret: &[u8]) -> [u8; 16] {
    if packet.len() < 20 {
        return [0; 16];
    }
    md5(&[&packet[..4], request_authenticator, &packet[20..], secret])
}

/// RFC 2866 §3: the Accounting-Request authenticator = MD5(Code | Identifier | Length |
/// 16 zero octets | Attributes | Secret). The same computation applies to the other
/// requests that carry no random authenticator (RFC 5176 CoA/Disconnect).
#[must_use]
pub fn accounting_request_authenticator(packet: &[u8], secret: &[u8]) -> [u8; 16] {
    if packet.len() < 20 {
        return [0; 16];
    }
    md5(&[&packet[..4], &[0u8; 16], &packet[20..], secret])
}

/// RFC 3579 §3.2: Message-Authenticator = HMAC-MD5(secret, packet), computed over the
/// packet with the Message-Authenticator value set to 16 zero octets and the
/// authenticator field holding `authenticator` (the Request Authenticator for requests
/// and for responses; zeros for an Accounting-Request).
///
/// `ma_value_offset` is the offset of the 16-octet value inside `packet`.
#[must_use]
pub fn message_authenticator(
    packet: &[u8],
    ma_value_offset: usize,
    authenticator: &[u8; 16],
    secret: &[u8],
) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    if packet.len() < 20 || ma_value_offset < 20 || ma_value_offset + 16 > packet.len() {
        return [0; 16];
    }
    mac.update(&packet[..4]);
    mac.update(authenticator);
    mac.update(&packet[20..ma_value_offset]);
    mac.update(&[0u8; 16]);
    mac.update(&packet[ma_value_offset + 16..]);
    mac.finalize().into_bytes().into()
}

/// RFC 2865 §5.2: hide a User-Password. The password is padded with NULs to a multiple of
/// 16 octets; c(1) = p(1) xor MD5(S | RA), c(i) = p(i) xor MD5(S | c(i-1)). The result is
/// appended to `out`.
///
/// # Errors
/// [`EncodeError::BadPasswordLength`] when the password is empty or over 128 octets.
pub fn hide_user_password(
    password: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if password.is_empty() || password.len() > 128 {
        return Err(EncodeError::BadPasswordLength);
    }
    let padded_len = password.len().div_ceil(16) * 16;
    let start = out.len();
    out.extend_from_slice(password);
    out.resize(start + padded_len, 0);
    chain_xor(&mut out[start..], secret, &[request_authenticator], true);
    Ok(())
}

/// RFC 2865 §5.2, the server side: recover a hidden User-Password (trailing NULs removed).
/// Returns `None` when the length is not a non-zero multiple of 16 up to 128.
#[must_use]
pub fn recover_user_password(
    hidden: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Option<Zeroizing<Vec<u8>>> {
    if hidden.is_empty() || hidden.len() > 128 || !hidden.len().is_multiple_of(16) {
        return None;
    }
    let mut plain = Zeroizing::new(hidden.to_vec());
    chain_xor(&mut plain, secret, &[request_authenticator], false);
    while plain.last() == Some(&0) {
        plain.pop();
    }
    Some(plain)
}

/// The RFC 2865 §5.2 / RFC 2548 §2.4.2 / RFC 2868 §3.5 chain: b(1) = MD5(secret | first),
/// b(i) = MD5(secret | c(i-1)), c(i) = p(i) xor b(i). `encrypt` tells whether `data`
/// holds plaintext (the chain feeds on the output) or ciphertext (it feeds on the input).
fn chain_xor(data: &mut [u8], secret: &[u8], first: &[&[u8]], encrypt: bool) {
    debug_assert!(data.len().is_multiple_of(16));
    let mut prev = [0u8; 16];
    for (i, block) in data.chunks_mut(16).enumerate() {
        let mut h = Md5::new();
        h.update(secret);
        if i == 0 {
            for f in first {
                h.update(f);
            }
        } else {
            h.update(prev);
        }
        let mut b: [u8; 16] = h.finalize().into();
        if !encrypt {
            prev.copy_from_slice(block);
        }
        for (x, k) in block.iter_mut().zip(b.iter()) {
            *x ^= k;
        }
        if encrypt {
            prev.copy_from_slice(block);
        }
        b.zeroize();
    }
    prev.zeroize();
}

/// Largest plaintext (length octet + value + padding) the salted encryption carries inside
/// one attribute: 253 octets of value, less 2 of salt, less 6 of vendor header for the
/// Microsoft attributes, rounded down to 16.
const MAX_SALTED_PLAIN: usize = 240;

/// RFC 2548 §2.4.2 (MS-MPPE-Send-Key / MS-MPPE-Recv-Key) and RFC 2868 §3.5
/// (Tunnel-Password): encrypt `value` with a 2-octet `salt` (its high bit is forced on, as
/// both RFCs require). The plaintext is a length octet, the value and zero padding to a
/// multiple of 16; b(1) = MD5(secret | Request Authenticator | salt). Appends
/// salt + ciphertext to `out`.
///
/// # Errors
/// [`EncodeError::SaltedValueTooLong`] when the value does not fit in one attribute.
pub fn salt_encrypt(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: [u8; 2],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let plain_len = (value.len() + 1).div_ceil(16) * 16;
    if plain_len > MAX_SALTED_PLAIN {
        return Err(EncodeError::SaltedValueTooLong);
    }
    let salt = [salt[0] | 0x80, salt[1]];
    out.extend_from_slice(&salt);
    let start = out.len();
    out.push(value.len() as u8);
    out.extend_from_slice(value);
    out.resize(start + plain_len, 0);
    chain_xor(&mut out[start..], secret, &[request_authenticator, &salt], true);
    Ok(())
}

/// Inverse of [`salt_encrypt`]: `ciphertext` is what follows the salt. Returns the value
/// (its length octet checked and padding removed), or `None` when the ciphertext is not a
/// non-zero multiple of 16 or the length octet points past the end (wrong secret or
/// authenticator, most likely).
#[must_use]
pub fn salt_decrypt(
    ciphertext: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: [u8; 2],
) -> Option<Zeroizing<Vec<u8>>> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return None;
    }
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    chain_xor(&mut plain, secret, &[request_authenticator, &salt], false);
    let len = usize::from(plain[0]);
    if len + 1 > plain.len() {
        return None;
    }
    Some(Zeroizing::new(plain[1..=len].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_password_round_trips_at_every_length() {
        let ra = [7u8; 16];
        for len in 1..=128usize {
            let pw: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) | 1).collect();
            let mut hidden = Vec::new();
            hide_user_password(&pw, b"s3cret", &ra, &mut hidden).unwrap();
            assert_eq!(hidden.len(), len.div_ceil(16) * 16);
            assert_ne!(&hidden[..len.min(16)], &pw[..len.min(16)]);
            let back = recover_user_password(&hidden, b"s3cret", &ra).unwrap();
            assert_eq!(&back[..], &pw[..]);
        }
        let mut out = Vec::new();
        assert_eq!(hide_user_password(&[1; 129], b"s", &ra, &mut out), Err(EncodeError::BadPasswordLength));
        assert_eq!(hide_user_password(b"", b"s", &ra, &mut out), Err(EncodeError::BadPasswordLength));
    }

    #[test]
    fn salted_round_trip_and_wrong_secret() {
        let ra = [0x42u8; 16];
        for len in 0..=200 {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            salt_encrypt(&v, b"sec", &ra, [0x01, 0x02], &mut out).unwrap();
            assert_eq!(out[0], 0x81, "salt high bit set");
            let salt = [out[0], out[1]];
            let back = salt_decrypt(&out[2..], b"sec", &ra, salt).unwrap();
            assert_eq!(&back[..], &v[..]);
        }
        let mut out = Vec::new();
        assert_eq!(
            salt_encrypt(&[0; 240], b"s", &ra, [0, 0], &mut out),
            Err(EncodeError::SaltedValueTooLong)
        );
    }

    #[test]
    fn ct_eq_checks_length_and_content() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
