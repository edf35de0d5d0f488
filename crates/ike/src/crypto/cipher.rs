//! CBC block ciphers for IKE payload encryption.
//!
//! RFC 2409 §5.3 / Appendix B: IKEv1 encrypts everything after the ISAKMP header in CBC
//! mode; the caller keeps the IV chain (see [`crate::v1::crypt`]). RFC 3602 and RFC 2451
//! define AES-CBC and 3DES-CBC for IKE.

use cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::NoPadding};

use super::CryptoError;

/// A CBC cipher usable to protect IKE messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherAlgorithm {
    /// AES-CBC with a 128-bit key (RFC 3602).
    AesCbc128,
    /// AES-CBC with a 192-bit key.
    AesCbc192,
    /// AES-CBC with a 256-bit key.
    AesCbc256,
    /// Triple DES (EDE3) in CBC mode, 192-bit key (RFC 2451).
    TripleDesCbc,
}

impl CipherAlgorithm {
    /// Key length in bytes.
    #[must_use]
    pub const fn key_len(self) -> usize {
        match self {
            Self::AesCbc128 => 16,
            Self::AesCbc192 | Self::TripleDesCbc => 24,
            Self::AesCbc256 => 32,
        }
    }

    /// Cipher block length in bytes (also the IV length).
    #[must_use]
    pub const fn block_len(self) -> usize {
        match self {
            Self::TripleDesCbc => 8,
            _ => 16,
        }
    }

    /// RFC 2409 Appendix A (Encryption Algorithm attribute, 5 = 3DES-CBC) and RFC 3602
    /// §5 (7 = AES-CBC with the Key Length attribute in bits).
    #[must_use]
    pub const fn from_ikev1(encryption_algorithm: u16, key_bits: Option<u16>) -> Option<Self> {
        match (encryption_algorithm, key_bits) {
            (5, None | Some(192)) => Some(Self::TripleDesCbc),
            (7, Some(128)) => Some(Self::AesCbc128),
            (7, Some(192)) => Some(Self::AesCbc192),
            (7, Some(256)) => Some(Self::AesCbc256),
            _ => None,
        }
    }

    fn check(self, key: &[u8], iv: &[u8], len: usize) -> Result<(), CryptoError> {
        if key.len() != self.key_len() {
            return Err(CryptoError::KeyLength { expected: self.key_len(), got: key.len() });
        }
        if iv.len() != self.block_len() {
            return Err(CryptoError::IvLength { expected: self.block_len(), got: iv.len() });
        }
        if !len.is_multiple_of(self.block_len()) {
            return Err(CryptoError::NotBlockAligned { len, block: self.block_len() });
        }
        Ok(())
    }

    /// Encrypts `data` in place in CBC mode. `data` must already be padded to whole blocks.
    ///
    /// # Errors
    /// Wrong key or IV length, or `data` not block aligned.
    pub fn encrypt_in_place(self, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        self.check(key, iv, data.len())?;
        fn run<C: BlockModeEncrypt + KeyIvInit>(key: &[u8], iv: &[u8], data: &mut [u8]) {
            // Lengths were checked above.
            if let Ok(enc) = C::new_from_slices(key, iv) {
                let len = data.len();
                let _ = enc.encrypt_padded::<NoPadding>(data, len);
            }
        }
        match self {
            Self::AesCbc128 => run::<cbc::Encryptor<aes::Aes128>>(key, iv, data),
            Self::AesCbc192 => run::<cbc::Encryptor<aes::Aes192>>(key, iv, data),
            Self::AesCbc256 => run::<cbc::Encryptor<aes::Aes256>>(key, iv, data),
            Self::TripleDesCbc => run::<cbc::Encryptor<des::TdesEde3>>(key, iv, data),
        }
        Ok(())
    }

    /// Decrypts `data` in place in CBC mode (no padding removed).
    ///
    /// # Errors
    /// Wrong key or IV length, or `data` not block aligned.
    pub fn decrypt_in_place(self, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        self.check(key, iv, data.len())?;
        fn run<C: BlockModeDecrypt + KeyIvInit>(key: &[u8], iv: &[u8], data: &mut [u8]) {
            if let Ok(dec) = C::new_from_slices(key, iv) {
                let _ = dec.decrypt_padded::<NoPadding>(data);
            }
        }
        match self {
            Self::AesCbc128 => run::<cbc::Decryptor<aes::Aes128>>(key, iv, data),
            Self::AesCbc192 => run::<cbc::Decryptor<aes::Aes192>>(key, iv, data),
            Self::AesCbc256 => run::<cbc::Decryptor<aes::Aes256>>(key, iv, data),
            Self::TripleDesCbc => run::<cbc::Decryptor<des::TdesEde3>>(key, iv, data),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// NIST SP 800-38A F.2.1/F.2.3/F.2.5 (CBC-AES128/192/256.Encrypt), first two blocks.
    #[test]
    fn sp800_38a_aes_cbc() {
        let iv = h("000102030405060708090a0b0c0d0e0f");
        let pt = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let cases = [
            (
                CipherAlgorithm::AesCbc128,
                "2b7e151628aed2a6abf7158809cf4f3c",
                "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2",
            ),
            (
                CipherAlgorithm::AesCbc192,
                "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
                "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a",
            ),
            (
                CipherAlgorithm::AesCbc256,
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
                "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d",
            ),
        ];
        for (alg, key, ct) in cases {
            let key = h(key);
            let mut buf = pt.clone();
            alg.encrypt_in_place(&key, &iv, &mut buf).unwrap();
            assert_eq!(buf, h(ct), "{alg:?}");
            alg.decrypt_in_place(&key, &iv, &mut buf).unwrap();
            assert_eq!(buf, pt);
        }
    }

    /// 3DES: NIST SP 800-67 example (keys 0123456789ABCDEF / 23456789ABCDEF01 /
    /// 456789ABCDEF0123, plaintext "The qufck brown fox jump"). With a zero IV each
    /// single block gives the published ECB ciphertext; the chained three-block CBC value
    /// was computed with OpenSSL `des-ede3-cbc`.
    #[test]
    fn tdes_sp800_67() {
        let key = h("0123456789abcdef23456789abcdef01456789abcdef0123");
        let pt = b"The qufck brown fox jump";
        let ecb = ["a826fd8ce53b855f", "cce21c8112256fe6", "68d5c05dd9b6b900"];
        for (block, ct) in pt.chunks(8).zip(ecb) {
            let mut buf = block.to_vec();
            CipherAlgorithm::TripleDesCbc.encrypt_in_place(&key, &[0; 8], &mut buf).unwrap();
            assert_eq!(buf, h(ct));
        }
        let mut buf = pt.to_vec();
        CipherAlgorithm::TripleDesCbc.encrypt_in_place(&key, &[0; 8], &mut buf).unwrap();
        assert_eq!(buf, h("a826fd8ce53b855f854b649a0a3903c970d563820afe8b35"));
        CipherAlgorithm::TripleDesCbc.decrypt_in_place(&key, &[0; 8], &mut buf).unwrap();
        assert_eq!(buf, pt);
    }

    #[test]
    fn rejects_bad_lengths() {
        let a = CipherAlgorithm::AesCbc128;
        let mut buf = [0u8; 15];
        assert_eq!(
            a.encrypt_in_place(&[0; 16], &[0; 16], &mut buf),
            Err(CryptoError::NotBlockAligned { len: 15, block: 16 })
        );
        assert!(matches!(
            a.decrypt_in_place(&[0; 15], &[0; 16], &mut [0; 16]),
            Err(CryptoError::KeyLength { .. })
        ));
        assert!(matches!(
            a.decrypt_in_place(&[0; 16], &[0; 8], &mut [0; 16]),
            Err(CryptoError::IvLength { .. })
        ));
        assert_eq!(CipherAlgorithm::from_ikev1(7, Some(256)), Some(CipherAlgorithm::AesCbc256));
        assert_eq!(CipherAlgorithm::from_ikev1(7, None), None);
        assert_eq!(CipherAlgorithm::from_ikev1(5, None), Some(CipherAlgorithm::TripleDesCbc));
    }
}
