//! Numbered code points of ISAKMP (RFC 2408), the IPsec DOI (RFC 2407), IKEv1 (RFC 2409)
//! and NAT-T (RFC 3947), each as an enum that keeps unknown values.
//!
//! `From<u8/u16>` maps every number to the named variant when there is one, otherwise to
//! `Unknown(n)`, so decoding then encoding gives back the same number.

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident: $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate does not name; kept so it round-trips.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => Self::$variant, )*
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> $repr {
                match value {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

code_enum! {
    /// RFC 2408 §3.1 Next Payload types, RFC 3947 §3.2/§5.2 NAT-D/NAT-OA and the
    /// pre-RFC draft-ietf-ipsec-nat-t-ike-02/03 numbers still sent by old peers.
    PayloadType: u8 {
        /// No next payload (0).
        None = 0,
        /// Security Association (1).
        SecurityAssociation = 1,
        /// Proposal (2), only inside an SA payload.
        Proposal = 2,
        /// Transform (3), only inside a Proposal.
        Transform = 3,
        /// Key Exchange (4).
        KeyExchange = 4,
        /// Identification (5).
        Identification = 5,
        /// Certificate (6).
        Certificate = 6,
        /// Certificate Request (7).
        CertificateRequest = 7,
        /// Hash (8).
        Hash = 8,
        /// Signature (9).
        Signature = 9,
        /// Nonce (10).
        Nonce = 10,
        /// Notification (11).
        Notification = 11,
        /// Delete (12).
        Delete = 12,
        /// Vendor ID (13).
        VendorId = 13,
        /// NAT Discovery, RFC 3947 (20).
        NatDiscovery = 20,
        /// NAT Original Address, RFC 3947 (21).
        NatOriginalAddress = 21,
        /// NAT Discovery, draft numbering (130).
        NatDiscoveryDraft = 130,
        /// NAT Original Address, draft numbering (131).
        NatOriginalAddressDraft = 131,
    }
}

code_enum! {
    /// RFC 2408 §3.1 Exchange Type, RFC 2409 §5/§5.5/§6.1 for the IKEv1 values.
    ExchangeType: u8 {
        /// None (0).
        None = 0,
        /// Base (1).
        Base = 1,
        /// Identity Protection, IKEv1 Main Mode (2).
        IdentityProtection = 2,
        /// Authentication Only (3).
        AuthenticationOnly = 3,
        /// Aggressive (4).
        Aggressive = 4,
        /// Informational (5).
        Informational = 5,
        /// Transaction, used by Mode Config / XAUTH (6).
        Transaction = 6,
        /// Quick Mode (32).
        QuickMode = 32,
        /// New Group Mode (33).
        NewGroupMode = 33,
    }
}

code_enum! {
    /// RFC 2407 §4.4.1 IPSEC Security Protocol Identifiers (Proposal payload).
    ProtocolId: u8 {
        /// PROTO_ISAKMP (1).
        Isakmp = 1,
        /// PROTO_IPSEC_AH (2).
        IpsecAh = 2,
        /// PROTO_IPSEC_ESP (3).
        IpsecEsp = 3,
        /// PROTO_IPCOMP (4).
        IpComp = 4,
    }
}

code_enum! {
    /// RFC 2407 §4.6.2.1 Identification Type values (also NAT-OA, RFC 3947 §5.2).
    IdType: u8 {
        /// ID_IPV4_ADDR (1).
        Ipv4Addr = 1,
        /// ID_FQDN (2).
        Fqdn = 2,
        /// ID_USER_FQDN (3).
        UserFqdn = 3,
        /// ID_IPV4_ADDR_SUBNET (4).
        Ipv4AddrSubnet = 4,
        /// ID_IPV6_ADDR (5).
        Ipv6Addr = 5,
        /// ID_IPV6_ADDR_SUBNET (6).
        Ipv6AddrSubnet = 6,
        /// ID_IPV4_ADDR_RANGE (7).
        Ipv4AddrRange = 7,
        /// ID_IPV6_ADDR_RANGE (8).
        Ipv6AddrRange = 8,
        /// ID_DER_ASN1_DN (9).
        DerAsn1Dn = 9,
        /// ID_DER_ASN1_GN (10).
        DerAsn1Gn = 10,
        /// ID_KEY_ID (11).
        KeyId = 11,
    }
}

code_enum! {
    /// RFC 2408 §3.9 Certificate Encoding.
    CertEncoding: u8 {
        /// None (0).
        None = 0,
        /// PKCS #7 wrapped X.509 certificate (1).
        Pkcs7 = 1,
        /// PGP certificate (2).
        Pgp = 2,
        /// DNS signed key (3).
        DnsSignedKey = 3,
        /// X.509 certificate, signature (4).
        X509Signature = 4,
        /// X.509 certificate, key exchange (5).
        X509KeyExchange = 5,
        /// Kerberos tokens (6).
        Kerberos = 6,
        /// Certificate Revocation List (7).
        Crl = 7,
        /// Authority Revocation List (8).
        Arl = 8,
        /// SPKI certificate (9).
        Spki = 9,
        /// X.509 certificate, attribute (10).
        X509Attribute = 10,
    }
}

code_enum! {
    /// RFC 2408 §3.14.1 Notify Message Types, RFC 2407 §4.6.3 IPsec DOI status types and
    /// RFC 3706 §5 DPD.
    NotifyType: u16 {
        /// INVALID-PAYLOAD-TYPE (1).
        InvalidPayloadType = 1,
        /// DOI-NOT-SUPPORTED (2).
        DoiNotSupported = 2,
        /// SITUATION-NOT-SUPPORTED (3).
        SituationNotSupported = 3,
        /// INVALID-COOKIE (4).
        InvalidCookie = 4,
        /// INVALID-MAJOR-VERSION (5).
        InvalidMajorVersion = 5,
        /// INVALID-MINOR-VERSION (6).
        InvalidMinorVersion = 6,
        /// INVALID-EXCHANGE-TYPE (7).
        InvalidExchangeType = 7,
        /// INVALID-FLAGS (8).
        InvalidFlags = 8,
        /// INVALID-MESSAGE-ID (9).
        InvalidMessageId = 9,
        /// INVALID-PROTOCOL-ID (10).
        InvalidProtocolId = 10,
        /// INVALID-SPI (11).
        InvalidSpi = 11,
        /// INVALID-TRANSFORM-ID (12).
        InvalidTransformId = 12,
        /// ATTRIBUTES-NOT-SUPPORTED (13).
        AttributesNotSupported = 13,
        /// NO-PROPOSAL-CHOSEN (14).
        NoProposalChosen = 14,
        /// BAD-PROPOSAL-SYNTAX (15).
        BadProposalSyntax = 15,
        /// PAYLOAD-MALFORMED (16).
        PayloadMalformed = 16,
        /// INVALID-KEY-INFORMATION (17).
        InvalidKeyInformation = 17,
        /// INVALID-ID-INFORMATION (18).
        InvalidIdInformation = 18,
        /// INVALID-CERT-ENCODING (19).
        InvalidCertEncoding = 19,
        /// INVALID-CERTIFICATE (20).
        InvalidCertificate = 20,
        /// CERT-TYPE-UNSUPPORTED (21).
        CertTypeUnsupported = 21,
        /// INVALID-CERT-AUTHORITY (22).
        InvalidCertAuthority = 22,
        /// INVALID-HASH-INFORMATION (23).
        InvalidHashInformation = 23,
        /// AUTHENTICATION-FAILED (24).
        AuthenticationFailed = 24,
        /// INVALID-SIGNATURE (25).
        InvalidSignature = 25,
        /// ADDRESS-NOTIFICATION (26).
        AddressNotification = 26,
        /// NOTIFY-SA-LIFETIME (27).
        NotifySaLifetime = 27,
        /// CERTIFICATE-UNAVAILABLE (28).
        CertificateUnavailable = 28,
        /// UNSUPPORTED-EXCHANGE-TYPE (29).
        UnsupportedExchangeType = 29,
        /// UNEQUAL-PAYLOAD-LENGTHS (30).
        UnequalPayloadLengths = 30,
        /// CONNECTED (16384).
        Connected = 16384,
        /// RESPONDER-LIFETIME (24576), RFC 2407 §4.6.3.1.
        ResponderLifetime = 24576,
        /// REPLAY-STATUS (24577), RFC 2407 §4.6.3.2.
        ReplayStatus = 24577,
        /// INITIAL-CONTACT (24578), RFC 2407 §4.6.3.3.
        InitialContact = 24578,
        /// R-U-THERE (36136), RFC 3706 §5.
        RUThere = 36136,
        /// R-U-THERE-ACK (36137), RFC 3706 §5.
        RUThereAck = 36137,
    }
}

code_enum! {
    /// RFC 2409 Appendix A phase-1 (ISAKMP SA) attribute classes.
    IkeAttributeType: u16 {
        /// Encryption Algorithm (1, basic).
        EncryptionAlgorithm = 1,
        /// Hash Algorithm (2, basic).
        HashAlgorithm = 2,
        /// Authentication Method (3, basic).
        AuthenticationMethod = 3,
        /// Group Description (4, basic).
        GroupDescription = 4,
        /// Group Type (5, basic).
        GroupType = 5,
        /// Group Prime/Irreducible Polynomial (6, variable).
        GroupPrime = 6,
        /// Group Generator One (7, variable).
        GroupGeneratorOne = 7,
        /// Group Generator Two (8, variable).
        GroupGeneratorTwo = 8,
        /// Group Curve A (9, variable).
        GroupCurveA = 9,
        /// Group Curve B (10, variable).
        GroupCurveB = 10,
        /// Life Type (11, basic).
        LifeType = 11,
        /// Life Duration (12, variable or basic).
        LifeDuration = 12,
        /// PRF (13, basic).
        Prf = 13,
        /// Key Length in bits (14, basic).
        KeyLength = 14,
        /// Field Size (15, basic).
        FieldSize = 15,
        /// Group Order (16, variable).
        GroupOrder = 16,
    }
}

code_enum! {
    /// RFC 2407 §4.5 IPsec SA attributes (Quick Mode transforms), RFC 4304 §2 ESN.
    IpsecAttributeType: u16 {
        /// SA Life Type (1, basic).
        SaLifeType = 1,
        /// SA Life Duration (2, variable or basic).
        SaLifeDuration = 2,
        /// Group Description, for PFS (3, basic).
        GroupDescription = 3,
        /// Encapsulation Mode (4, basic).
        EncapsulationMode = 4,
        /// Authentication Algorithm (5, basic).
        AuthenticationAlgorithm = 5,
        /// Key Length in bits (6, basic).
        KeyLength = 6,
        /// Key Rounds (7, basic).
        KeyRounds = 7,
        /// Compress Dictionary Size (8, basic).
        CompressDictionarySize = 8,
        /// Compress Private Algorithm (9, variable).
        CompressPrivateAlgorithm = 9,
        /// Extended (64-bit) Sequence Number (11, basic), RFC 4304.
        ExtendedSequenceNumber = 11,
    }
}

code_enum! {
    /// RFC 2409 Appendix A Authentication Method values (phase 1).
    AuthMethod: u16 {
        /// Pre-shared key (1).
        PreSharedKey = 1,
        /// DSS signatures (2).
        DssSignatures = 2,
        /// RSA signatures (3).
        RsaSignatures = 3,
        /// Encryption with RSA (4).
        RsaEncryption = 4,
        /// Revised encryption with RSA (5).
        RevisedRsaEncryption = 5,
    }
}

code_enum! {
    /// RFC 2407 §4.5 Encapsulation Mode values, with RFC 3947 §5 UDP-encapsulated modes
    /// and the draft numbers (61443/61444) older peers use.
    EncapsulationMode: u16 {
        /// Tunnel (1).
        Tunnel = 1,
        /// Transport (2).
        Transport = 2,
        /// UDP-Encapsulated-Tunnel (3), RFC 3947.
        UdpTunnel = 3,
        /// UDP-Encapsulated-Transport (4), RFC 3947.
        UdpTransport = 4,
        /// UDP-Encapsulated-Tunnel, draft numbering (61443).
        UdpTunnelDraft = 61443,
        /// UDP-Encapsulated-Transport, draft numbering (61444).
        UdpTransportDraft = 61444,
    }
}

/// RFC 2408 §3.1 header flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// E(ncryption): everything after the header is encrypted.
    pub const ENCRYPTION: u8 = 0x01;
    /// C(ommit): the sender wants a CONNECTED notification before using the SA.
    pub const COMMIT: u8 = 0x02;
    /// A(uthentication Only).
    pub const AUTHENTICATION_ONLY: u8 = 0x04;

    /// True when the encryption bit is set.
    #[must_use]
    pub const fn encrypted(self) -> bool {
        self.0 & Self::ENCRYPTION != 0
    }

    /// True when the commit bit is set.
    #[must_use]
    pub const fn commit(self) -> bool {
        self.0 & Self::COMMIT != 0
    }
}

/// RFC 2407 §4.2: the IPsec Domain of Interpretation number.
pub const DOI_IPSEC: u32 = 1;

/// RFC 2407 §4.4.2: transform ID KEY_IKE, the only phase-1 transform.
pub const KEY_IKE: u8 = 1;
