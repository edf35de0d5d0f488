//! Published and captured test vectors: RFC 2865 §7, and packets exchanged between
//! radclient and FreeRADIUS 3.2.1 in the lab (samples/freeradius-test-radius.pcap, secret
//! `testing123`), whose MPPE keys are the RFC 3079 §3.5.3 values.

use std::net::Ipv4Addr;

use l2sec_radius_auth::attr::{Attribute, FramedProtocol, LoginService, ServiceType, Text, VendorSpecific};
use l2sec_radius_auth::crypto;
use l2sec_radius_auth::ms::{MppeEncryptionPolicy, MppeEncryptionTypes, MsAttribute};
use l2sec_radius_auth::reply::Reply;
use l2sec_radius_auth::wire::{Code, Packet, PacketWriter};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("hex literal")
}

// ------------------------------------------------------------------ RFC 2865 §7.1
const RFC_SECRET: &[u8] = b"xyzzy5461";
const RFC_7_1_REQUEST: &str = "01000038 0f403f9473978057bd83d5cb98f4227a 01066e656d6f \
    02120dbe708d93d413ce3196e43f782a0aee 0406c0a80110 050600000003";
const RFC_7_1_ACCEPT: &str = "02000026 86fe220e7624ba2a1005f6bf9b55e0b2 060600000001 \
    0f0600000000 0e06c0a80103";

#[test]
fn rfc2865_7_1_access_request_is_built_byte_for_byte() {
    let ra: [u8; 16] = unhex("0f403f9473978057bd83d5cb98f4227a").try_into().unwrap();
    let mut out = Vec::new();
    let mut w = PacketWriter::new(&mut out, Code::ACCESS_REQUEST, 0, ra);
    w.push(&Attribute::UserName(Text(b"nemo"))).unwrap();
    w.push_with(2, |o| crypto::hide_user_password(b"arctangent", RFC_SECRET, &ra, o)).unwrap();
    w.push(&Attribute::NasIpAddress(Ipv4Addr::new(192, 168, 1, 16))).unwrap();
    w.push(&Attribute::NasPort(3)).unwrap();
    w.finish_request(RFC_SECRET);
    assert_eq!(hex::encode(&out), hex::encode(unhex(RFC_7_1_REQUEST)));
}

#[test]
fn rfc2865_7_1_request_parses_and_password_recovers() {
    let bytes = unhex(RFC_7_1_REQUEST);
    let p = Packet::parse(&bytes).unwrap();
    assert_eq!(p.code(), Code::ACCESS_REQUEST);
    let attrs: Vec<_> = p.typed_attributes().collect();
    assert_eq!(attrs[0], Attribute::UserName(Text(b"nemo")));
    let Attribute::UserPassword(hidden) = attrs[1] else { panic!("{:?}", attrs[1]) };
    let pw = crypto::recover_user_password(hidden, RFC_SECRET, &p.authenticator()).unwrap();
    assert_eq!(&pw[..], b"arctangent");
    assert_eq!(attrs[2], Attribute::NasIpAddress(Ipv4Addr::new(192, 168, 1, 16)));
    assert_eq!(attrs[3], Attribute::NasPort(3));
    let mut again = Vec::new();
    p.encode(&mut again);
    assert_eq!(again, bytes);
}

#[test]
fn rfc2865_7_1_accept_authenticator_verifies_and_attributes_are_typed() {
    let req = unhex(RFC_7_1_REQUEST);
    let ra = Packet::parse(&req).unwrap().authenticator();
    let bytes = unhex(RFC_7_1_ACCEPT);
    let p = Packet::parse(&bytes).unwrap();
    assert!(p.verify_response_authenticator(&ra, RFC_SECRET));
    assert!(!p.verify_response_authenticator(&ra, b"xyzzy5462"));
    let attrs: Vec<_> = p.typed_attributes().collect();
    assert_eq!(
        attrs,
        vec![
            Attribute::ServiceType(ServiceType::LOGIN),
            Attribute::LoginService(LoginService::TELNET),
            Attribute::LoginIpHost(Ipv4Addr::new(192, 168, 1, 3)),
        ]
    );
    // Rebuilding the answer as a server would gives the RFC's octets.
    let mut out = Vec::new();
    let mut w = PacketWriter::new(&mut out, Code::ACCESS_ACCEPT, 0, [0; 16]);
    for a in &attrs {
        w.push(a).unwrap();
    }
    w.finish_response(&ra, RFC_SECRET);
    assert_eq!(out, bytes);
}

// ------------------------------------------------------------------ RFC 2865 §7.2
// CHAP user "flopsy" on port 20, Framed PPP; the Request Authenticator is the challenge.
const RFC_7_2_REQUEST: &str = "01010047 2aee86f08d0d55969ca5978e0d3367a2 0108666c6f707379 \
    0313 16 e97557c316185895f293ff6344077275 0406c0a80110 050600000014 060600000002 \
    070600000001";
const RFC_7_2_ACCEPT: &str = "02010038 15efbc7dab26cfa3dc34d9c03c8601a4 060600000002 \
    070600000001 0806fffffffe 0a0600000002 0d0600000001 0c06000005dc";

#[test]
fn rfc2865_7_2_chap_request_and_accept() {
    let req = unhex(RFC_7_2_REQUEST);
    let p = Packet::parse(&req).unwrap();
    let attrs: Vec<_> = p.typed_attributes().collect();
    assert_eq!(attrs[0], Attribute::UserName(Text(b"flopsy")));
    let Attribute::ChapPassword(chap) = attrs[1] else { panic!("{:?}", attrs[1]) };
    assert_eq!(chap.ident, 0x16);
    assert_eq!(attrs[4], Attribute::ServiceType(ServiceType::FRAMED));
    assert_eq!(attrs[5], Attribute::FramedProtocol(FramedProtocol::PPP));
    let acc = unhex(RFC_7_2_ACCEPT);
    let a = Packet::parse(&acc).unwrap();
    assert!(a.verify_response_authenticator(&p.authenticator(), RFC_SECRET));
    let typed: Vec<_> = a.typed_attributes().collect();
    assert_eq!(typed[2], Attribute::FramedIpAddress(Ipv4Addr::new(255, 255, 255, 254)));
    assert_eq!(typed[5], Attribute::FramedMtu(1500));
}

// ------------------------------------------------------------------ lab captures
const LAB_SECRET: &[u8] = b"testing123";
/// radclient: PAP with Message-Authenticator (frame 3).
const LAB_PAP_MA_REQUEST: &str = "014b003f7812c22b07fd43ca80308ae2d7b2b0480107616c6963650212e37af5e013e1fa52821c94774c4d3fc7501261bb0f2484d876d4b6186d4631ec38a0";
/// FreeRADIUS: its Access-Accept (frame 4), no Message-Authenticator.
const LAB_PAP_MA_ACCEPT: &str =
    "024b002d6dfc66449c55d1cd9ad795a3e2f6352a060600000002070600000001120d48656c6c6f20616c696365";
/// radclient: Status-Server (frame 27) and FreeRADIUS's answer (frame 28).
const LAB_STATUS_SERVER: &str =
    "0c7f0026b760470158a8207d7eb1a407b3a0ed5c50120c8588fb81832f101ed423aad05583b1";
const LAB_STATUS_ACCEPT: &str = "027f00141dfd48fec26d57a7f46649b992724016";
/// MS-CHAPv2 with the RFC 2759 §9.2 vector (frames 17, 18).
const LAB_MSCHAP_REQUEST: &str = "011e006c009bb57ae4fea40542f8a0cb89a1ca560106557365721a18000001370b125b5d7c7d7b3f2f3e3c2c6021322626281a3a000001371934010021402324255e262a28295f2b3a337c7e000000000000000082309ecd8d708b5ea08faa3981cd83544233114a3d85d6df";
const LAB_MSCHAP_ACCEPT: &str = "021e00bf2450fdcc2abdde3464e3013689235d810606000000020706000000011a33000001371a2d01533d343037413535383931313546443044363230394635313046453943303435363639333243444135361a2a000001371124832edff41f0d1e908faf816c12e68d8b0e8222876824e92193e7363c32d0ea678dad1a2a0000013710248a0bf53b8ccd8265915fd76702dbcf3552f939d5b906da3b3ef8c3f0f61c2f5ad0ce1a0c000001370706000000011a0c00000137080600000006";
/// fixedip PAP (frames 11, 12).
const LAB_FIXEDIP_REQUEST: &str =
    "0100002f7166fae24a65e2c39c1105f10c5c4ac50109666978656469700212cc029ffb3e399c2795d0c9877507f5c0";
const LAB_FIXEDIP_ACCEPT: &str = "0200005196077c1d041d0e67fb0de1c28095cde40606000000020706000000010806c000020a0906ffffffff0c06000005781b0600000e101c060000025855060000003c190d6c61622d636c6173732d31";
/// bob is rejected (frames 13, 14).
const LAB_BOB_REQUEST: &str =
    "0125002b2d1971c6d9bd841b41ecf6245f6a7a480105626f62021271faa11155fd8b29e9c3cdeee5ad26fa";
const LAB_BOB_REJECT: &str = "03250025a1aead3a09a2b037d17b6721f313372e1211626f622069732072656a6563746564";
/// Accounting Start and its response (frames 29, 30); a wrong-secret request (frame 35).
const LAB_ACCT_START: &str = "0409005d2541a40187eb19eab59055a738a45e700109666978656469702806000000012c106c61622d32373434312d3439383104067f0000010506000000010806c000020a2e060000002a2a06000003e82b06000007d0310600000001";
const LAB_ACCT_RESPONSE: &str = "05090014e81eb5756ff630e2bacb0a4a678e91a1";
const LAB_ACCT_WRONG_SECRET: &str = "045500204e85d39d1e8549bbd2812241828834b40103782806000000012c0379";

/// RFC 3079 §3.5.3: the keys for the RFC 2759 §9.2 exchange (128-bit); the NAS's send
/// key is the server's send key.
const RFC3079_SEND_KEY: &str = "8b7cdc149b993a1ba118cb153f56dccb";
const RFC3079_RECV_KEY: &str = "d5f0e9521e3ea9589645e86051c82226";

#[test]
fn message_authenticator_of_radclient_packets_verifies() {
    for req in [LAB_PAP_MA_REQUEST, LAB_STATUS_SERVER] {
        let bytes = unhex(req);
        let p = Packet::parse(&bytes).unwrap();
        let ra = p.authenticator();
        assert_eq!(p.verify_message_authenticator(&ra, LAB_SECRET), Some(true), "{req}");
        assert_eq!(p.verify_message_authenticator(&ra, b"testing124"), Some(false));
        // Recompute it independently of the verifier.
        let off = p.message_authenticator_offset().unwrap();
        let mac = crypto::message_authenticator(&bytes, off, &ra, LAB_SECRET);
        assert_eq!(&mac[..], &bytes[off..off + 16]);
        // One flipped bit anywhere breaks it.
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        let bp = Packet::parse(&bad).unwrap();
        assert_eq!(bp.verify_message_authenticator(&ra, LAB_SECRET), Some(false));
    }
    // The Status-Server MA, byte for byte: value of the captured packet.
    let bytes = unhex(LAB_STATUS_SERVER);
    let mac = crypto::message_authenticator(&bytes, 22, &bytes[4..20].try_into().unwrap(), LAB_SECRET);
    assert_eq!(hex::encode(mac), "0c8588fb81832f101ed423aad05583b1");
}

#[test]
fn pap_password_of_capture_recovers() {
    let bytes = unhex(LAB_PAP_MA_REQUEST);
    let p = Packet::parse(&bytes).unwrap();
    let hidden = p.find(2).unwrap();
    let pw = crypto::recover_user_password(hidden, LAB_SECRET, &p.authenticator()).unwrap();
    assert_eq!(&pw[..], b"alicepass");
    let resp = unhex(LAB_PAP_MA_ACCEPT);
    let r = Packet::parse(&resp).unwrap();
    assert!(r.verify_response_authenticator(&p.authenticator(), LAB_SECRET));
    assert_eq!(r.verify_message_authenticator(&p.authenticator(), LAB_SECRET), None);
    let st = unhex(LAB_STATUS_ACCEPT);
    let sp = Packet::parse(&st).unwrap();
    assert!(
        sp.verify_response_authenticator(&unhex(LAB_STATUS_SERVER)[4..20].try_into().unwrap(), LAB_SECRET)
    );
}

#[test]
fn mppe_keys_from_freeradius_decrypt_to_rfc3079_values() {
    let req = unhex(LAB_MSCHAP_REQUEST);
    let rp = Packet::parse(&req).unwrap();
    let ra = rp.authenticator();
    // The request carries the RFC 2759 §9.2 challenge and response, typed.
    let ms: Vec<_> = rp
        .typed_attributes()
        .filter_map(|a| match a {
            Attribute::VendorSpecific(VendorSpecific::Microsoft(m)) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0], MsAttribute::ChapChallenge(&unhex("5B5D7C7D7B3F2F3E3C2C602132262628")));
    let MsAttribute::Chap2Response(r) = ms[1] else { panic!("{:?}", ms[1]) };
    assert_eq!(r.peer_challenge.to_vec(), unhex("21402324255E262A28295F2B3A337C7E"));
    assert_eq!(r.nt_response.to_vec(), unhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"));

    let resp = unhex(LAB_MSCHAP_ACCEPT);
    let p = Packet::parse(&resp).unwrap();
    assert!(p.verify_response_authenticator(&ra, LAB_SECRET));
    let mut send = None;
    let mut recv = None;
    for a in p.typed_attributes() {
        if let Attribute::VendorSpecific(VendorSpecific::Microsoft(m)) = a {
            match m {
                MsAttribute::MppeSendKey(k) => send = Some(k),
                MsAttribute::MppeRecvKey(k) => recv = Some(k),
                MsAttribute::Chap2Success(s) => {
                    assert_eq!(s.ident, 1);
                    assert_eq!(s.text.as_str(), Some("S=407A5589115FD0D6209F510FE9C04566932CDA56"));
                }
                _ => {}
            }
        }
    }
    let (send, recv) = (send.unwrap(), recv.unwrap());
    assert_ne!(send.salt[0] & 0x80, 0, "salt high bit");
    assert_eq!(hex::encode(&send.decrypt(LAB_SECRET, &ra).unwrap()[..]), RFC3079_SEND_KEY);
    assert_eq!(hex::encode(&recv.decrypt(LAB_SECRET, &ra).unwrap()[..]), RFC3079_RECV_KEY);
    // Wrong secret: garbage, refused by the length check or at least not the key.
    let wrong = send.decrypt(b"testing124", &ra);
    assert!(wrong.is_none_or(|k| hex::encode(&k[..]) != RFC3079_SEND_KEY));

    // Our encryption with FreeRADIUS's salt gives FreeRADIUS's octets.
    let mut ours = Vec::new();
    crypto::salt_encrypt(&unhex(RFC3079_SEND_KEY), LAB_SECRET, &ra, send.salt, &mut ours).unwrap();
    assert_eq!(&ours[2..], send.ciphertext);

    // The owned reply surfaces all of it.
    let Some(Reply::AccessAccept(acc)) = reply_of(&p, &ra) else { panic!() };
    let mppe = acc.mppe.as_ref().unwrap();
    assert_eq!(hex::encode(&mppe.send_key[..]), RFC3079_SEND_KEY);
    assert_eq!(hex::encode(&mppe.recv_key[..]), RFC3079_RECV_KEY);
    assert_eq!(mppe.policy, Some(MppeEncryptionPolicy::ALLOWED));
    assert_eq!(mppe.types, Some(MppeEncryptionTypes::RC4_40_OR_128));
    assert!(!format!("{mppe:?}").contains("8b7c"), "keys never in Debug");
    assert_eq!(acc.ms_chap2_success.as_ref().unwrap().message, b"S=407A5589115FD0D6209F510FE9C04566932CDA56");
}

fn reply_of(p: &Packet<'_>, ra: &[u8; 16]) -> Option<Reply> {
    Reply::from_verified(p, LAB_SECRET, ra)
}

#[test]
fn framed_attributes_of_fixedip_accept() {
    let req = unhex(LAB_FIXEDIP_REQUEST);
    let ra = Packet::parse(&req).unwrap().authenticator();
    let resp = unhex(LAB_FIXEDIP_ACCEPT);
    let p = Packet::parse(&resp).unwrap();
    assert!(p.verify_response_authenticator(&ra, LAB_SECRET));
    let Some(Reply::AccessAccept(acc)) = reply_of(&p, &ra) else { panic!() };
    assert_eq!(acc.framed_ip_address, Some(Ipv4Addr::new(192, 0, 2, 10)));
    assert_eq!(acc.framed_ip_netmask, Some(Ipv4Addr::new(255, 255, 255, 255)));
    assert_eq!(acc.framed_mtu, Some(1400));
    assert_eq!(acc.session_timeout, Some(3600));
    assert_eq!(acc.idle_timeout, Some(600));
    assert_eq!(acc.acct_interim_interval, Some(60));
    assert_eq!(acc.class, vec![b"lab-class-1".to_vec()]);
    assert_eq!(acc.service_type, Some(ServiceType::FRAMED));
}

#[test]
fn reject_with_reply_message() {
    let req = unhex(LAB_BOB_REQUEST);
    let ra = Packet::parse(&req).unwrap().authenticator();
    let resp = unhex(LAB_BOB_REJECT);
    let p = Packet::parse(&resp).unwrap();
    assert!(p.verify_response_authenticator(&ra, LAB_SECRET));
    let Some(Reply::AccessReject(rej)) = reply_of(&p, &ra) else { panic!() };
    assert_eq!(rej.reply_message, vec!["bob is rejected".to_string()]);
}

#[test]
fn accounting_request_authenticators() {
    let req = unhex(LAB_ACCT_START);
    let p = Packet::parse(&req).unwrap();
    assert!(p.verify_accounting_request(LAB_SECRET));
    assert!(!p.verify_accounting_request(b"wrong-secret"));
    let resp = unhex(LAB_ACCT_RESPONSE);
    assert!(Packet::parse(&resp).unwrap().verify_response_authenticator(&p.authenticator(), LAB_SECRET));
    let bad = unhex(LAB_ACCT_WRONG_SECRET);
    let bp = Packet::parse(&bad).unwrap();
    assert!(!bp.verify_accounting_request(LAB_SECRET));
    assert!(bp.verify_accounting_request(b"wrong-secret"));
}

#[test]
fn every_captured_packet_round_trips() {
    for h in [
        RFC_7_1_REQUEST,
        RFC_7_1_ACCEPT,
        RFC_7_2_REQUEST,
        RFC_7_2_ACCEPT,
        LAB_PAP_MA_REQUEST,
        LAB_PAP_MA_ACCEPT,
        LAB_STATUS_SERVER,
        LAB_STATUS_ACCEPT,
        LAB_MSCHAP_REQUEST,
        LAB_MSCHAP_ACCEPT,
        LAB_FIXEDIP_REQUEST,
        LAB_FIXEDIP_ACCEPT,
        LAB_BOB_REQUEST,
        LAB_BOB_REJECT,
        LAB_ACCT_START,
        LAB_ACCT_RESPONSE,
        LAB_ACCT_WRONG_SECRET,
    ] {
        let bytes = unhex(h);
        let p = Packet::parse(&bytes).unwrap();
        // Typed attributes re-encode to the same octets, and none is left Unknown.
        let mut out = Vec::new();
        let mut w = PacketWriter::new(&mut out, p.code(), p.identifier(), p.authenticator());
        for a in p.typed_attributes() {
            assert!(!matches!(a, Attribute::Unknown { .. }), "{a:?} in {h}");
            w.push(&a).unwrap();
        }
        let len = out.len() as u16;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(out, bytes, "{h}");
    }
}

#[test]
fn password_hiding_second_block_chains_on_ciphertext() {
    // RFC 2865 §5.2: a 17..32 octet password; recompute block 2 by hand.
    let ra = [0x11u8; 16];
    let pw = b"a-password-of-twenty-six!!";
    let mut hidden = Vec::new();
    crypto::hide_user_password(pw, b"sec", &ra, &mut hidden).unwrap();
    assert_eq!(hidden.len(), 32);
    let b1 = md5_concat(&[b"sec", &ra]);
    let b2 = md5_concat(&[b"sec", &hidden[..16]]);
    let mut padded = pw.to_vec();
    padded.resize(32, 0);
    for i in 0..16 {
        assert_eq!(hidden[i], padded[i] ^ b1[i]);
        assert_eq!(hidden[16 + i], padded[16 + i] ^ b2[i]);
    }
}

fn md5_concat(parts: &[&[u8]]) -> [u8; 16] {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}
