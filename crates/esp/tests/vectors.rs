//! l2sec-esp against published test vectors.
//!
//! Every expected value in this file is copied from a published document (named in the
//! comment above each constant); none was produced by running this or any other code.
//! Hex is written as the documents print it, whitespace included, and decoded by [`h`].
//!
//! * RFC 3602 §4 Cases #1–#4 (raw AES-128-CBC) and #5–#8 (complete ESP packets with
//!   AES-128-CBC and no integrity), through `transform::vectors::cbc_{en,de}crypt`.
//! * NIST SP 800-38A Appendix F.2 (CBC-AES128/192/256), for the 192 and 256-bit keys
//!   that RFC 3602 does not cover.
//! * NIST SP 800-67 Rev. 1 Appendix B.1 (TDEA, three keys), through the CBC hook with
//!   `des = true`.
//! * draft-mcgrew-gcm-test-01 §4: every AES-GCM-ESP packet (128, 192 and 256-bit keys,
//!   16-byte ICV), through `InboundSa::decapsulate` where an SA can hold the packet, and
//!   through `transform::vectors::gcm_{open,seal}` for all of them.
//! * RFC 2202 §3 (HMAC-SHA-1), RFC 4231 §4 (HMAC-SHA-256/384/512), RFC 4868 §2.7.1 (PRF)
//!   and §2.7.2 (AUTH), through `transform::vectors::{hmac,icv}`.

use l2sec_esp::transform::vectors;
use l2sec_esp::{Encryption, Error, InboundSa, Integrity, Mode, Provider, SaParams};

/// Decodes hex as printed in the RFCs: whitespace between groups is ignored.
fn h(s: &str) -> Vec<u8> {
    let compact: String = s.split_whitespace().collect();
    hex::decode(&compact).unwrap_or_else(|e| panic!("bad hex constant {s:?}: {e}"))
}

// =======================================================================================
// RFC 3602 §4, Cases #1–#4: AES-128-CBC over whole blocks
// =======================================================================================

/// One raw CBC vector: key, IV, plaintext, ciphertext.
struct CbcCase {
    name: &'static str,
    key: &'static str,
    iv: &'static str,
    plaintext: &'static [u8],
    ciphertext: &'static str,
}

// RFC 3602 §4, Case #1: Encrypting 16 bytes (1 block) using AES-CBC with 128-bit key.
const RFC3602_CASE1: CbcCase = CbcCase {
    name: "RFC 3602 Case #1",
    key: "06a9214036b8a15b512e03d534120006",
    iv: "3dafba429d9eb430b422da802c9fac41",
    plaintext: b"Single block msg",
    ciphertext: "e353779c1079aeb82708942dbe77181a",
};

// RFC 3602 §4, Case #2: Encrypting 32 bytes (2 blocks) using AES-CBC with 128-bit key.
// The plaintext is printed in hex: 0x000102030405060708090a0b0c0d0e0f
//                                    101112131415161718191a1b1c1d1e1f
const RFC3602_CASE2: CbcCase = CbcCase {
    name: "RFC 3602 Case #2",
    key: "c286696d887c9aa0611bbb3e2025a45a",
    iv: "562e17996d093d28ddb3ba695a2e6f58",
    plaintext: &[
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    ],
    ciphertext: "d296cd94c2cccf8a3a863028b5e1dc0a
                 7586602d253cfff91b8266bea6d61ab1",
};

// RFC 3602 §4, Case #3: Encrypting 48 bytes (3 blocks) using AES-CBC with 128-bit key.
const RFC3602_CASE3: CbcCase = CbcCase {
    name: "RFC 3602 Case #3",
    key: "6c3ea0477630ce21a2ce334aa746c2cd",
    iv: "c782dc4c098c66cbd9cd27d825682c81",
    plaintext: b"This is a 48-byte message (exactly 3 AES blocks)",
    ciphertext: "d0a02b3836451753d493665d33f0e886
                 2dea54cdb293abc7506939276772f8d5
                 021c19216bad525c8579695d83ba2684",
};

// RFC 3602 §4, Case #4: Encrypting 64 bytes (4 blocks) using AES-CBC with 128-bit key.
// The plaintext is printed in hex: a0a1a2…dfdf, i.e. the bytes 0xa0 to 0xdf.
const RFC3602_CASE4: CbcCase = CbcCase {
    name: "RFC 3602 Case #4",
    key: "56e47a38c5598974bc46903dba290349",
    iv: "8ce82eefbea0da3c44699ed7db51b7d9",
    plaintext: &[
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0,
        0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1,
        0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2,
        0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    ],
    ciphertext: "c30e32ffedc0774e6aff6af0869f71aa
                 0f3af07a9a31a9c684db207eb0ef8e4e
                 35907aa632c3ffdf868bb7b29d3d46ad
                 83ce9f9a102ee99d49a53e87f4c3da55",
};

// NIST SP 800-38A Appendix F.2: the same four-block plaintext for every key size.
const SP800_38A_PLAINTEXT: &str = "6bc1bee22e409f96e93d7e117393172a
                                   ae2d8a571e03ac9c9eb76fac45af8e51
                                   30c81c46a35ce411e5fbc1191a0a52ef
                                   f69f2445df4f9b17ad2b417be66c3710";
// NIST SP 800-38A Appendix F.2: the IV of every CBC example.
const SP800_38A_IV: &str = "000102030405060708090a0b0c0d0e0f";

// NIST SP 800-38A F.2.1/F.2.2 CBC-AES128.Encrypt/Decrypt.
const SP800_38A_CBC_AES128: (&str, &str) = (
    "2b7e151628aed2a6abf7158809cf4f3c",
    "7649abac8119b246cee98e9b12e9197d
     5086cb9b507219ee95db113a917678b2
     73bed6b8e3c1743b7116e69e22229516
     3ff1caa1681fac09120eca307586e1a7",
);
// NIST SP 800-38A F.2.3/F.2.4 CBC-AES192.Encrypt/Decrypt.
const SP800_38A_CBC_AES192: (&str, &str) = (
    "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
    "4f021db243bc633d7178183a9fa071e8
     b4d9ada9ad7dedf4e5e738763f69145a
     571b242012fb7ae07fa9baac3df102e0
     08b0e27988598881d920a9e64f5615cd",
);
// NIST SP 800-38A F.2.5/F.2.6 CBC-AES256.Encrypt/Decrypt.
const SP800_38A_CBC_AES256: (&str, &str) = (
    "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
    "f58c4c04d6e5f1ba779eabfb5f7bfbd6
     9cfc4e967edb808d679f777bc6702c7d
     39f23369a9d9bacfa530e26304231461
     b2eb05e2c39be9fcda6c19078c6a9d1b",
);

/// Encrypts the published plaintext and decrypts the published ciphertext in place.
fn check_cbc(name: &str, key: &[u8], iv: &[u8], plaintext: &[u8], ciphertext: &[u8], des: bool) {
    let mut buf = plaintext.to_vec();
    vectors::cbc_encrypt(key, iv, &mut buf, des).unwrap_or_else(|e| panic!("{name}: encrypt failed: {e}"));
    assert_eq!(hex::encode(&buf), hex::encode(ciphertext), "{name}: encryption");

    let mut buf = ciphertext.to_vec();
    vectors::cbc_decrypt(key, iv, &mut buf, des).unwrap_or_else(|e| panic!("{name}: decrypt failed: {e}"));
    assert_eq!(hex::encode(&buf), hex::encode(plaintext), "{name}: decryption");
}

fn check_cbc_case(c: &CbcCase) {
    check_cbc(c.name, &h(c.key), &h(c.iv), c.plaintext, &h(c.ciphertext), false);
}

#[test]
fn rfc3602_case1_aes128_cbc_one_block() {
    check_cbc_case(&RFC3602_CASE1);
}

#[test]
fn rfc3602_case2_aes128_cbc_two_blocks() {
    check_cbc_case(&RFC3602_CASE2);
}

#[test]
fn rfc3602_case3_aes128_cbc_three_blocks() {
    check_cbc_case(&RFC3602_CASE3);
}

#[test]
fn rfc3602_case4_aes128_cbc_four_blocks() {
    check_cbc_case(&RFC3602_CASE4);
}

#[test]
fn sp800_38a_f2_cbc_aes128() {
    let (key, ct) = SP800_38A_CBC_AES128;
    check_cbc("SP 800-38A F.2.1", &h(key), &h(SP800_38A_IV), &h(SP800_38A_PLAINTEXT), &h(ct), false);
}

#[test]
fn sp800_38a_f2_cbc_aes192() {
    let (key, ct) = SP800_38A_CBC_AES192;
    check_cbc("SP 800-38A F.2.3", &h(key), &h(SP800_38A_IV), &h(SP800_38A_PLAINTEXT), &h(ct), false);
}

#[test]
fn sp800_38a_f2_cbc_aes256() {
    let (key, ct) = SP800_38A_CBC_AES256;
    check_cbc("SP 800-38A F.2.5", &h(key), &h(SP800_38A_IV), &h(SP800_38A_PLAINTEXT), &h(ct), false);
}

#[test]
fn cbc_hook_refuses_partial_blocks_and_bad_keys() {
    let key = h(RFC3602_CASE1.key);
    let iv = h(RFC3602_CASE1.iv);
    let mut short = [0u8; 15];
    assert!(vectors::cbc_encrypt(&key, &iv, &mut short, false).is_err());
    assert!(vectors::cbc_decrypt(&key, &iv, &mut short, false).is_err());
    let mut block = [0u8; 16];
    assert!(vectors::cbc_encrypt(&key[..15], &iv, &mut block, false).is_err());
    assert!(vectors::cbc_encrypt(&key, &iv[..8], &mut block, false).is_err());
}

// =======================================================================================
// RFC 3602 §4, Cases #5–#8: ESP packets with AES-128-CBC and no authentication
// =======================================================================================

/// One RFC 3602 ESP example: the key, the ESP packet from the SPI on (SPI, sequence
/// number, IV, encrypted data) and the data before encryption (payload, padding, pad
/// length, next header).
struct EspCbcCase {
    name: &'static str,
    key: &'static str,
    spi: u32,
    seq: u32,
    esp: &'static str,
    pre_encryption: &'static str,
}

// RFC 3602 §4, Case #5: Sample transport-mode ESP packet (ping 192.168.123.100).
// "Post-encryption packet with SPI, Sequence number, IV" (outer IP header left out) and
// "Pre-encryption Data with padding, pad length and next header (80 bytes)".
const RFC3602_CASE5: EspCbcCase = EspCbcCase {
    name: "RFC 3602 Case #5",
    key: "90d382b4 10eeba7a d938c46c ec1a82bf",
    spi: 0x4321,
    seq: 1,
    esp: "00004321 00000001
          e96e8c08 ab465763 fd098d45 dd3ff893
          f663c25d 325c18c6 a9453e19 4e120849 a4870b66 cc6b9965 330013b4 898dc856
          a4699e52 3a55db08 0b59ec3a 8e4b7e52 775b07d1 db34ed9c 538ab50c 551b874a
          a269add0 47ad2d59 13ac19b7 cfbad4a6",
    pre_encryption: "08000ebd a70a0000 8e9c083d b95b0700 08090a0b 0c0d0e0f 10111213 14151617
                     18191a1b 1c1d1e1f 20212223 24252627 28292a2b 2c2d2e2f 30313233 34353637
                     01020304 05060708 090a0b0c 0d0e0e01",
};

// RFC 3602 §4, Case #6: transport-mode ESP packet (ICMP echo), AES-128-CBC, no integrity.
// Data (28 bytes) followed by the trailer the case lists: padding 0102, pad length 02,
// next header 01 (ICMP).
const RFC3602_CASE6: EspCbcCase = EspCbcCase {
    name: "RFC 3602 Case #6",
    key: "90d382b4 10eeba7a d938c46c ec1a82bf",
    spi: 0x4321,
    seq: 8,
    esp: "00004321 00000008
          69d08df7 d203329d b093fc49 24e5bd80
          f5199588 1ec4e0c4 488987ce 742e8109 689bb379 d2d750c0 d915dca3 46a89f75",
    pre_encryption: "0800b5e8 a80a0500 a69c083d 0b660e00 77777777 77777777 77777777
                     0102 02 01",
};

// RFC 3602 §4, Case #7: tunnel-mode ESP packet (inner IPv4 ICMP echo), AES-128-CBC.
// The inner IP packet (84 bytes) followed by the trailer the case lists: padding
// 01020304 05060708 090a, pad length 0a, next header 04 (IP-in-IP).
const RFC3602_CASE7: EspCbcCase = EspCbcCase {
    name: "RFC 3602 Case #7",
    key: "01234567 89abcdef 01234567 89abcdef",
    spi: 0x8765,
    seq: 2,
    esp: "00008765 00000002
          f4e76524 4f6407ad f13dc138 0f673f37
          773b5241 a4c44922 5e4f3ce5 ed611b0c 237ca96c f74a9301 3c1b0ea1 a0cf70f8
          e4ecaec7 8ac53aad 7a0f022b 859243c6 47752e94 a859352b 8a4d4d2d ecd136e5
          c177f132 ad3fbfb2 201ac990 4c74ee0a 109e0ca1 e4dfe9d5 a100b842 f1c22f0d",
    pre_encryption: "45000054 09040000 4001f988 c0a87b03 c0a87bc8 08009f76 a90a0100 b49c083d
                     02a20400 08090a0b 0c0d0e0f 10111213 14151617 18191a1b 1c1d1e1f 20212223
                     24252627 28292a2b 2c2d2e2f 30313233 34353637
                     01020304 05060708 090a 0a 04",
};

// RFC 3602 §4, Case #8: tunnel-mode ESP packet (inner IPv4 ICMP echo), AES-128-CBC.
// The inner IP packet (68 bytes) followed by the trailer the case lists: padding
// 01020304 05060708 090a, pad length 0a, next header 04 (IP-in-IP).
const RFC3602_CASE8: EspCbcCase = EspCbcCase {
    name: "RFC 3602 Case #8",
    key: "01234567 89abcdef 01234567 89abcdef",
    spi: 0x8765,
    seq: 5,
    esp: "00008765 00000005
          85d47224 b5f3dd5d 2101d4ea 8dffab22
          15b92683 819596a8 047232cc 00f7048f e45318e1 1f8a0f62 ede3c3fc 61203bb5
          0f980a08 c9843fd3 a1b06d5c 07ff9639 b7eb7dfb 3512e5de 435e7207 ed971ef3
          d2726d9b 5ef6affc 6d17a0de cbb13892",
    pre_encryption: "45000044 090c0000 4001f990 c0a87b03 c0a87bc8 0800d63c aa0a0200 c69c083d
                     a3de0300 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff
                     ffffffff
                     01020304 05060708 090a 0a 04",
};

/// Splits the published ESP packet into SPI | Seq | IV | ciphertext, then decrypts the
/// ciphertext and encrypts the pre-encryption data with the published IV.
fn check_esp_cbc(c: &EspCbcCase) {
    let key = h(c.key);
    let esp = h(c.esp);
    let plain = h(c.pre_encryption);
    assert_eq!(esp[..4], c.spi.to_be_bytes(), "{}: SPI", c.name);
    assert_eq!(esp[4..8], c.seq.to_be_bytes(), "{}: sequence number", c.name);
    let (iv, ciphertext) = esp[8..].split_at(16);
    assert_eq!(ciphertext.len(), plain.len(), "{}: lengths of the published data", c.name);
    // The trailer as RFC 4303 §2.4 lays it out: Pad Length is the second-last byte.
    let pad_len = usize::from(plain[plain.len() - 2]);
    assert!(
        plain[plain.len() - 2 - pad_len..plain.len() - 2]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i + 1) as u8)
    );
    check_cbc(c.name, &key, iv, &plain, ciphertext, false);
}

#[test]
fn rfc3602_case5_transport_mode_esp_packet() {
    check_esp_cbc(&RFC3602_CASE5);
}

#[test]
fn rfc3602_case6_transport_mode_esp_packet() {
    check_esp_cbc(&RFC3602_CASE6);
}

#[test]
fn rfc3602_case7_tunnel_mode_esp_packet() {
    check_esp_cbc(&RFC3602_CASE7);
}

#[test]
fn rfc3602_case8_tunnel_mode_esp_packet() {
    check_esp_cbc(&RFC3602_CASE8);
}

#[test]
fn rfc3602_esp_packets_are_refused_without_integrity() {
    // The RFC 3602 packets carry no ICV; RFC 4303 §3.2 forbids ESP without integrity,
    // and l2sec's SAs refuse it, so the packets above can only be checked at the cipher.
    let p = SaParams::new(
        0x4321,
        Mode::Transport,
        Encryption::AesCbc,
        Integrity::None,
        &h(RFC3602_CASE5.key),
        &[],
    );
    assert!(matches!(InboundSa::with_provider(&p, &Provider::RUSTCRYPTO), Err(Error::Config(_))));
}

// =======================================================================================
// NIST SP 800-67 Rev. 1 Appendix B.1: TDEA with three distinct keys
// =======================================================================================

// NIST SP 800-67 Rev. 1, Appendix B.1 (Example of TDEA Forward Cipher / Inverse Cipher
// operation, ECB mode): Key1 = 0123456789ABCDEF, Key2 = 23456789ABCDEF01,
// Key3 = 456789ABCDEF0123; the plaintext is the ASCII "The qufck brown fox jump".
const SP800_67_KEY: &str = "0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123";
const SP800_67_PLAINTEXT: &str = "5468652071756663 6B2062726F776E20 666F78206A756D70";
const SP800_67_CIPHERTEXT: &str = "A826FD8CE53B855F CCE21C8112256FE6 68D5C05DD9B6B900";

#[test]
fn sp800_67_tdea_three_key_example_through_cbc() {
    // The example is ECB. CBC of a single block under an all-zero IV is that block's ECB
    // encryption, so each block is checked on its own through the CBC hook.
    let key = h(SP800_67_KEY);
    let plain = h(SP800_67_PLAINTEXT);
    let cipher = h(SP800_67_CIPHERTEXT);
    assert_eq!(plain, b"The qufck brown fox jump");
    for (i, (p, c)) in plain.chunks(8).zip(cipher.chunks(8)).enumerate() {
        check_cbc(&format!("SP 800-67 B.1 block {}", i + 1), &key, &[0u8; 8], p, c, true);
    }
}

#[test]
fn sp800_67_tdea_chained_blocks_through_cbc() {
    // CBC chaining with the published blocks: with IV = 0 the first ciphertext block is
    // C1; the second block input is P2 ^ C1 and must not equal ECB(P2) = C2, unless the
    // hook ignored chaining. Only the first block is a published value here.
    let key = h(SP800_67_KEY);
    let mut buf = h(SP800_67_PLAINTEXT);
    vectors::cbc_encrypt(&key, &[0u8; 8], &mut buf, true).expect("3DES CBC");
    let cipher = h(SP800_67_CIPHERTEXT);
    assert_eq!(buf[..8], cipher[..8]);
    assert_ne!(buf[8..16], cipher[8..16], "CBC must chain blocks");
    vectors::cbc_decrypt(&key, &[0u8; 8], &mut buf, true).expect("3DES CBC");
    assert_eq!(buf, h(SP800_67_PLAINTEXT));
}

// =======================================================================================
// draft-mcgrew-gcm-test-01 §4: AES-GCM-ESP test packets
// =======================================================================================

/// One AES-GCM-ESP packet exactly as the draft prints it.
struct GcmPacket {
    name: &'static str,
    key: &'static str,
    spi: &'static str,
    /// 4 octets (32-bit sequence number) or 8 octets (extended sequence number).
    seq: &'static str,
    /// Salt (4 octets) || ESP IV (8 octets).
    nonce: &'static str,
    plaintext: &'static str,
    aad: &'static str,
    ctext_tag: &'static str,
    packet: &'static str,
}

// draft-mcgrew-gcm-test-01 §4, packet 1 (page 7): AES-GCM-ESP, 128-bit key, ESN.
const GCM_P1: GcmPacket = GcmPacket {
    name: "gcm-test packet 1 (page 7)",
    key: "4c80cdefbb5d10da906ac73c3613a634",
    spi: "00004321",
    seq: "8765432100000000",
    nonce: "2e443b684956ed7e3b244cfe",
    plaintext: "45000048699a000080114db7c0a80102
                c0a801010a9bf15638d3010000010000
                00000000045f736970045f7564700373
                69700963796265726369747902646b00
                0021000101020201",
    aad: "000043218765432100000000",
    ctext_tag: "fecf537e729d5b07dc30df528dd22b76
                8d1b98736696a6fd348509fa13ceac34
                cfa2436f14a3f3cf65925bf1f4a13c5d
                15b21e1884f5ff6247aeabb786b93bce
                61bc17d768fd9732459018148f6cbe72
                2fd04796562dfdb4",
    packet: "00004321000000004956ed7e3b244cfe
             fecf537e729d5b07dc30df528dd22b76
             8d1b98736696a6fd348509fa13ceac34
             cfa2436f14a3f3cf65925bf1f4a13c5d
             15b21e1884f5ff6247aeabb786b93bce
             61bc17d768fd9732459018148f6cbe72
             2fd04796562dfdb4",
};

// draft-mcgrew-gcm-test-01 §4, packet 2 (page 8): AES-GCM-ESP, 128-bit key.
const GCM_P2: GcmPacket = GcmPacket {
    name: "gcm-test packet 2 (page 8)",
    key: "feffe9928665731c6d6a8f9467308308",
    spi: "0000a5f8",
    seq: "0000000a",
    nonce: "cafebabefacedbaddecaf888",
    plaintext: "4500003e698f000080114dccc0a80102
                c0a801010a980035002a2343b2d00100
                00010000000000000373697009637962
                65726369747902646b00000100010001",
    aad: "0000a5f80000000a",
    ctext_tag: "deb22cd9b07c72c16e3a65beeb8df304
                a5a5897d33ae530f1ba76d5d114d2a5c
                3de81827c10e9a4f51330d0eec416642
                cfbb85a5b47e48a4ec3b9ba95d918bd1
                83b70d3aa8bc6ee4c309e9d85a41ad4a",
    packet: "0000a5f80000000afacedbaddecaf888
             deb22cd9b07c72c16e3a65beeb8df304
             a5a5897d33ae530f1ba76d5d114d2a5c
             3de81827c10e9a4f51330d0eec416642
             cfbb85a5b47e48a4ec3b9ba95d918bd1
             83b70d3aa8bc6ee4c309e9d85a41ad4a",
};

// draft-mcgrew-gcm-test-01 §4, packet 3 (page 9): AES-GCM-ESP, 256-bit key.
const GCM_P3: GcmPacket = GcmPacket {
    name: "gcm-test packet 3 (page 9)",
    key: "abbccddef00112233445566778899aab
          abbccddef00112233445566778899aab",
    spi: "4a2cbfe3",
    seq: "00000002",
    nonce: "112233440102030405060708",
    plaintext: "4500003069a6400080062690c0a80102
                9389155e0a9e008b2dc57ee000000000
                7002400020bf0000020405b401010402
                01020201",
    aad: "4a2cbfe300000002",
    ctext_tag: "ff425c9b724599df7a3bcd510194e00d
                6a78107f1b0b1cbf06efae9d65a5d763
                748a637985771d347f0545659f14e99d
                ef842d8eb335f4eecfdbf831824b4c49
                15956c96",
    packet: "4a2cbfe3000000020102030405060708
             ff425c9b724599df7a3bcd510194e00d
             6a78107f1b0b1cbf06efae9d65a5d763
             748a637985771d347f0545659f14e99d
             ef842d8eb335f4eecfdbf831824b4c49
             15956c96",
};

// draft-mcgrew-gcm-test-01 §4, packet 4 (page 10): AES-GCM-ESP, all-zero 128-bit key,
// SPI 0 (which RFC 4303 §2.1 reserves, so no SA can be built for it).
const GCM_P4: GcmPacket = GcmPacket {
    name: "gcm-test packet 4 (page 10)",
    key: "00000000000000000000000000000000",
    spi: "00000000",
    seq: "00000001",
    nonce: "000000000000000000000000",
    plaintext: "4500003c99c500008001cb7a40679318
                010101010800075c0200440061626364
                65666768696a6b6c6d6e6f7071727374
                75767761626364656667686901020201",
    aad: "0000000000000001",
    ctext_tag: "4688daf2f973a392732909c331d56d60
                f694abaa414b5e7ff5fdcdfff5e9a284
                456476492719ffb64de7d9dca1e1d894
                bc3bd57873ed4d181d19d4d5c8c18af3
                f821d496eeb096e98ad2b69e4799c71d",
    packet: "00000000000000010000000000000000
             4688daf2f973a392732909c331d56d60
             f694abaa414b5e7ff5fdcdfff5e9a284
             456476492719ffb64de7d9dca1e1d894
             bc3bd57873ed4d181d19d4d5c8c18af3
             f821d496eeb096e98ad2b69e4799c71d",
};

// draft-mcgrew-gcm-test-01 §4, packet 5 (page 11): AES-GCM-ESP, 128-bit key, ESN.
const GCM_P5: GcmPacket = GcmPacket {
    name: "gcm-test packet 5 (page 11)",
    key: "3de09874b388e6491988d0c3607eae1f",
    spi: "42f67e3f",
    seq: "1010101010101010",
    nonce: "57690e434e280000a2fca1a3",
    plaintext: "4500003c99c300008001cb7c40679318
                010101010800085c0200430061626364
                65666768696a6b6c6d6e6f7071727374
                75767761626364656667686901020201",
    aad: "42f67e3f1010101010101010",
    ctext_tag: "fba2caa4853cf9f0f22cb10d86dd83b0
                fec75691cf1a04b00d1138ec9c357917
                65acbd8701ad79845bf9fe3fba487bc9
                1755e6662b4c8d0d1f5e22739530320a
                e0d731cc978ecafaeae88f00e80d6e48",
    packet: "42f67e3f101010104e280000a2fca1a3
             fba2caa4853cf9f0f22cb10d86dd83b0
             fec75691cf1a04b00d1138ec9c357917
             65acbd8701ad79845bf9fe3fba487bc9
             1755e6662b4c8d0d1f5e22739530320a
             e0d731cc978ecafaeae88f00e80d6e48",
};

// draft-mcgrew-gcm-test-01 §4, packet 6 (page 12, first): AES-GCM-ESP, 128-bit key, ESN.
const GCM_P6: GcmPacket = GcmPacket {
    name: "gcm-test packet 6 (page 12)",
    key: "3de09874b388e6491988d0c3607eae1f",
    spi: "42f67e3f",
    seq: "1010101010101010",
    nonce: "57690e434e280000a2fca1a3",
    plaintext: "4500001c42a200008001441f406793b6
                e00000020a00f5ff01020201",
    aad: "42f67e3f1010101010101010",
    ctext_tag: "fba2ca845e5df9f0f22c3e6e86dd831e
                1fc65792cd1af9130e1379ed369f071f
                35e034be95f112e4e7d05d35",
    packet: "42f67e3f101010104e280000a2fca1a3
             fba2ca845e5df9f0f22c3e6e86dd831e
             1fc65792cd1af9130e1379ed369f071f
             35e034be95f112e4e7d05d35",
};

// draft-mcgrew-gcm-test-01 §4, packet 7 (page 12, second): AES-GCM-ESP, 192-bit key.
const GCM_P7: GcmPacket = GcmPacket {
    name: "gcm-test packet 7 (page 12)",
    key: "feffe9928665731c6d6a8f9467308308
          feffe9928665731c",
    spi: "0000a5f8",
    seq: "0000000a",
    nonce: "cafebabefacedbaddecaf888",
    plaintext: "45000028a4ad4000400678800a01038f
                0a010612802306b8cb712602dd6bb03e
                501016d075680001",
    aad: "0000a5f80000000a",
    ctext_tag: "a5b1f8066029aea40e598b8122de0242
                0938b3ab33f828e687b8858b5bfbdbd0
                315b27452144cc7795457b9652037f53
                18027b5b4cd7a636",
    packet: "0000a5f80000000afacedbaddecaf888
             a5b1f8066029aea40e598b8122de0242
             0938b3ab33f828e687b8858b5bfbdbd0
             315b27452144cc7795457b9652037f53
             18027b5b4cd7a636",
};

// draft-mcgrew-gcm-test-01 §4, packet 8 (page 13): AES-GCM-ESP, 128-bit key, ESN whose
// high half is zero.
const GCM_P8: GcmPacket = GcmPacket {
    name: "gcm-test packet 8 (page 13)",
    key: "abbccddef00112233445566778899aab",
    spi: "00000100",
    seq: "0000000000000001",
    nonce: "decaf888cafedebaceface74",
    plaintext: "4500004933ba00007f119106c3fb1d10
                c2b1d326c02831ce0035dd7b800302d5
                00004e20001e8c18d75b81dc91baa047
                6b91b924b280389d92c963bac046ec95
                9b6266c04722b14923010101",
    aad: "000001000000000000000001",
    ctext_tag: "18a6fd42f72cbf4ab2a2ea901f73d814
                e3e7f243d95412e1c349c1d2fbec168f
                9190feebaf2cb01984e65863965d7472
                b79da345e0e780191f0d2f0e0f496c22
                6f2127b27db35724e7845d68651f57e6
                5f354f75ff17015769623436",
    packet: "0000010000000001cafedebaceface74
             18a6fd42f72cbf4ab2a2ea901f73d814
             e3e7f243d95412e1c349c1d2fbec168f
             9190feebaf2cb01984e65863965d7472
             b79da345e0e780191f0d2f0e0f496c22
             6f2127b27db35724e7845d68651f57e6
             5f354f75ff17015769623436",
};

// draft-mcgrew-gcm-test-01 §4, packet 9 (page 14): AES-GCM-ESP, 256-bit key, ESN.
const GCM_P9: GcmPacket = GcmPacket {
    name: "gcm-test packet 9 (page 14)",
    key: "abbccddef00112233445566778899aab
          abbccddef00112233445566778899aab",
    spi: "17405e67",
    seq: "156f3126dd0db99b",
    nonce: "73616c74616e640169766563",
    plaintext: "45080028732c00004006e9f90a010612
                0a01038f06b88023dd6bafbecb712602
                50101f646d540001",
    aad: "17405e67156f3126dd0db99b",
    ctext_tag: "f2d69ecdbd5a0d5b8d5ef38bad4da58d
                1f278fde98ef67549d524a3018d9a57f
                f4d3a31ce673119e451626c2415771e3
                b7eebca614c89b35",
    packet: "17405e67dd0db99b616e640169766563
             f2d69ecdbd5a0d5b8d5ef38bad4da58d
             1f278fde98ef67549d524a3018d9a57f
             f4d3a31ce673119e451626c2415771e3
             b7eebca614c89b35",
};

// draft-mcgrew-gcm-test-01 §4, packet 10 (page 15): AES-GCM-ESP, 128-bit key, ESN.
const GCM_P10: GcmPacket = GcmPacket {
    name: "gcm-test packet 10 (page 15)",
    key: "3de09874b388e6491988d0c3607eae1f",
    spi: "42f67e3f",
    seq: "1010101010101010",
    nonce: "57690e434e280000a2fca1a3",
    plaintext: "45000049333e00007f119182c3fb1d10
                c2b1d326c02831ce0035cb458003025b
                000001e0001e8c18d65759d52284a035
                2c71475c8880391c764d6e5ee0496b32
                5ae270c03899493915010101",
    aad: "42f67e3f1010101010101010",
    ctext_tag: "fba2cad12fc1f9f00d3cebf305410db8
                3d7784b607323d220f24b0a97d541828
                00cadb0f68d99ef0e0c0c89ae9bea888
                4e52d65bc1afd0740f742444747b5b39
                ab533163aad4550ee5160975cdb608c5
                769189609763b8e18caa81e2",
    packet: "42f67e3f101010104e280000a2fca1a3
             fba2cad12fc1f9f00d3cebf305410db8
             3d7784b607323d220f24b0a97d541828
             00cadb0f68d99ef0e0c0c89ae9bea888
             4e52d65bc1afd0740f742444747b5b39
             ab533163aad4550ee5160975cdb608c5
             769189609763b8e18caa81e2",
};

// draft-mcgrew-gcm-test-01 §4, packet 11 (page 16): AES-GCM-ESP, 256-bit key, ESN; the
// payload is not an IP packet.
const GCM_P11: GcmPacket = GcmPacket {
    name: "gcm-test packet 11 (page 16)",
    key: "abbccddef00112233445566778899aab
          abbccddef00112233445566778899aab",
    spi: "17405e67",
    seq: "156f3126dd0db99b",
    nonce: "73616c74616e640169766563",
    plaintext: "636973636f0172756c65730174686501
                6e6574776501646566696e6501746865
                746563686e6f6c6f6769657301746861
                7477696c6c01646566696e65746f6d6f
                72726f7701020201",
    aad: "17405e67156f3126dd0db99b",
    ctext_tag: "d4b7ed86a1777f2ea13d6973d324c69e
                7b43f826fb56831226508bebd2dceb18
                d0a6df10e5487df074113e14c641024e
                3e6773d91a62ee429b043a10e3efe6b0
                12a49363412364f8c0cac587f249e56b
                11e24f30e44ccc76",
    packet: "17405e67dd0db99b616e640169766563
             d4b7ed86a1777f2ea13d6973d324c69e
             7b43f826fb56831226508bebd2dceb18
             d0a6df10e5487df074113e14c641024e
             3e6773d91a62ee429b043a10e3efe6b0
             12a49363412364f8c0cac587f249e56b
             11e24f30e44ccc76",
};

// draft-mcgrew-gcm-test-01 §4, packet 12 (page 17, first): AES-GCM-ESP, 128-bit key,
// sequence number ffffffff and an empty payload (only padding and trailer).
const GCM_P12: GcmPacket = GcmPacket {
    name: "gcm-test packet 12 (page 17)",
    key: "7d773d00c144c525ac619d18c84a3f47",
    spi: "335467ae",
    seq: "ffffffff",
    nonce: "d966426743457e9182443bc6",
    plaintext: "01020201",
    aad: "335467aeffffffff",
    ctext_tag: "437f866bcb3f699fe9b0822bac961c45
                04bef270",
    packet: "335467aeffffffff43457e9182443bc6
             437f866bcb3f699fe9b0822bac961c45
             04bef270",
};

// draft-mcgrew-gcm-test-01 §4, packet 13 (page 17, second): AES-GCM-ESP, 128-bit key, ESN
// whose high half is zero.
const GCM_P13: GcmPacket = GcmPacket {
    name: "gcm-test packet 13 (page 17)",
    key: "abbccddef00112233445566778899aab",
    spi: "00000100",
    seq: "0000000000000001",
    nonce: "decaf888cafedebaceface74",
    plaintext: "746f016265016f72016e6f7401746f01
                62650001",
    aad: "000001000000000000000001",
    ctext_tag: "29c9fc69a197d038ccdd14e2ddfcaa05
                43332164412503524303ed3c6c5f2838
                43af8c3e",
    packet: "0000010000000001cafedebaceface74
             29c9fc69a197d038ccdd14e2ddfcaa05
             43332164412503524303ed3c6c5f2838
             43af8c3e",
};

// draft-mcgrew-gcm-test-01 §4, packet 14 (page 18): AES-GCM-ESP, 256-bit key, ESN
// ffffffffffffffff.
const GCM_P14: GcmPacket = GcmPacket {
    name: "gcm-test packet 14 (page 18)",
    key: "6c6567616c697a656d6172696a75616e
          61616e64646f69746265666f72656961",
    spi: "796b6963",
    seq: "ffffffffffffffff",
    nonce: "7475726e333021696765746d",
    plaintext: "45000030da3a00008001df3bc0a80005
                c0a800010800c6cd0200070061626364
                65666768696a6b6c6d6e6f7071727374
                01020201",
    aad: "796b6963ffffffffffffffff",
    ctext_tag: "f97ab2aa356d8edce17644ac8c78e25d
                d24dedbb29ebf1b64a274b39b49c3a86
                4cd3d78ca4ae68a32b42458fb57dbe82
                1dcc63b9d0937ba2945f669368661a32
                9fb4c053",
    packet: "796b6963ffffffff333021696765746d
             f97ab2aa356d8edce17644ac8c78e25d
             d24dedbb29ebf1b64a274b39b49c3a86
             4cd3d78ca4ae68a32b42458fb57dbe82
             1dcc63b9d0937ba2945f669368661a32
             9fb4c053",
};

// (Packet 15, page 19, is AES-GMAC-ESP (RFC 4543), which l2sec does not implement.)

// draft-mcgrew-gcm-test-01 §4, packet 16 (page 20): AES-GCM-ESP, 128-bit key, ESN.
const GCM_P16: GcmPacket = GcmPacket {
    name: "gcm-test packet 16 (page 20)",
    key: "3de09874b388e6491988d0c3607eae1f",
    spi: "3f7ef642",
    seq: "1010101010101010",
    nonce: "57690e434e280000a2fca1a3",
    plaintext: "45000030da3a00008001df3bc0a80005
                c0a800010800c6cd0200070061626364
                65666768696a6b6c6d6e6f7071727374
                01020201",
    aad: "3f7ef6421010101010101010",
    ctext_tag: "fba2caa8c6c5f9f0f22ca54a061210ad
                3f6e5791cf1aca210d117cec9c357917
                65acbd8701ad79845bf9fe3fba487bc9
                6321930684eecadb56912546e7a95c97
                40d7cb05",
    packet: "3f7ef642101010104e280000a2fca1a3
             fba2caa8c6c5f9f0f22ca54a061210ad
             3f6e5791cf1aca210d117cec9c357917
             65acbd8701ad79845bf9fe3fba487bc9
             6321930684eecadb56912546e7a95c97
             40d7cb05",
};

// draft-mcgrew-gcm-test-01 §4, packet 17 (page 21): AES-GCM-ESP, 128-bit key, ESN.
const GCM_P17: GcmPacket = GcmPacket {
    name: "gcm-test packet 17 (page 21)",
    key: "4c80cdefbb5d10da906ac73c3613a634",
    spi: "00004321",
    seq: "8765432100000007",
    nonce: "22433c644855ec7d3a234bfd",
    plaintext: "0800c6cd020007006162636465666768
                696a6b6c6d6e6f707172737401020201",
    aad: "000043218765432100000007",
    ctext_tag: "74752e8aeb5d873cd7c0f4acc36c4bff
                84b7d7b98f0ca8b6acda6894bc619069
                ef9cbc28fe1b56a7c4e0d58c86cd2bc0",
    packet: "00004321000000074855ec7d3a234bfd
             74752e8aeb5d873cd7c0f4acc36c4bff
             84b7d7b98f0ca8b6acda6894bc619069
             ef9cbc28fe1b56a7c4e0d58c86cd2bc0",
};

/// The decoded fields of a [`GcmPacket`].
struct Gcm {
    key_and_salt: Vec<u8>,
    spi: u32,
    seq: Vec<u8>,
    iv: [u8; 8],
    plaintext: Vec<u8>,
    aad: Vec<u8>,
    ctext_tag: Vec<u8>,
    packet: Vec<u8>,
}

impl GcmPacket {
    /// Decodes the packet and checks that the published fields agree with each other
    /// (packet = SPI | low sequence number | IV | ctext+tag, AAD = SPI | sequence number):
    /// a guard against transcription slips, involving no cryptography.
    fn decode(&self) -> Gcm {
        let nonce = h(self.nonce);
        assert_eq!(nonce.len(), 12, "{}: nonce", self.name);
        // RFC 4106 §8.1: the keying material is the AES key followed by the 4-byte salt,
        // and §4 the nonce is salt || IV.
        let mut key_and_salt = h(self.key);
        key_and_salt.extend_from_slice(&nonce[..4]);
        let spi_bytes = h(self.spi);
        let seq = h(self.seq);
        let iv: [u8; 8] = nonce[4..].try_into().expect("8 bytes");
        let g = Gcm {
            key_and_salt,
            spi: u32::from_be_bytes(spi_bytes[..].try_into().expect("4-byte SPI")),
            iv,
            plaintext: h(self.plaintext),
            aad: h(self.aad),
            ctext_tag: h(self.ctext_tag),
            packet: h(self.packet),
            seq,
        };
        assert_eq!(g.aad, [&spi_bytes[..], &g.seq].concat(), "{}: aad = spi || seq", self.name);
        let low = &g.seq[g.seq.len() - 4..];
        assert_eq!(
            g.packet,
            [&spi_bytes[..], low, &g.iv, &g.ctext_tag].concat(),
            "{}: packet layout",
            self.name
        );
        assert_eq!(g.ctext_tag.len(), g.plaintext.len() + 16, "{}: 16-byte ICV", self.name);
        g
    }
}

/// `gcm_open` of the published ctext+tag gives the published plaintext, `gcm_seal` of the
/// plaintext gives the published ctext+tag, and a flipped tag bit is refused.
fn check_gcm_primitive(p: &GcmPacket, provider: &Provider) {
    let g = p.decode();
    let what = format!("{} [{}]", p.name, provider.name);
    let opened = vectors::gcm_open(provider, &g.key_and_salt, &g.aad, &g.iv, &g.ctext_tag)
        .unwrap_or_else(|e| panic!("{what}: gcm_open failed: {e}"));
    assert_eq!(hex::encode(&opened), hex::encode(&g.plaintext), "{what}: decryption");

    let sealed = vectors::gcm_seal(provider, &g.key_and_salt, &g.aad, &g.iv, &g.plaintext)
        .unwrap_or_else(|e| panic!("{what}: gcm_seal failed: {e}"));
    assert_eq!(hex::encode(&sealed), hex::encode(&g.ctext_tag), "{what}: encryption");

    let mut forged = g.ctext_tag.clone();
    *forged.last_mut().expect("tag") ^= 0x01;
    assert_eq!(
        vectors::gcm_open(provider, &g.key_and_salt, &g.aad, &g.iv, &forged).err(),
        Some(Error::IcvMismatch),
        "{what}: forged tag"
    );
}

/// Feeds the published ESP packet to an inbound SA and compares what comes out with the
/// published plaintext, read as RFC 4303 §2.4 lays out the trailer: payload, padding,
/// Pad Length, Next Header. Every packet of the draft has Next Header 1 (ICMP), which
/// only a transport-mode SA accepts.
fn check_gcm_decapsulate(p: &GcmPacket, provider: &Provider) {
    let g = p.decode();
    let what = format!("{} [{}]", p.name, provider.name);
    let mut params =
        SaParams::new(g.spi, Mode::Transport, Encryption::AesGcm16, Integrity::None, &g.key_and_salt, &[]);
    params.esn = g.seq.len() == 8;
    let mut sa = InboundSa::with_provider(&params, provider).unwrap_or_else(|e| panic!("{what}: SA: {e}"));

    let n = g.plaintext.len();
    let next_header = g.plaintext[n - 1];
    let pad_len = usize::from(g.plaintext[n - 2]);
    let payload = &g.plaintext[..n - 2 - pad_len];
    let full_seq = g.seq.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));

    // An ESN packet with a non-zero high half arrives at an SA that has already seen the
    // packets before it: put the window's top just below it (RFC 4303 App. A2 then infers
    // the high half from the low one on the wire).
    let preset = |sa: &mut InboundSa| {
        if full_seq > u64::from(u32::MAX) {
            l2sec_esp::testing::set_highest_seq(sa, full_seq - 1);
        }
    };
    preset(&mut sa);

    let mut buf = g.packet.clone();
    let out = sa.decapsulate(&mut buf).unwrap_or_else(|e| panic!("{what}: decapsulate failed: {e}"));
    assert_eq!(hex::encode(&*out.payload), hex::encode(payload), "{what}: payload");
    assert_eq!(out.next_header, next_header, "{what}: next header");
    assert_eq!(out.seq, full_seq, "{what}: sequence number");
    assert_eq!(sa.highest_seq(), full_seq, "{what}: replay window top");

    // The same packet again is a replay, and a packet with a flipped ICV bit fails the
    // ICV check; neither may change the SA.
    let mut again = g.packet.clone();
    assert_eq!(sa.decapsulate(&mut again).err(), Some(Error::Replay(full_seq)), "{what}: replay");
    let mut fresh = InboundSa::with_provider(&params, provider).expect("SA");
    preset(&mut fresh);
    let before = fresh.highest_seq();
    let mut forged = g.packet.clone();
    *forged.last_mut().expect("icv") ^= 0x80;
    assert_eq!(fresh.decapsulate(&mut forged).err(), Some(Error::IcvMismatch), "{what}: forged ICV");
    assert_eq!(fresh.highest_seq(), before, "{what}: forged packet moved the window");
}

/// Generates, for one packet, a primitive test per provider and (when the packet fits an
/// SA) a decapsulation test per provider.
macro_rules! gcm_tests {
    ($packet:ident, $prim:ident, $prim_ring:ident) => {
        #[test]
        fn $prim() {
            check_gcm_primitive(&$packet, &Provider::RUSTCRYPTO);
        }
        #[cfg(feature = "ring")]
        #[test]
        fn $prim_ring() {
            check_gcm_primitive(&$packet, &Provider::RING);
        }
    };
    ($packet:ident, $prim:ident, $prim_ring:ident, $decap:ident, $decap_ring:ident) => {
        gcm_tests!($packet, $prim, $prim_ring);
        #[test]
        fn $decap() {
            check_gcm_decapsulate(&$packet, &Provider::RUSTCRYPTO);
        }
        #[cfg(feature = "ring")]
        #[test]
        fn $decap_ring() {
            check_gcm_decapsulate(&$packet, &Provider::RING);
        }
    };
}

// Packets an inbound SA can take: SPI ≥ 256, with a 32-bit sequence number or an ESN (for
// a non-zero high half the window is first moved just below the packet).
gcm_tests!(
    GCM_P2,
    gcm_p2_aes128_open_seal,
    gcm_p2_aes128_open_seal_ring,
    gcm_p2_aes128_decapsulate,
    gcm_p2_aes128_decapsulate_ring
);
gcm_tests!(
    GCM_P3,
    gcm_p3_aes256_open_seal,
    gcm_p3_aes256_open_seal_ring,
    gcm_p3_aes256_decapsulate,
    gcm_p3_aes256_decapsulate_ring
);
gcm_tests!(
    GCM_P7,
    gcm_p7_aes192_open_seal,
    gcm_p7_aes192_open_seal_ring,
    gcm_p7_aes192_decapsulate,
    gcm_p7_aes192_decapsulate_ring
);
gcm_tests!(
    GCM_P8,
    gcm_p8_aes128_esn_open_seal,
    gcm_p8_aes128_esn_open_seal_ring,
    gcm_p8_aes128_esn_decapsulate,
    gcm_p8_aes128_esn_decapsulate_ring
);
gcm_tests!(
    GCM_P12,
    gcm_p12_aes128_seq_ffffffff_open_seal,
    gcm_p12_aes128_seq_ffffffff_open_seal_ring,
    gcm_p12_aes128_seq_ffffffff_decapsulate,
    gcm_p12_aes128_seq_ffffffff_decapsulate_ring
);
gcm_tests!(
    GCM_P13,
    gcm_p13_aes128_esn_open_seal,
    gcm_p13_aes128_esn_open_seal_ring,
    gcm_p13_aes128_esn_decapsulate,
    gcm_p13_aes128_esn_decapsulate_ring
);

// SPI 0: reserved, no SA possible.
gcm_tests!(GCM_P4, gcm_p4_aes128_spi0_open_seal, gcm_p4_aes128_spi0_open_seal_ring);
// ESN with a non-zero high half.
gcm_tests!(
    GCM_P1,
    gcm_p1_aes128_esn_open_seal,
    gcm_p1_aes128_esn_open_seal_ring,
    gcm_p1_aes128_esn_decapsulate,
    gcm_p1_aes128_esn_decapsulate_ring
);
gcm_tests!(
    GCM_P5,
    gcm_p5_aes128_esn_open_seal,
    gcm_p5_aes128_esn_open_seal_ring,
    gcm_p5_aes128_esn_decapsulate,
    gcm_p5_aes128_esn_decapsulate_ring
);
gcm_tests!(
    GCM_P6,
    gcm_p6_aes128_esn_open_seal,
    gcm_p6_aes128_esn_open_seal_ring,
    gcm_p6_aes128_esn_decapsulate,
    gcm_p6_aes128_esn_decapsulate_ring
);
gcm_tests!(
    GCM_P9,
    gcm_p9_aes256_esn_open_seal,
    gcm_p9_aes256_esn_open_seal_ring,
    gcm_p9_aes256_esn_decapsulate,
    gcm_p9_aes256_esn_decapsulate_ring
);
gcm_tests!(
    GCM_P10,
    gcm_p10_aes128_esn_open_seal,
    gcm_p10_aes128_esn_open_seal_ring,
    gcm_p10_aes128_esn_decapsulate,
    gcm_p10_aes128_esn_decapsulate_ring
);
gcm_tests!(
    GCM_P11,
    gcm_p11_aes256_esn_open_seal,
    gcm_p11_aes256_esn_open_seal_ring,
    gcm_p11_aes256_esn_decapsulate,
    gcm_p11_aes256_esn_decapsulate_ring
);
gcm_tests!(
    GCM_P14,
    gcm_p14_aes256_esn_max_open_seal,
    gcm_p14_aes256_esn_max_open_seal_ring,
    gcm_p14_aes256_esn_max_decapsulate,
    gcm_p14_aes256_esn_max_decapsulate_ring
);
gcm_tests!(
    GCM_P16,
    gcm_p16_aes128_esn_open_seal,
    gcm_p16_aes128_esn_open_seal_ring,
    gcm_p16_aes128_esn_decapsulate,
    gcm_p16_aes128_esn_decapsulate_ring
);
gcm_tests!(
    GCM_P17,
    gcm_p17_aes128_esn_open_seal,
    gcm_p17_aes128_esn_open_seal_ring,
    gcm_p17_aes128_esn_decapsulate,
    gcm_p17_aes128_esn_decapsulate_ring
);

#[test]
fn gcm_esn_packet_fails_on_a_fresh_sa_without_the_high_half() {
    // Packet 1's ESN high half is 0x87654321. A fresh ESN SA infers a high half of 0, so
    // its AAD differs from the sender's and the ICV must not verify: this shows the
    // high half really enters the AAD (RFC 4106 §5).
    let g = GCM_P1.decode();
    let mut params =
        SaParams::new(g.spi, Mode::Transport, Encryption::AesGcm16, Integrity::None, &g.key_and_salt, &[]);
    params.esn = true;
    let mut sa = InboundSa::with_provider(&params, &Provider::RUSTCRYPTO).expect("SA");
    let mut buf = g.packet.clone();
    assert!(sa.decapsulate(&mut buf).is_err());
    assert_eq!(sa.highest_seq(), 0);
}

#[test]
fn gcm_32bit_seq_packet_fails_on_an_esn_sa() {
    // Packet 2 was sealed with an 8-byte AAD (no ESN); an ESN SA authenticates a 12-byte
    // one, so the ICV check must fail.
    let g = GCM_P2.decode();
    let mut params =
        SaParams::new(g.spi, Mode::Transport, Encryption::AesGcm16, Integrity::None, &g.key_and_salt, &[]);
    params.esn = true;
    let mut sa = InboundSa::with_provider(&params, &Provider::RUSTCRYPTO).expect("SA");
    let mut buf = g.packet.clone();
    assert_eq!(sa.decapsulate(&mut buf).err(), Some(Error::IcvMismatch));
}

// =======================================================================================
// HMAC: RFC 2202 §3, RFC 4231 §4, RFC 4868 §2.7
// =======================================================================================

// RFC 2202 §3 "Test Cases for HMAC-SHA-1": (case, key, data, digest).
const RFC2202_SHA1: [(u32, &str, &[u8], &str); 7] = [
    (1, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (
        2,
        "4a656665", /* "Jefe" */
        b"what do ya want for nothing?",
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    ),
    (3, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &[0xdd; 50], "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    (
        4,
        "0102030405060708090a0b0c0d0e0f10111213141516171819",
        &[0xcd; 50],
        "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
    ),
    (
        5,
        "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
        b"Test With Truncation",
        "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04",
    ),
    (
        6,
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
         aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // 0xaa × 80
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "aa4ae5e15272d00e95705637ce8a3b55ed402112",
    ),
    (
        7,
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
         aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // 0xaa × 80
        b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
        "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
    ),
];

// RFC 2202 §3, test case 5: "digest-96 = 0x4c1a03424b55e07fe7f27be1", the HMAC-SHA-1-96
// of RFC 2404.
const RFC2202_CASE5_DIGEST96: &str = "4c1a03424b55e07fe7f27be1";

fn full_hmac(integrity: Integrity, key: &[u8], data: &[u8]) -> Vec<u8> {
    vectors::hmac(integrity, key, data).unwrap_or_else(|e| panic!("hmac({integrity:?}) failed: {e}"))
}

fn icv(integrity: Integrity, key: &[u8], data: &[u8]) -> Vec<u8> {
    vectors::icv(integrity, key, data).unwrap_or_else(|e| panic!("icv({integrity:?}) failed: {e}"))
}

#[test]
fn rfc2202_hmac_sha1_cases_1_to_7() {
    for (case, key, data, digest) in RFC2202_SHA1 {
        let key = h(key);
        let digest = h(digest);
        assert_eq!(
            hex::encode(full_hmac(Integrity::HmacSha1_96, &key, data)),
            hex::encode(&digest),
            "RFC 2202 case {case}"
        );
        // HMAC-SHA1-96 (RFC 2404 §2): the first 96 bits of the digest.
        assert_eq!(
            hex::encode(icv(Integrity::HmacSha1_96, &key, data)),
            hex::encode(&digest[..12]),
            "RFC 2202 case {case}, 96-bit ICV"
        );
    }
}

#[test]
fn rfc2202_case5_hmac_sha1_96() {
    let (_, key, data, _) = RFC2202_SHA1[4];
    assert_eq!(hex::encode(icv(Integrity::HmacSha1_96, &h(key), data)), RFC2202_CASE5_DIGEST96);
}

/// One RFC 4231 §4 case: key, data and the HMAC-SHA-256, -384 and -512 values.
struct Rfc4231 {
    case: u32,
    key: &'static str,
    data: &'static str,
    sha256: &'static str,
    sha384: &'static str,
    sha512: &'static str,
}

// RFC 4231 §4.2, Test Case 1.
const RFC4231_CASE1: Rfc4231 = Rfc4231 {
    case: 1,
    key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
          0b0b0b0b",
    data: "4869205468657265", // "Hi There"
    sha256: "b0344c61d8db38535ca8afceaf0bf12b
             881dc200c9833da726e9376c2e32cff7",
    sha384: "afd03944d84895626b0825f4ab46907f
             15f9dadbe4101ec682aa034c7cebc59c
             faea9ea9076ede7f4af152e8b2fa9cb6",
    sha512: "87aa7cdea5ef619d4ff0b4241a1d6cb0
             2379f4e2ce4ec2787ad0b30545e17cde
             daa833b7d6b8a702038b274eaea3f4e4
             be9d914eeb61f1702e696c203a126854",
};

// RFC 4231 §4.3, Test Case 2: a key shorter than the output.
const RFC4231_CASE2: Rfc4231 = Rfc4231 {
    case: 2,
    key: "4a656665", // "Jefe"
    data: "7768617420646f2079612077616e7420
           666f72206e6f7468696e673f", // "what do ya want for nothing?"
    sha256: "5bdcc146bf60754e6a042426089575c7
             5a003f089d2739839dec58b964ec3843",
    sha384: "af45d2e376484031617f78d2b58a6b1b
             9c7ef464f5a01b47e42ec3736322445e
             8e2240ca5e69e2c78b3239ecfab21649",
    sha512: "164b7a7bfcf819e2e395fbe73b56e0a3
             87bd64222e831fd610270cd7ea250554
             9758bf75c05a994a6d034f65f8f0e6fd
             caeab1a34d4a6b4b636e070a38bce737",
};

// RFC 4231 §4.4, Test Case 3.
const RFC4231_CASE3: Rfc4231 = Rfc4231 {
    case: 3,
    key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaa",
    data: "dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd
           dddd",
    sha256: "773ea91e36800e46854db8ebd09181a7
             2959098b3ef8c122d9635514ced565fe",
    sha384: "88062608d3e6ad8a0aa2ace014c8a86f
             0aa635d947ac9febe83ef4e55966144b
             2a5ab39dc13814b94e3ab6e101a34f27",
    sha512: "fa73b0089d56a284efb0f0756c890be9
             b1b5dbdd8ee81a3655f83e33b2279d39
             bf3e848279a722c806b485a47e67c807
             b946a337bee8942674278859e13292fb",
};

// RFC 4231 §4.5, Test Case 4.
const RFC4231_CASE4: Rfc4231 = Rfc4231 {
    case: 4,
    key: "0102030405060708090a0b0c0d0e0f10
          111213141516171819",
    data: "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcd",
    sha256: "82558a389a443c0ea4cc819899f2083a
             85f0faa3e578f8077a2e3ff46729665b",
    sha384: "3e8a69b7783c25851933ab6290af6ca7
             7a9981480850009cc5577c6e1f573b4e
             6801dd23c4a7d679ccf8a386c674cffb",
    sha512: "b0ba465637458c6990e5a8c5f61d4af7
             e576d97ff94b872de76f8050361ee3db
             a91ca5c11aa25eb4d679275cc5788063
             a5f19741120c4f2de2adebeb10a298dd",
};

// RFC 4231 §4.6, Test Case 5: output truncated to 128 bits (only those are published).
const RFC4231_CASE5: Rfc4231 = Rfc4231 {
    case: 5,
    key: "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c
          0c0c0c0c",
    data: "546573742057697468205472756e6361
           74696f6e", // "Test With Truncation"
    sha256: "a3b6167473100ee06e0c796c2955552b",
    sha384: "3abf34c3503b2a23a46efc619baef897",
    sha512: "415fad6271580a531d4179bc891d87a6",
};

// RFC 4231 §4.7, Test Case 6: a key larger than the block size (0xaa × 131).
const RFC4231_CASE6: Rfc4231 = Rfc4231 {
    case: 6,
    key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaa",
    data: "54657374205573696e67204c61726765
           72205468616e20426c6f636b2d53697a
           65204b6579202d2048617368204b6579
           204669727374", // "Test Using Larger Than Block-Size Key - Hash Key First"
    sha256: "60e431591ee0b67f0d8a26aacbf5b77f
             8e0bc6213728c5140546040f0ee37f54",
    sha384: "4ece084485813e9088d2c63a041bc5b4
             4f9ef1012a2b588f3cd11f05033ac4c6
             0c2ef6ab4030fe8296248df163f44952",
    sha512: "80b24263c7c1a3ebb71493c1dd7be8b4
             9b46d1f41b4aeec1121b013783f8f352
             6b56d037e05f2598bd0fd2215d6a1e52
             95e64f73f63f0aec8b915a985d786598",
};

// RFC 4231 §4.8, Test Case 7: key and data larger than the block size.
const RFC4231_CASE7: Rfc4231 = Rfc4231 {
    case: 7,
    key: RFC4231_CASE6.key,
    data: "54686973206973206120746573742075
           73696e672061206c6172676572207468
           616e20626c6f636b2d73697a65206b65
           7920616e642061206c61726765722074
           68616e20626c6f636b2d73697a652064
           6174612e20546865206b6579206e6565
           647320746f2062652068617368656420
           6265666f7265206265696e6720757365
           642062792074686520484d414320616c
           676f726974686d2e",
    sha256: "9b09ffa71b942fcb27635fbcd5b0e944
             bfdc63644f0713938a7f51535c3a35e2",
    sha384: "6617178e941f020d351e2f254e8fd32c
             602420feb0b8fb9adccebb82461e99c5
             a678cc31e799176d3860e6110c46523e",
    sha512: "e37b6a775dc87dbaa4dfa9f96e5e3ffd
             debd71f8867289865df5a32d20cdc944
             b6022cac3c4982b10d5eeb55c3e4de15
             134676fb6de0446065c97440fa8c6a58",
};

const RFC4231: [Rfc4231; 7] =
    [RFC4231_CASE1, RFC4231_CASE2, RFC4231_CASE3, RFC4231_CASE4, RFC4231_CASE5, RFC4231_CASE6, RFC4231_CASE7];

/// Compares the HMAC with the published value; when the RFC publishes only a prefix
/// (Test Case 5), the prefix of the full output.
fn check_rfc4231(integrity: Integrity, c: &Rfc4231, expected: &str) {
    let out = full_hmac(integrity, &h(c.key), &h(c.data));
    let expected = h(expected);
    assert!(out.len() >= expected.len(), "RFC 4231 case {}: output too short", c.case);
    if c.case == 5 {
        assert_eq!(expected.len(), 16, "case 5 publishes 128 bits");
    } else {
        assert_eq!(out.len(), expected.len(), "RFC 4231 case {}: output length", c.case);
    }
    assert_eq!(
        hex::encode(&out[..expected.len()]),
        hex::encode(&expected),
        "RFC 4231 case {} {integrity:?}",
        c.case
    );
}

#[test]
fn rfc4231_hmac_sha256_cases_1_to_7() {
    for c in &RFC4231 {
        check_rfc4231(Integrity::HmacSha256_128, c, c.sha256);
    }
}

#[test]
fn rfc4231_hmac_sha384_cases_1_to_7() {
    for c in &RFC4231 {
        check_rfc4231(Integrity::HmacSha384_192, c, c.sha384);
    }
}

#[test]
fn rfc4231_hmac_sha512_cases_1_to_7() {
    for c in &RFC4231 {
        check_rfc4231(Integrity::HmacSha512_256, c, c.sha512);
    }
}

#[test]
fn rfc4231_case5_is_the_hmac_sha256_128_icv() {
    // Case 5's published 128 bits are exactly what HMAC-SHA-256-128 (RFC 4868) puts in an
    // ICV, and their first 96 bits what the pre-RFC 4868 HMAC-SHA-256-96 puts there.
    let c = &RFC4231_CASE5;
    let expected = h(c.sha256);
    assert_eq!(hex::encode(icv(Integrity::HmacSha256_128, &h(c.key), &h(c.data))), hex::encode(&expected));
    assert_eq!(
        hex::encode(icv(Integrity::HmacSha256_96, &h(c.key), &h(c.data))),
        hex::encode(&expected[..12])
    );
}

#[test]
fn rfc4868_prf_vectors_are_rfc4231_cases() {
    // RFC 4868 §2.7.1: PRF-1 … PRF-6 are RFC 4231 Test Cases 1, 2, 3, 4, 6 and 7 with
    // the full (untruncated) output, for PRF-HMAC-SHA-256/384/512.
    for c in RFC4231.iter().filter(|c| c.case != 5) {
        for (integrity, expected) in [
            (Integrity::HmacSha256_128, c.sha256),
            (Integrity::HmacSha384_192, c.sha384),
            (Integrity::HmacSha512_256, c.sha512),
        ] {
            let out = full_hmac(integrity, &h(c.key), &h(c.data));
            assert_eq!(
                hex::encode(out),
                hex::encode(h(expected)),
                "PRF from RFC 4231 case {} {integrity:?}",
                c.case
            );
        }
    }
}

/// One RFC 4868 §2.7.2 authenticator case: key, data, the PRF output and the truncated
/// authenticator (HMAC-SHA-256-128 / -384-192 / -512-256) the RFC prints, which is the
/// leading 128 / 192 / 256 bits of the PRF output.
struct Rfc4868Auth {
    name: &'static str,
    integrity: Integrity,
    key: &'static str,
    data: &'static str,
    prf: &'static str,
    auth: &'static str,
}

// RFC 4868 §2.7.2.1, Test Case AUTH256-1.
const AUTH256_1: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH256-1",
    integrity: Integrity::HmacSha256_128,
    key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
          0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    data: "4869205468657265", // "Hi There"
    prf: "198a607eb44bfbc69903a0f1cf2bbdc5
          ba0aa3f3d9ae3c1c7a3b1696a0b68cf7",
    auth: "198a607eb44bfbc69903a0f1cf2bbdc5",
};

// RFC 4868 §2.7.2.1, Test Case AUTH256-2.
const AUTH256_2: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH256-2",
    integrity: Integrity::HmacSha256_128,
    key: "4a6566654a6566654a6566654a656665
          4a6566654a6566654a6566654a656665", // "JefeJefeJefeJefe" × 2
    data: "7768617420646f2079612077616e7420
           666f72206e6f7468696e673f", // "what do ya want for nothing?"
    prf: "167f928588c5cc2eef8e3093caa0e87c
          9ff566a14794aa61648d81621a2a40c6",
    auth: "167f928588c5cc2eef8e3093caa0e87c",
};

// RFC 4868 §2.7.2.1, Test Case AUTH256-3.
const AUTH256_3: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH256-3",
    integrity: Integrity::HmacSha256_128,
    key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    data: "dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd
           dddd",
    prf: "cdcb1220d1ecccea91e53aba3092f962
          e549fe6ce9ed7fdc43191fbde45c30b0",
    auth: "cdcb1220d1ecccea91e53aba3092f962",
};

// RFC 4868 §2.7.2.1, Test Case AUTH256-4.
const AUTH256_4: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH256-4",
    integrity: Integrity::HmacSha256_128,
    key: "0102030405060708090a0b0c0d0e0f10
          1112131415161718191a1b1c1d1e1f20",
    data: "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcd",
    prf: "372efcf9b40b35c2115b1346903d2ef4
          2fced46f0846e7257bb156d3d7b30d3f",
    auth: "372efcf9b40b35c2115b1346903d2ef4",
};

// RFC 4868 §2.7.2.2, Test Case AUTH384-1.
const AUTH384_1: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH384-1",
    integrity: Integrity::HmacSha384_192,
    key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
          0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
          0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    data: "4869205468657265", // "Hi There"
    prf: "b6a8d5636f5c6a7224f9977dcf7ee6c7
          fb6d0c48cbdee9737a959796489bddbc
          4c5df61d5b3297b4fb68dab9f1b582c2",
    auth: "b6a8d5636f5c6a7224f9977dcf7ee6c7
           fb6d0c48cbdee973",
};

// RFC 4868 §2.7.2.2, Test Case AUTH384-2.
const AUTH384_2: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH384-2",
    integrity: Integrity::HmacSha384_192,
    key: "4a6566654a6566654a6566654a656665
          4a6566654a6566654a6566654a656665
          4a6566654a6566654a6566654a656665", // "JefeJefeJefeJefe" × 3
    data: "7768617420646f2079612077616e7420
           666f72206e6f7468696e673f", // "what do ya want for nothing?"
    prf: "2c7353974f1842fd66d53c452ca42122
          b28c0b594cfb184da86a368e9b8e16f5
          349524ca4e82400cbde0686d403371c9",
    auth: "2c7353974f1842fd66d53c452ca42122
           b28c0b594cfb184d",
};

// RFC 4868 §2.7.2.2, Test Case AUTH384-3.
const AUTH384_3: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH384-3",
    integrity: Integrity::HmacSha384_192,
    key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    data: "dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd
           dddd",
    prf: "809f439be00274321d4a538652164b53
          554a508184a0c3160353e3428597003d
          35914a18770f9443987054944b7c4b4a",
    auth: "809f439be00274321d4a538652164b53
           554a508184a0c316",
};

// RFC 4868 §2.7.2.2, Test Case AUTH384-4.
const AUTH384_4: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH384-4",
    integrity: Integrity::HmacSha384_192,
    key: "0102030405060708090a0b0c0d0e0f10
          1112131415161718191a1b1c1d1e1f20
          0a0b0c0d0e0f10111213141516171819",
    data: "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcd",
    prf: "5b540085c6e6358096532b2493609ed1
          cb298f774f87bb5c2ebf182c83cc7428
          707fb92eab2536a5812258228bc96687",
    auth: "5b540085c6e6358096532b2493609ed1
           cb298f774f87bb5c",
};

// RFC 4868 §2.7.2.3, Test Case AUTH512-1.
const AUTH512_1: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH512-1",
    integrity: Integrity::HmacSha512_256,
    key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
          0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
          0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
          0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    data: "4869205468657265", // "Hi There"
    prf: "637edc6e01dce7e6742a99451aae82df
          23da3e92439e590e43e761b33e910fb8
          ac2878ebd5803f6f0b61dbce5e251ff8
          789a4722c1be65aea45fd464e89f8f5b",
    auth: "637edc6e01dce7e6742a99451aae82df
           23da3e92439e590e43e761b33e910fb8",
};

// RFC 4868 §2.7.2.3, Test Case AUTH512-2.
const AUTH512_2: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH512-2",
    integrity: Integrity::HmacSha512_256,
    key: "4a6566654a6566654a6566654a656665
          4a6566654a6566654a6566654a656665
          4a6566654a6566654a6566654a656665
          4a6566654a6566654a6566654a656665", // "JefeJefeJefeJefe" × 4
    data: "7768617420646f2079612077616e7420
           666f72206e6f7468696e673f", // "what do ya want for nothing?"
    prf: "cb370917ae8a7ce28cfd1d8f4705d614
          1c173b2a9362c15df235dfb251b15454
          6aa334ae9fb9afc2184932d8695e397b
          fa0ffb93466cfcceaae38c833b7dba38",
    auth: "cb370917ae8a7ce28cfd1d8f4705d614
           1c173b2a9362c15df235dfb251b15454",
};

// RFC 4868 §2.7.2.3, Test Case AUTH512-3.
const AUTH512_3: Rfc4868Auth = Rfc4868Auth {
    name: "AUTH512-3",
    integrity: Integrity::HmacSha512_256,
    key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    data: "dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd
           dddd",
    prf: "2ee7acd783624ca9398710f3ee05ae41
          b9f9b0510c87e49e586cc9bf961733d8
          623c7b55cebefccf02d5581acc1c9d5f
          b1ff68a1de45509fbe4da9a433922655",
    auth: "2ee7acd783624ca9398710f3ee05ae41
           b9f9b0510c87e49e586cc9bf961733d8",
};

// RFC 4868 §2.7.2.3, Test Case AUTH512-4 is left out: implementers report that the value
// printed in the RFC is not the HMAC of the printed key and data (Nettle's test suite
// drops it; others substitute a value they computed), so there is no published value to
// check against.

const RFC4868_AUTH: [Rfc4868Auth; 11] = [
    AUTH256_1, AUTH256_2, AUTH256_3, AUTH256_4, AUTH384_1, AUTH384_2, AUTH384_3, AUTH384_4, AUTH512_1,
    AUTH512_2, AUTH512_3,
];

#[test]
fn rfc4868_auth_vectors_full_and_truncated() {
    for c in &RFC4868_AUTH {
        let key = h(c.key);
        let data = h(c.data);
        assert_eq!(key.len(), c.integrity.key_len(), "{}: the RFC uses the algorithm's key length", c.name);
        assert_eq!(
            hex::encode(full_hmac(c.integrity, &key, &data)),
            hex::encode(h(c.prf)),
            "{}: PRF output",
            c.name
        );
        let auth = h(c.auth);
        assert_eq!(auth.len(), c.integrity.icv_len(), "{}: truncation length", c.name);
        assert_eq!(
            hex::encode(icv(c.integrity, &key, &data)),
            hex::encode(auth),
            "{}: authenticator",
            c.name
        );
    }
}

#[test]
fn hmac_hook_refuses_integrity_none() {
    assert!(vectors::hmac(Integrity::None, b"key", b"data").is_err());
    assert!(vectors::icv(Integrity::None, b"key", b"data").is_err());
}
