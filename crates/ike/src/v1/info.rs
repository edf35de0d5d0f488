//! Informational exchanges under an ISAKMP SA (RFC 2409 §5.7): notifications, deletes and
//! Dead Peer Detection (RFC 3706).
//!
//! Each informational message is a one-message exchange with a fresh Message ID:
//! `HDR*, HASH(1), N/D` with `HASH(1) = prf(SKEYID_a, M-ID | N/D)`, encrypted with the IV
//! derived from the last phase-1 block and the Message ID.

use rand_core::CryptoRng;

use super::crypt;
use super::quick::IsakmpContext;
use crate::error::Error;
use crate::wire::v1::{
    DOI_IPSEC, Delete, ExchangeType, Flags, Header, Message, Notification, NotifyType, Payload, PayloadType,
    ProtocolId, encode_payload_chain, parse_payload_chain, split_payload_chain,
};

/// An informational payload we send or received, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Informational {
    /// A notification (RFC 2408 §3.14).
    Notify {
        /// Protocol it is about.
        protocol_id: ProtocolId,
        /// Notify message type.
        notify_type: NotifyType,
        /// SPI (for ISAKMP: both cookies, 16 bytes).
        spi: Vec<u8>,
        /// Notification data.
        data: Vec<u8>,
    },
    /// A delete (RFC 2408 §3.15) of SAs of one protocol.
    Delete {
        /// Protocol of the SAs.
        protocol_id: ProtocolId,
        /// Their SPIs (16-byte cookie pairs for ISAKMP, 4 bytes for ESP).
        spis: Vec<Vec<u8>>,
    },
}

impl Informational {
    /// RFC 3706 §5: an R-U-THERE (or, with `ack`, R-U-THERE-ACK) for this ISAKMP SA with
    /// sequence number `seq`.
    #[must_use]
    pub fn dpd(ctx: &IsakmpContext, seq: u32, ack: bool) -> Self {
        let mut spi = ctx.cookies.0.to_vec();
        spi.extend_from_slice(&ctx.cookies.1);
        Self::Notify {
            protocol_id: ProtocolId::Isakmp,
            notify_type: if ack { NotifyType::RUThereAck } else { NotifyType::RUThere },
            spi,
            data: seq.to_be_bytes().to_vec(),
        }
    }

    /// RFC 3706 §5: the sequence number of an R-U-THERE / R-U-THERE-ACK, with whether it
    /// is the acknowledgement.
    #[must_use]
    pub fn as_dpd(&self) -> Option<(u32, bool)> {
        match self {
            Self::Notify { notify_type, data, .. } => {
                let ack = match notify_type {
                    NotifyType::RUThere => false,
                    NotifyType::RUThereAck => true,
                    _ => return None,
                };
                let seq = <[u8; 4]>::try_from(data.as_slice()).ok()?;
                Some((u32::from_be_bytes(seq), ack))
            }
            Self::Delete { .. } => None,
        }
    }
}

/// Builds an encrypted informational message carrying `info` under a fresh Message ID.
///
/// # Errors
/// A cipher error (never for keys from [`super::keys::Phase1Keys`]).
pub fn encode<R: CryptoRng + ?Sized>(
    ctx: &IsakmpContext,
    info: &Informational,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let mut message_id = 0;
    while message_id == 0 {
        message_id = rng.next_u32();
    }
    let spis: Vec<u8>;
    let payload = match info {
        Informational::Notify { protocol_id, notify_type, spi, data } => {
            Payload::Notification(Notification {
                doi: DOI_IPSEC,
                protocol_id: *protocol_id,
                notify_type: *notify_type,
                spi,
                data,
            })
        }
        Informational::Delete { protocol_id, spis: list } => {
            spis = list.concat();
            Payload::Delete(Delete {
                doi: DOI_IPSEC,
                protocol_id: *protocol_id,
                spi_size: list.first().map_or(0, |s| u8::try_from(s.len()).unwrap_or(u8::MAX)),
                spi_count: u16::try_from(list.len()).unwrap_or(u16::MAX),
                spis: &spis,
            })
        }
    };
    let mut body = Vec::new();
    encode_payload_chain(std::slice::from_ref(&payload), &mut body);
    let hash = ctx.keys.quick_hash1(message_id, &body);
    let mut chain = Vec::new();
    let first = encode_payload_chain(&[Payload::Hash(hash.as_bytes()), payload], &mut chain);
    let header = Header {
        initiator_spi: ctx.cookies.0,
        responder_spi: ctx.cookies.1,
        next_payload: first,
        version: Header::VERSION_1_0,
        exchange_type: ExchangeType::Informational,
        flags: Flags(Flags::ENCRYPTION),
        message_id,
        length: 0,
    };
    let iv = ctx.keys.phase2_iv(&ctx.phase1_iv, message_id);
    let mut out = Vec::new();
    crypt::encrypt(ctx.keys.cipher(), ctx.keys.encryption_key(), &iv, &header, &chain, &mut out)?;
    Ok(out)
}

/// Decrypts and authenticates a received informational message; returns what it
/// carries (notifications and deletes, in order).
///
/// # Errors
/// Not an informational message of this ISAKMP SA, undecodable, or a HASH that does not
/// verify.
pub fn decode(ctx: &IsakmpContext, data: &[u8]) -> Result<Vec<Informational>, Error> {
    let m = Message::parse(data)?;
    if m.header.exchange_type != ExchangeType::Informational || m.header.message_id == 0 {
        return Err(Error::UnexpectedMessage("not an informational exchange"));
    }
    if (m.header.initiator_spi, m.header.responder_spi) != ctx.cookies {
        return Err(Error::UnexpectedMessage("not this ISAKMP SA"));
    }
    let iv = ctx.keys.phase2_iv(&ctx.phase1_iv, m.header.message_id);
    let d = crypt::decrypt(ctx.keys.cipher(), ctx.keys.encryption_key(), &iv, &m)?;
    let (raw, padding) =
        split_payload_chain(m.header.next_payload, &d.plaintext).map_err(|_| Error::AuthenticationFailed)?;
    let Some(hash) = raw.first().filter(|p| p.payload_type == PayloadType::Hash) else {
        return Err(Error::UnexpectedMessage("HASH must come first"));
    };
    let after = &d.plaintext[4 + hash.body.len()..d.plaintext.len() - padding.len()];
    if !ctx.keys.quick_hash1(m.header.message_id, after).ct_eq_bytes(hash.body) {
        return Err(Error::AuthenticationFailed);
    }
    let first = raw.get(1).map_or(PayloadType::None, |p| p.payload_type);
    let (payloads, _) = parse_payload_chain(first, after)?;
    Ok(payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notification(n) => Some(Informational::Notify {
                protocol_id: n.protocol_id,
                notify_type: n.notify_type,
                spi: n.spi.to_vec(),
                data: n.data.to_vec(),
            }),
            Payload::Delete(d) => Some(Informational::Delete {
                protocol_id: d.protocol_id,
                spis: d.spis().map(<[u8]>::to_vec).collect(),
            }),
            _ => None,
        })
        .collect())
}
