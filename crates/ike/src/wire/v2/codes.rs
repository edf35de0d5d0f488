//! Numbered code points of IKEv2 (RFC 7296 §3 and the IANA "Internet Key Exchange
//! Version 2 (IKEv2) Parameters" registry), each as an enum that keeps unknown values.
//!
//! `From<u8/u16>` maps a number to its named variant when there is one and to
//! `Unknown(n)` otherwise, so decoding then encoding gives back the same number.
//! [`name`](PayloadType::name) gives the registry's own spelling (`ENCR_AES_CBC`,
//! `NAT_DETECTION_SOURCE_IP`, ...), which is also what `Display` prints.

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident: $repr:ty {
            $( $variant:ident = $value:literal => $iana:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                #[doc = concat!("`", $iana, "` (", stringify!($value), ").")]
                $variant,
            )*
            /// A value this codec does not name; kept so it round-trips.
            Unknown($repr),
        }

        impl $name {
            /// The registry name of the value, or `None` for an unknown one.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$variant => Some($iana), )*
                    Self::Unknown(_) => None,
                }
            }

            /// The numeric value.
            #[must_use]
            pub const fn value(self) -> $repr {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Unknown(other) => other,
                }
            }

            /// Whether this codec names the value.
            #[must_use]
            pub const fn is_known(self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
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
                value.value()
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "UNKNOWN({})", self.value()),
                }
            }
        }
    };
}

code_enum! {
    /// RFC 7296 §3.2 Next Payload types (plus RFC 7383 SKF). Values 1–32 are left to
    /// ISAKMP and are unknown here.
    PayloadType: u8 {
        None = 0 => "No Next Payload",
        SecurityAssociation = 33 => "SA",
        KeyExchange = 34 => "KE",
        IdentificationInitiator = 35 => "IDi",
        IdentificationResponder = 36 => "IDr",
        Certificate = 37 => "CERT",
        CertificateRequest = 38 => "CERTREQ",
        Authentication = 39 => "AUTH",
        Nonce = 40 => "Nonce",
        Notify = 41 => "N",
        Delete = 42 => "D",
        VendorId = 43 => "V",
        TrafficSelectorsInitiator = 44 => "TSi",
        TrafficSelectorsResponder = 45 => "TSr",
        Encrypted = 46 => "SK",
        Configuration = 47 => "CP",
        ExtensibleAuthentication = 48 => "EAP",
        EncryptedFragment = 53 => "SKF",
    }
}

code_enum! {
    /// RFC 7296 §3.1 Exchange Type (plus the later IANA assignments).
    ExchangeType: u8 {
        IkeSaInit = 34 => "IKE_SA_INIT",
        IkeAuth = 35 => "IKE_AUTH",
        CreateChildSa = 36 => "CREATE_CHILD_SA",
        Informational = 37 => "INFORMATIONAL",
        IkeSessionResume = 38 => "IKE_SESSION_RESUME",
        IkeIntermediate = 43 => "IKE_INTERMEDIATE",
        IkeFollowupKe = 44 => "IKE_FOLLOWUP_KE",
    }
}

code_enum! {
    /// RFC 7296 §3.3.1 Protocol ID (Security Protocol Identifier) of a proposal, a
    /// Notify or a Delete payload.
    ProtocolId: u8 {
        None = 0 => "NONE",
        Ike = 1 => "IKE",
        Ah = 2 => "AH",
        Esp = 3 => "ESP",
    }
}

code_enum! {
    /// RFC 7296 §3.3.2 Transform Type (type 4 is "Key Exchange Method" since RFC 9370,
    /// which also added the additional key exchanges 6–12).
    TransformType: u8 {
        Encryption = 1 => "ENCR",
        PseudoRandomFunction = 2 => "PRF",
        Integrity = 3 => "INTEG",
        KeyExchange = 4 => "KE",
        ExtendedSequenceNumbers = 5 => "ESN",
        AdditionalKeyExchange1 = 6 => "ADDKE1",
        AdditionalKeyExchange2 = 7 => "ADDKE2",
        AdditionalKeyExchange3 = 8 => "ADDKE3",
        AdditionalKeyExchange4 = 9 => "ADDKE4",
        AdditionalKeyExchange5 = 10 => "ADDKE5",
        AdditionalKeyExchange6 = 11 => "ADDKE6",
        AdditionalKeyExchange7 = 12 => "ADDKE7",
    }
}

code_enum! {
    /// RFC 7296 §3.3.2 Transform IDs of Transform Type 1 (Encryption Algorithm), with
    /// the AEAD and later IANA assignments.
    EncryptionId: u16 {
        DesIv64 = 1 => "ENCR_DES_IV64",
        Des = 2 => "ENCR_DES",
        TripleDes = 3 => "ENCR_3DES",
        Rc5 = 4 => "ENCR_RC5",
        Idea = 5 => "ENCR_IDEA",
        Cast = 6 => "ENCR_CAST",
        Blowfish = 7 => "ENCR_BLOWFISH",
        TripleIdea = 8 => "ENCR_3IDEA",
        DesIv32 = 9 => "ENCR_DES_IV32",
        Null = 11 => "ENCR_NULL",
        AesCbc = 12 => "ENCR_AES_CBC",
        AesCtr = 13 => "ENCR_AES_CTR",
        AesCcm8 = 14 => "ENCR_AES_CCM_8",
        AesCcm12 = 15 => "ENCR_AES_CCM_12",
        AesCcm16 = 16 => "ENCR_AES_CCM_16",
        AesGcm8 = 18 => "ENCR_AES_GCM_8",
        AesGcm12 = 19 => "ENCR_AES_GCM_12",
        AesGcm16 = 20 => "ENCR_AES_GCM_16",
        NullAuthAesGmac = 21 => "ENCR_NULL_AUTH_AES_GMAC",
        CamelliaCbc = 23 => "ENCR_CAMELLIA_CBC",
        CamelliaCtr = 24 => "ENCR_CAMELLIA_CTR",
        CamelliaCcm8 = 25 => "ENCR_CAMELLIA_CCM_8_ICV",
        CamelliaCcm12 = 26 => "ENCR_CAMELLIA_CCM_12_ICV",
        CamelliaCcm16 = 27 => "ENCR_CAMELLIA_CCM_16_ICV",
        ChaCha20Poly1305 = 28 => "ENCR_CHACHA20_POLY1305",
        AesCcm8Iiv = 29 => "ENCR_AES_CCM_8_IIV",
        AesGcm16Iiv = 30 => "ENCR_AES_GCM_16_IIV",
        ChaCha20Poly1305Iiv = 31 => "ENCR_CHACHA20_POLY1305_IIV",
    }
}

code_enum! {
    /// RFC 7296 §3.3.2 Transform IDs of Transform Type 2 (Pseudorandom Function).
    PrfId: u16 {
        HmacMd5 = 1 => "PRF_HMAC_MD5",
        HmacSha1 = 2 => "PRF_HMAC_SHA1",
        HmacTiger = 3 => "PRF_HMAC_TIGER",
        Aes128Xcbc = 4 => "PRF_AES128_XCBC",
        HmacSha2_256 = 5 => "PRF_HMAC_SHA2_256",
        HmacSha2_384 = 6 => "PRF_HMAC_SHA2_384",
        HmacSha2_512 = 7 => "PRF_HMAC_SHA2_512",
        Aes128Cmac = 8 => "PRF_AES128_CMAC",
    }
}

code_enum! {
    /// RFC 7296 §3.3.2 Transform IDs of Transform Type 3 (Integrity Algorithm).
    IntegrityId: u16 {
        None = 0 => "NONE",
        HmacMd5_96 = 1 => "AUTH_HMAC_MD5_96",
        HmacSha1_96 = 2 => "AUTH_HMAC_SHA1_96",
        DesMac = 3 => "AUTH_DES_MAC",
        KpdkMd5 = 4 => "AUTH_KPDK_MD5",
        AesXcbc96 = 5 => "AUTH_AES_XCBC_96",
        HmacMd5_128 = 6 => "AUTH_HMAC_MD5_128",
        HmacSha1_160 = 7 => "AUTH_HMAC_SHA1_160",
        AesCmac96 = 8 => "AUTH_AES_CMAC_96",
        Aes128Gmac = 9 => "AUTH_AES_128_GMAC",
        Aes192Gmac = 10 => "AUTH_AES_192_GMAC",
        Aes256Gmac = 11 => "AUTH_AES_256_GMAC",
        HmacSha2_256_128 = 12 => "AUTH_HMAC_SHA2_256_128",
        HmacSha2_384_192 = 13 => "AUTH_HMAC_SHA2_384_192",
        HmacSha2_512_256 = 14 => "AUTH_HMAC_SHA2_512_256",
    }
}

code_enum! {
    /// RFC 7296 §3.3.2 Transform IDs of Transform Type 4 (Diffie-Hellman group, now
    /// "Key Exchange Method"), also the DH Group Num of the KE payload (§3.4).
    KeyExchangeId: u16 {
        None = 0 => "NONE",
        Modp768 = 1 => "768-bit MODP Group",
        Modp1024 = 2 => "1024-bit MODP Group",
        Modp1536 = 5 => "1536-bit MODP Group",
        Modp2048 = 14 => "2048-bit MODP Group",
        Modp3072 = 15 => "3072-bit MODP Group",
        Modp4096 = 16 => "4096-bit MODP Group",
        Modp6144 = 17 => "6144-bit MODP Group",
        Modp8192 = 18 => "8192-bit MODP Group",
        Ecp256 = 19 => "256-bit random ECP group",
        Ecp384 = 20 => "384-bit random ECP group",
        Ecp521 = 21 => "521-bit random ECP group",
        Modp1024S160 = 22 => "1024-bit MODP Group with 160-bit Prime Order Subgroup",
        Modp2048S224 = 23 => "2048-bit MODP Group with 224-bit Prime Order Subgroup",
        Modp2048S256 = 24 => "2048-bit MODP Group with 256-bit Prime Order Subgroup",
        Ecp192 = 25 => "192-bit Random ECP Group",
        Ecp224 = 26 => "224-bit Random ECP Group",
        BrainpoolP224r1 = 27 => "brainpoolP224r1",
        BrainpoolP256r1 = 28 => "brainpoolP256r1",
        BrainpoolP384r1 = 29 => "brainpoolP384r1",
        BrainpoolP512r1 = 30 => "brainpoolP512r1",
        Curve25519 = 31 => "Curve25519",
        Curve448 = 32 => "Curve448",
    }
}

code_enum! {
    /// RFC 7296 §3.3.2 Transform IDs of Transform Type 5 (Extended Sequence Numbers).
    EsnId: u16 {
        NoEsn = 0 => "No Extended Sequence Numbers",
        Esn = 1 => "Extended Sequence Numbers",
    }
}

code_enum! {
    /// RFC 7296 §3.3.5 Transform Attribute Types.
    TransformAttributeType: u16 {
        KeyLength = 14 => "Key Length",
    }
}

code_enum! {
    /// RFC 7296 §3.5 ID Type of the IDi / IDr payloads (plus RFC 4595 and RFC 7619).
    IdType: u8 {
        Ipv4Addr = 1 => "ID_IPV4_ADDR",
        Fqdn = 2 => "ID_FQDN",
        Rfc822Addr = 3 => "ID_RFC822_ADDR",
        Ipv6Addr = 5 => "ID_IPV6_ADDR",
        DerAsn1Dn = 9 => "ID_DER_ASN1_DN",
        DerAsn1Gn = 10 => "ID_DER_ASN1_GN",
        KeyId = 11 => "ID_KEY_ID",
        FcName = 12 => "ID_FC_NAME",
        Null = 13 => "ID_NULL",
    }
}

code_enum! {
    /// RFC 7296 §3.6 Certificate Encoding of the CERT and CERTREQ payloads (plus
    /// RFC 4806 OCSP and RFC 7670 raw public keys).
    CertEncoding: u8 {
        Pkcs7X509 = 1 => "PKCS #7 wrapped X.509 certificate",
        Pgp = 2 => "PGP Certificate",
        DnsSignedKey = 3 => "DNS Signed Key",
        X509Signature = 4 => "X.509 Certificate - Signature",
        KerberosToken = 6 => "Kerberos Token",
        Crl = 7 => "Certificate Revocation List (CRL)",
        Arl = 8 => "Authority Revocation List (ARL)",
        Spki = 9 => "SPKI Certificate",
        X509Attribute = 10 => "X.509 Certificate - Attribute",
        RawRsaKey = 11 => "Raw RSA Key",
        HashUrlX509Certificate = 12 => "Hash and URL of X.509 certificate",
        HashUrlX509Bundle = 13 => "Hash and URL of X.509 bundle",
        OcspContent = 14 => "OCSP Content",
        RawPublicKey = 15 => "Raw Public Key",
    }
}

code_enum! {
    /// RFC 7296 §3.8 Authentication Method (plus RFC 4754, RFC 6467, RFC 7619 and
    /// RFC 7427).
    AuthMethod: u8 {
        RsaDigitalSignature = 1 => "RSA Digital Signature",
        SharedKeyMic = 2 => "Shared Key Message Integrity Code",
        DssDigitalSignature = 3 => "DSS Digital Signature",
        EcdsaSha256P256 = 9 => "ECDSA with SHA-256 on the P-256 curve",
        EcdsaSha384P384 = 10 => "ECDSA with SHA-384 on the P-384 curve",
        EcdsaSha512P521 = 11 => "ECDSA with SHA-512 on the P-521 curve",
        GenericSecurePassword = 12 => "Generic Secure Password Authentication Method",
        Null = 13 => "NULL Authentication",
        DigitalSignature = 14 => "Digital Signature",
    }
}

code_enum! {
    /// RFC 7296 §3.10.1 Notify Message Types: errors below 16384, status types from
    /// 16384 on (with the later IANA assignments an L2TP/IPsec endpoint meets).
    NotifyType: u16 {
        UnsupportedCriticalPayload = 1 => "UNSUPPORTED_CRITICAL_PAYLOAD",
        InvalidIkeSpi = 4 => "INVALID_IKE_SPI",
        InvalidMajorVersion = 5 => "INVALID_MAJOR_VERSION",
        InvalidSyntax = 7 => "INVALID_SYNTAX",
        InvalidMessageId = 9 => "INVALID_MESSAGE_ID",
        InvalidSpi = 11 => "INVALID_SPI",
        NoProposalChosen = 14 => "NO_PROPOSAL_CHOSEN",
        InvalidKePayload = 17 => "INVALID_KE_PAYLOAD",
        AuthenticationFailed = 24 => "AUTHENTICATION_FAILED",
        SinglePairRequired = 34 => "SINGLE_PAIR_REQUIRED",
        NoAdditionalSas = 35 => "NO_ADDITIONAL_SAS",
        InternalAddressFailure = 36 => "INTERNAL_ADDRESS_FAILURE",
        FailedCpRequired = 37 => "FAILED_CP_REQUIRED",
        TsUnacceptable = 38 => "TS_UNACCEPTABLE",
        InvalidSelectors = 39 => "INVALID_SELECTORS",
        UnacceptableAddresses = 40 => "UNACCEPTABLE_ADDRESSES",
        UnexpectedNatDetected = 41 => "UNEXPECTED_NAT_DETECTED",
        TemporaryFailure = 43 => "TEMPORARY_FAILURE",
        ChildSaNotFound = 44 => "CHILD_SA_NOT_FOUND",
        InitialContact = 16384 => "INITIAL_CONTACT",
        SetWindowSize = 16385 => "SET_WINDOW_SIZE",
        AdditionalTsPossible = 16386 => "ADDITIONAL_TS_POSSIBLE",
        IpcompSupported = 16387 => "IPCOMP_SUPPORTED",
        NatDetectionSourceIp = 16388 => "NAT_DETECTION_SOURCE_IP",
        NatDetectionDestinationIp = 16389 => "NAT_DETECTION_DESTINATION_IP",
        Cookie = 16390 => "COOKIE",
        UseTransportMode = 16391 => "USE_TRANSPORT_MODE",
        HttpCertLookupSupported = 16392 => "HTTP_CERT_LOOKUP_SUPPORTED",
        RekeySa = 16393 => "REKEY_SA",
        EspTfcPaddingNotSupported = 16394 => "ESP_TFC_PADDING_NOT_SUPPORTED",
        NonFirstFragmentsAlso = 16395 => "NON_FIRST_FRAGMENTS_ALSO",
        MobikeSupported = 16396 => "MOBIKE_SUPPORTED",
        AdditionalIp4Address = 16397 => "ADDITIONAL_IP4_ADDRESS",
        AdditionalIp6Address = 16398 => "ADDITIONAL_IP6_ADDRESS",
        NoAdditionalAddresses = 16399 => "NO_ADDITIONAL_ADDRESSES",
        UpdateSaAddresses = 16400 => "UPDATE_SA_ADDRESSES",
        Cookie2 = 16401 => "COOKIE2",
        NoNatsAllowed = 16402 => "NO_NATS_ALLOWED",
        AuthLifetime = 16403 => "AUTH_LIFETIME",
        MultipleAuthSupported = 16404 => "MULTIPLE_AUTH_SUPPORTED",
        AnotherAuthFollows = 16405 => "ANOTHER_AUTH_FOLLOWS",
        RedirectSupported = 16406 => "REDIRECT_SUPPORTED",
        Redirect = 16407 => "REDIRECT",
        RedirectedFrom = 16408 => "REDIRECTED_FROM",
        EapOnlyAuthentication = 16417 => "EAP_ONLY_AUTHENTICATION",
        ChildlessIkev2Supported = 16418 => "CHILDLESS_IKEV2_SUPPORTED",
        QuickCrashDetection = 16419 => "QUICK_CRASH_DETECTION",
        Ikev2MessageIdSyncSupported = 16420 => "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
        IpsecReplayCounterSyncSupported = 16421 => "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
        Ikev2MessageIdSync = 16422 => "IKEV2_MESSAGE_ID_SYNC",
        IpsecReplayCounterSync = 16423 => "IPSEC_REPLAY_COUNTER_SYNC",
        Ikev2FragmentationSupported = 16430 => "IKEV2_FRAGMENTATION_SUPPORTED",
        SignatureHashAlgorithms = 16431 => "SIGNATURE_HASH_ALGORITHMS",
        CloneIkeSaSupported = 16432 => "CLONE_IKE_SA_SUPPORTED",
        CloneIkeSa = 16433 => "CLONE_IKE_SA",
        Puzzle = 16434 => "PUZZLE",
        UsePpk = 16435 => "USE_PPK",
        PpkIdentity = 16436 => "PPK_IDENTITY",
        NoPpkAuth = 16437 => "NO_PPK_AUTH",
        IntermediateExchangeSupported = 16438 => "INTERMEDIATE_EXCHANGE_SUPPORTED",
    }
}

impl NotifyType {
    /// The first status type: RFC 7296 §3.10.1 numbers error types below 16384.
    pub const FIRST_STATUS: u16 = 16384;

    /// RFC 7296 §3.10.1: whether this is an error notification (type below 16384). An
    /// unrecognised error in a response means the request failed; an unrecognised
    /// status type is ignored.
    #[must_use]
    pub const fn is_error(self) -> bool {
        self.value() < Self::FIRST_STATUS
    }
}

code_enum! {
    /// RFC 7296 §3.13.1 TS Type (plus RFC 4595 and RFC 9478).
    TsType: u8 {
        Ipv4AddrRange = 7 => "TS_IPV4_ADDR_RANGE",
        Ipv6AddrRange = 8 => "TS_IPV6_ADDR_RANGE",
        FcAddrRange = 9 => "TS_FC_ADDR_RANGE",
        SecLabel = 10 => "TS_SECLABEL",
    }
}

code_enum! {
    /// RFC 7296 §3.15 CFG Type of a Configuration payload.
    CfgType: u8 {
        Request = 1 => "CFG_REQUEST",
        Reply = 2 => "CFG_REPLY",
        Set = 3 => "CFG_SET",
        Ack = 4 => "CFG_ACK",
    }
}

code_enum! {
    /// RFC 7296 §3.15.1 Configuration Attribute types (plus the later IANA assignments).
    CfgAttributeType: u16 {
        InternalIp4Address = 1 => "INTERNAL_IP4_ADDRESS",
        InternalIp4Netmask = 2 => "INTERNAL_IP4_NETMASK",
        InternalIp4Dns = 3 => "INTERNAL_IP4_DNS",
        InternalIp4Nbns = 4 => "INTERNAL_IP4_NBNS",
        InternalIp4Dhcp = 6 => "INTERNAL_IP4_DHCP",
        ApplicationVersion = 7 => "APPLICATION_VERSION",
        InternalIp6Address = 8 => "INTERNAL_IP6_ADDRESS",
        InternalIp6Dns = 10 => "INTERNAL_IP6_DNS",
        InternalIp6Dhcp = 12 => "INTERNAL_IP6_DHCP",
        InternalIp4Subnet = 13 => "INTERNAL_IP4_SUBNET",
        SupportedAttributes = 14 => "SUPPORTED_ATTRIBUTES",
        InternalIp6Subnet = 15 => "INTERNAL_IP6_SUBNET",
        InternalDnsDomain = 25 => "INTERNAL_DNS_DOMAIN",
    }
}

code_enum! {
    /// RFC 3748 §4 EAP Code (plus RFC 6696 Initiate/Finish).
    EapCode: u8 {
        Request = 1 => "Request",
        Response = 2 => "Response",
        Success = 3 => "Success",
        Failure = 4 => "Failure",
        Initiate = 5 => "Initiate",
        Finish = 6 => "Finish",
    }
}

code_enum! {
    /// RFC 3748 §5 EAP method Type of Requests and Responses (with the common IANA
    /// method numbers).
    EapType: u8 {
        Identity = 1 => "Identity",
        Notification = 2 => "Notification",
        Nak = 3 => "Legacy Nak",
        Md5Challenge = 4 => "MD5-Challenge",
        OneTimePassword = 5 => "One-Time Password (OTP)",
        GenericTokenCard = 6 => "Generic Token Card (GTC)",
        Tls = 13 => "EAP-TLS",
        Sim = 18 => "EAP-SIM",
        Ttls = 21 => "EAP-TTLS",
        Aka = 23 => "EAP-AKA",
        Peap = 25 => "PEAP",
        MsChapV2 = 26 => "EAP-MSCHAP-V2",
        Fast = 43 => "EAP-FAST",
        Ikev2 = 49 => "EAP-IKEv2",
        AkaPrime = 50 => "EAP-AKA'",
        Pwd = 52 => "EAP-pwd",
        Expanded = 254 => "Expanded Type",
        Experimental = 255 => "Experimental",
    }
}
