//! The typed payload enum and the simple payload bodies (RFC 7296 §3.4–§3.12).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::{
    Parser,
    bytes::complete::take,
    number::complete::{be_u8, be_u16},
};

use super::{
    AuthMethod, CertEncoding, Configuration, EncodeError, Encrypted, EncryptedFragment, IdType,
    KeyExchangeId, NotifyType, ParseError, PayloadType, ProtocolId, SecurityAssociation, TrafficSelectors,
    eap::Eap, len_u8, truncated,
};

/// RFC 7296 §3.9: a nonce is at least 16 bytes (and at least half the PRF key size).
pub const NONCE_MIN_LEN: usize = 16;
/// RFC 7296 §3.9: a nonce is at most 256 bytes.
pub const NONCE_MAX_LEN: usize = 256;

/// One payload of an IKEv2 message, typed, borrowing the message bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    /// RFC 7296 §3.3 Security Association (SA).
    SecurityAssociation(SecurityAssociation<'a>),
    /// RFC 7296 §3.4 Key Exchange (KE).
    KeyExchange(KeyExchange<'a>),
    /// RFC 7296 §3.5 Identification of the initiator (IDi).
    IdentificationInitiator(Identification<'a>),
    /// RFC 7296 §3.5 Identification of the responder (IDr).
    IdentificationResponder(Identification<'a>),
    /// RFC 7296 §3.6 Certificate (CERT).
    Certificate(Certificate<'a>),
    /// RFC 7296 §3.7 Certificate Request (CERTREQ): encoding plus certification
    /// authority data (for X.509: concatenated SHA-1 hashes of CA public keys).
    CertificateRequest(Certificate<'a>),
    /// RFC 7296 §3.8 Authentication (AUTH).
    Authentication(Authentication<'a>),
    /// RFC 7296 §3.9 Nonce (Ni, Nr): the nonce data (16 to 256 bytes when valid; the
    /// length is the state machine's to check).
    Nonce(&'a [u8]),
    /// RFC 7296 §3.10 Notify (N).
    Notify(Notify<'a>),
    /// RFC 7296 §3.11 Delete (D).
    Delete(Delete<'a>),
    /// RFC 7296 §3.12 Vendor ID (V).
    VendorId(&'a [u8]),
    /// RFC 7296 §3.13 Traffic Selector of the initiator (TSi).
    TrafficSelectorsInitiator(TrafficSelectors<'a>),
    /// RFC 7296 §3.13 Traffic Selector of the responder (TSr).
    TrafficSelectorsResponder(TrafficSelectors<'a>),
    /// RFC 7296 §3.14 Encrypted and Authenticated (SK).
    Encrypted(Encrypted<'a>),
    /// RFC 7296 §3.15 Configuration (CP).
    Configuration(Configuration<'a>),
    /// RFC 7296 §3.16 Extensible Authentication (EAP).
    ExtensibleAuthentication(Eap<'a>),
    /// RFC 7383 §2.5 Encrypted Fragment (SKF).
    EncryptedFragment(EncryptedFragment<'a>),
    /// A payload type this codec does not know, kept raw. (A known type is always
    /// parsed into its own variant; encoding `Unknown` with a known type number writes
    /// that number with this body.)
    Unknown {
        /// Its payload type number.
        payload_type: u8,
        /// Its body.
        body: &'a [u8],
    },
}

impl<'a> Payload<'a> {
    /// The payload type this payload is sent with.
    #[must_use]
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::SecurityAssociation(_) => PayloadType::SecurityAssociation,
            Self::KeyExchange(_) => PayloadType::KeyExchange,
            Self::IdentificationInitiator(_) => PayloadType::IdentificationInitiator,
            Self::IdentificationResponder(_) => PayloadType::IdentificationResponder,
            Self::Certificate(_) => PayloadType::Certificate,
            Self::CertificateRequest(_) => PayloadType::CertificateRequest,
            Self::Authentication(_) => PayloadType::Authentication,
            Self::Nonce(_) => PayloadType::Nonce,
            Self::Notify(_) => PayloadType::Notify,
            Self::Delete(_) => PayloadType::Delete,
            Self::VendorId(_) => PayloadType::VendorId,
            Self::TrafficSelectorsInitiator(_) => PayloadType::TrafficSelectorsInitiator,
            Self::TrafficSelectorsResponder(_) => PayloadType::TrafficSelectorsResponder,
            Self::Encrypted(_) => PayloadType::Encrypted,
            Self::Configuration(_) => PayloadType::Configuration,
            Self::ExtensibleAuthentication(_) => PayloadType::ExtensibleAuthentication,
            Self::EncryptedFragment(_) => PayloadType::EncryptedFragment,
            Self::Unknown { payload_type, .. } => PayloadType::from(*payload_type),
        }
    }

    /// Interprets the body of a payload of type `payload_type` whose own Next Payload
    /// field is `next_payload` (only SK and SKF use it: it names their first inner
    /// payload).
    ///
    /// # Errors
    /// A body too short for its fixed fields or with inconsistent inner lengths.
    pub fn parse(
        payload_type: PayloadType,
        next_payload: PayloadType,
        body: &'a [u8],
    ) -> Result<Self, ParseError> {
        Ok(match payload_type {
            PayloadType::SecurityAssociation => Self::SecurityAssociation(SecurityAssociation::parse(body)?),
            PayloadType::KeyExchange => Self::KeyExchange(KeyExchange::parse(body)?),
            PayloadType::IdentificationInitiator => {
                Self::IdentificationInitiator(Identification::parse(body)?)
            }
            PayloadType::IdentificationResponder => {
                Self::IdentificationResponder(Identification::parse(body)?)
            }
            PayloadType::Certificate => Self::Certificate(Certificate::parse(body)?),
            PayloadType::CertificateRequest => Self::CertificateRequest(Certificate::parse(body)?),
            PayloadType::Authentication => Self::Authentication(Authentication::parse(body)?),
            PayloadType::Nonce => Self::Nonce(body),
            PayloadType::Notify => Self::Notify(Notify::parse(body)?),
            PayloadType::Delete => Self::Delete(Delete::parse(body)?),
            PayloadType::VendorId => Self::VendorId(body),
            PayloadType::TrafficSelectorsInitiator => {
                Self::TrafficSelectorsInitiator(TrafficSelectors::parse(body)?)
            }
            PayloadType::TrafficSelectorsResponder => {
                Self::TrafficSelectorsResponder(TrafficSelectors::parse(body)?)
            }
            PayloadType::Encrypted => Self::Encrypted(Encrypted { first_inner: next_payload, data: body }),
            PayloadType::Configuration => Self::Configuration(Configuration::parse(body)?),
            PayloadType::ExtensibleAuthentication => Self::ExtensibleAuthentication(Eap::parse(body)?),
            PayloadType::EncryptedFragment => {
                Self::EncryptedFragment(EncryptedFragment::parse(next_payload, body)?)
            }
            // "No Next Payload" cannot name a payload; keep it raw like any unknown type.
            PayloadType::None | PayloadType::Unknown(_) => {
                Self::Unknown { payload_type: payload_type.into(), body }
            }
        })
    }

    /// Appends the body (without the generic header).
    ///
    /// # Errors
    /// A field that does not fit the wire format.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::SecurityAssociation(sa) => sa.encode_body(out),
            Self::KeyExchange(ke) => {
                ke.encode_body(out);
                Ok(())
            }
            Self::IdentificationInitiator(id) | Self::IdentificationResponder(id) => {
                id.encode_body(out);
                Ok(())
            }
            Self::Certificate(c) | Self::CertificateRequest(c) => {
                c.encode_body(out);
                Ok(())
            }
            Self::Authentication(a) => {
                a.encode_body(out);
                Ok(())
            }
            Self::Notify(n) => n.encode_body(out),
            Self::Delete(d) => d.encode_body(out),
            Self::TrafficSelectorsInitiator(ts) | Self::TrafficSelectorsResponder(ts) => ts.encode_body(out),
            Self::Encrypted(sk) => {
                out.extend_from_slice(sk.data);
                Ok(())
            }
            Self::Configuration(cp) => cp.encode_body(out),
            Self::ExtensibleAuthentication(eap) => eap.encode(out),
            Self::EncryptedFragment(skf) => skf.encode_body(out),
            Self::Nonce(b) | Self::VendorId(b) | Self::Unknown { body: b, .. } => {
                out.extend_from_slice(b);
                Ok(())
            }
        }
    }
}

/// A payload with its generic-header flags: what a chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadRepr<'a> {
    /// RFC 7296 §3.2: the C bit. Senders set it only on payloads the peer must
    /// understand; it is meaningful only for types the receiver does not know.
    pub critical: bool,
    /// The 7 RESERVED bits of the generic header (zero when sending).
    pub reserved: u8,
    /// The payload.
    pub payload: Payload<'a>,
}

impl<'a> PayloadRepr<'a> {
    /// A payload with the critical and reserved bits clear.
    #[must_use]
    pub const fn new(payload: Payload<'a>) -> Self {
        Self { critical: false, reserved: 0, payload }
    }
}

/// RFC 7296 §3.4: Key Exchange payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyExchange<'a> {
    /// The key exchange method (DH group) the data belongs to.
    pub group: KeyExchangeId,
    /// The two RESERVED bytes (zero when sending).
    pub reserved: u16,
    /// The public value (e.g. g^ir's sender half, or an ECP point x | y).
    pub data: &'a [u8],
}

impl<'a> KeyExchange<'a> {
    /// A KE payload for `group` with `data`.
    #[must_use]
    pub const fn new(group: KeyExchangeId, data: &'a [u8]) -> Self {
        Self { group, reserved: 0, data }
    }

    /// Parses a KE payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (data, (group, reserved)) =
            (be_u16::<&[u8], ()>, be_u16).parse(body).map_err(truncated("KE payload"))?;
        Ok(Self { group: group.into(), reserved, data })
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&u16::from(self.group).to_be_bytes());
        out.extend_from_slice(&self.reserved.to_be_bytes());
        out.extend_from_slice(self.data);
    }
}

/// RFC 7296 §3.5: IDi / IDr payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identification<'a> {
    /// ID type.
    pub id_type: IdType,
    /// The three RESERVED bytes (zero when sending; the AUTH computation covers them).
    pub reserved: [u8; 3],
    /// Identification data: 4 or 16 address bytes, a name, a DER DN, a key ID, ...
    pub data: &'a [u8],
}

impl<'a> Identification<'a> {
    /// An identity of `id_type` with `data`.
    #[must_use]
    pub const fn new(id_type: IdType, data: &'a [u8]) -> Self {
        Self { id_type, reserved: [0; 3], data }
    }

    /// Parses an ID payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes, or an ID_IPV4_ADDR / ID_IPV6_ADDR whose data is not 4 / 16
    /// bytes.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (data, (id_type, reserved)) =
            (be_u8::<&[u8], ()>, take(3usize)).parse(body).map_err(truncated("ID payload"))?;
        let id_type = IdType::from(id_type);
        let ok = match id_type {
            IdType::Ipv4Addr => data.len() == 4,
            IdType::Ipv6Addr => data.len() == 16,
            _ => true,
        };
        if !ok {
            return Err(ParseError::BadLength { what: "ID payload address" });
        }
        Ok(Self { id_type, reserved: [reserved[0], reserved[1], reserved[2]], data })
    }

    /// The address of an ID_IPV4_ADDR / ID_IPV6_ADDR identity.
    #[must_use]
    pub fn ip_addr(&self) -> Option<IpAddr> {
        match self.id_type {
            IdType::Ipv4Addr => <[u8; 4]>::try_from(self.data).ok().map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            IdType::Ipv6Addr => <[u8; 16]>::try_from(self.data).ok().map(|a| IpAddr::V6(Ipv6Addr::from(a))),
            _ => None,
        }
    }

    /// Appends the body. (RFC 7296 §2.15: the body is also what the AUTH computation
    /// calls RestOfInitIDPayload / RestOfRespIDPayload.)
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.id_type.into());
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(self.data);
    }
}

/// RFC 7296 §3.6 CERT and §3.7 CERTREQ payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// Certificate encoding (in a request: the requested encoding).
    pub encoding: CertEncoding,
    /// Certificate data (in a request: the certification authority data).
    pub data: &'a [u8],
}

impl<'a> Certificate<'a> {
    /// RFC 7296 §3.7: in an X.509 CERTREQ, each authority is the 20-byte SHA-1 hash of its
    /// public key.
    pub const CA_KEY_HASH_LEN: usize = 20;

    /// Parses a CERT or CERTREQ payload body.
    ///
    /// # Errors
    /// An empty body.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (data, encoding) = be_u8::<&[u8], ()>(body).map_err(truncated("CERT payload"))?;
        Ok(Self { encoding: encoding.into(), data })
    }

    /// RFC 7296 §3.7: the CA public key hashes of an X.509 certificate request, or
    /// `None` when the data is not a whole number of 20-byte hashes.
    #[must_use]
    pub fn ca_key_hashes(&self) -> Option<core::slice::ChunksExact<'a, u8>> {
        self.data
            .len()
            .is_multiple_of(Self::CA_KEY_HASH_LEN)
            .then(|| self.data.chunks_exact(Self::CA_KEY_HASH_LEN))
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.into());
        out.extend_from_slice(self.data);
    }
}

/// RFC 7296 §3.8: Authentication payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authentication<'a> {
    /// Auth method.
    pub method: AuthMethod,
    /// The three RESERVED bytes (zero when sending).
    pub reserved: [u8; 3],
    /// Authentication data (a signature or a MAC over the signed octets).
    pub data: &'a [u8],
}

impl<'a> Authentication<'a> {
    /// An AUTH payload of `method` with `data`.
    #[must_use]
    pub const fn new(method: AuthMethod, data: &'a [u8]) -> Self {
        Self { method, reserved: [0; 3], data }
    }

    /// Parses an AUTH payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (data, (method, reserved)) =
            (be_u8::<&[u8], ()>, take(3usize)).parse(body).map_err(truncated("AUTH payload"))?;
        Ok(Self { method: method.into(), reserved: [reserved[0], reserved[1], reserved[2]], data })
    }

    /// RFC 7427 §3: for the Digital Signature method (14), the data is a one-byte length,
    /// an ASN.1 AlgorithmIdentifier of that length, then the signature. `None` for other
    /// methods.
    ///
    /// # Errors
    /// An AlgorithmIdentifier length past the end of the data.
    pub fn digital_signature(&self) -> Result<Option<DigitalSignature<'a>>, ParseError> {
        if self.method != AuthMethod::DigitalSignature {
            return Ok(None);
        }
        let (rest, len) = be_u8::<&[u8], ()>(self.data).map_err(truncated("AUTH digital signature"))?;
        let len = usize::from(len);
        if rest.len() < len {
            return Err(ParseError::BadLength { what: "AUTH AlgorithmIdentifier" });
        }
        let (algorithm_identifier, signature) = rest.split_at(len);
        Ok(Some(DigitalSignature { algorithm_identifier, signature }))
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.method.into());
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(self.data);
    }
}

/// RFC 7427 §3: the parts of Digital Signature authentication data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitalSignature<'a> {
    /// DER AlgorithmIdentifier of the signature algorithm (e.g. sha256WithRSAEncryption).
    pub algorithm_identifier: &'a [u8],
    /// The signature value.
    pub signature: &'a [u8],
}

/// One-byte data of UNSUPPORTED_CRITICAL_PAYLOAD notifications, indexed by payload type.
static PAYLOAD_TYPE_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = i as u8;
        i += 1;
    }
    table
};

/// RFC 7296 §3.10: Notify payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notify<'a> {
    /// Protocol of the SA the notification is about ([`ProtocolId::None`] when the SPI
    /// is empty).
    pub protocol_id: ProtocolId,
    /// SPI of that SA (empty for notifications about the IKE SA).
    pub spi: &'a [u8],
    /// Notify message type.
    pub notify_type: NotifyType,
    /// Notification data (e.g. a NAT detection hash, a cookie).
    pub data: &'a [u8],
}

impl<'a> Notify<'a> {
    /// A notification about no particular SA.
    #[must_use]
    pub const fn new(notify_type: NotifyType, data: &'a [u8]) -> Self {
        Self { protocol_id: ProtocolId::None, spi: &[], notify_type, data }
    }

    /// RFC 7296 §2.5 / §3.10.1: the error answering a message that carried an unknown
    /// critical payload; the data is that payload's one-byte type.
    #[must_use]
    pub fn unsupported_critical_payload(payload_type: PayloadType) -> Notify<'static> {
        let i = usize::from(u8::from(payload_type));
        Notify::new(NotifyType::UnsupportedCriticalPayload, &PAYLOAD_TYPE_BYTES[i..=i])
    }

    /// RFC 7296 §3.10.1: whether the type is an error (below 16384).
    #[must_use]
    pub const fn is_error(&self) -> bool {
        self.notify_type.is_error()
    }

    /// RFC 7296 §3.10.1: the group an INVALID_KE_PAYLOAD error asks for (its data is the
    /// 2-byte group number).
    #[must_use]
    pub fn invalid_ke_payload_group(&self) -> Option<KeyExchangeId> {
        let group: [u8; 2] = self.data.try_into().ok()?;
        (self.notify_type == NotifyType::InvalidKePayload).then(|| u16::from_be_bytes(group).into())
    }

    /// RFC 7427 §4: the 2-byte hash algorithm numbers of a SIGNATURE_HASH_ALGORITHMS
    /// notification (nothing for other types or an odd-length list).
    pub fn signature_hash_algorithms(&self) -> impl Iterator<Item = u16> + use<'a> {
        let list =
            if self.notify_type == NotifyType::SignatureHashAlgorithms && self.data.len().is_multiple_of(2) {
                self.data
            } else {
                &[]
            };
        list.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
    }

    /// Parses a Notify payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes, or an SPI past the end.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (rest, (protocol, spi_size, notify_type)) =
            (be_u8::<&[u8], ()>, be_u8, be_u16).parse(body).map_err(truncated("N payload"))?;
        let spi_size = usize::from(spi_size);
        if rest.len() < spi_size {
            return Err(ParseError::BadLength { what: "N payload SPI" });
        }
        let (spi, data) = rest.split_at(spi_size);
        Ok(Self { protocol_id: protocol.into(), spi, notify_type: notify_type.into(), data })
    }

    /// Appends the body.
    ///
    /// # Errors
    /// An SPI over 255 bytes.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.protocol_id.into());
        out.push(len_u8(self.spi.len(), "N payload SPI")?);
        out.extend_from_slice(&u16::from(self.notify_type).to_be_bytes());
        out.extend_from_slice(self.spi);
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// RFC 7296 §3.11: Delete payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delete<'a> {
    /// Protocol of the SAs being deleted (IKE: the IKE SA the message belongs to, with no
    /// SPI; AH / ESP: Child SAs by inbound SPI).
    pub protocol_id: ProtocolId,
    /// Length of each SPI (0 for IKE, 4 for AH / ESP).
    pub spi_size: u8,
    /// Number of SPIs (0 for IKE).
    pub spi_count: u16,
    /// `spi_count` SPIs of `spi_size` bytes each, back to back.
    pub spis: &'a [u8],
}

impl<'a> Delete<'a> {
    /// Deletion of the IKE SA the message belongs to.
    pub const IKE_SA: Delete<'static> =
        Delete { protocol_id: ProtocolId::Ike, spi_size: 0, spi_count: 0, spis: &[] };

    /// Deletion of Child SAs of `protocol_id` by their 4-byte SPIs, given back to back.
    /// Returns `None` when `spis` is not a whole number of SPIs or holds more than 65535.
    #[must_use]
    pub fn child_sas(protocol_id: ProtocolId, spis: &'a [u8]) -> Option<Self> {
        if !spis.len().is_multiple_of(4) {
            return None;
        }
        let spi_count = u16::try_from(spis.len() / 4).ok()?;
        Some(Self { protocol_id, spi_size: 4, spi_count, spis })
    }

    /// Parses a Delete payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes, or SPI bytes that are not `spi_size × spi_count`.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (spis, (protocol, spi_size, spi_count)) =
            (be_u8::<&[u8], ()>, be_u8, be_u16).parse(body).map_err(truncated("D payload"))?;
        if usize::from(spi_size) * usize::from(spi_count) != spis.len() {
            return Err(ParseError::BadLength { what: "D payload" });
        }
        Ok(Self { protocol_id: protocol.into(), spi_size, spi_count, spis })
    }

    /// The SPIs one by one (nothing when `spi_size` is 0).
    pub fn spis(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let size = usize::from(self.spi_size).max(1);
        let spis = if self.spi_size == 0 { &[][..] } else { self.spis };
        spis.chunks_exact(size)
    }

    /// Appends the body.
    ///
    /// # Errors
    /// [`EncodeError::Invalid`] when `spis` is not `spi_size × spi_count` bytes.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if usize::from(self.spi_size) * usize::from(self.spi_count) != self.spis.len() {
            return Err(EncodeError::Invalid { what: "D payload SPI count" });
        }
        out.push(self.protocol_id.into());
        out.push(self.spi_size);
        out.extend_from_slice(&self.spi_count.to_be_bytes());
        out.extend_from_slice(self.spis);
        Ok(())
    }
}
