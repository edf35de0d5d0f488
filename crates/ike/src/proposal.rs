//! Proposal lists in strongSwan's spelling, as administrators write them in
//! `swanctl.conf` (`proposals = aes128-sha1-modp2048,3des-sha1-modp1024`,
//! `esp_proposals = aes128gcm16-ecp256`).
//!
//! A list is separated by commas; each proposal is a dash-separated list of algorithm
//! keywords. Like strongSwan, a proposal may name several algorithms of one kind
//! (`aes128-aes256-sha1-modp2048-ecp256`); it then stands for every combination, in the
//! order written (first encryption first, then the next integrity, and so on).
//!
//! Keywords understood:
//!
//! | kind | keywords |
//! |---|---|
//! | encryption | `aes128` (`aes`), `aes192`, `aes256`, `3des`, `aes128gcm16`, `aes192gcm16`, `aes256gcm16` (also `…gcm128`), `null` (ESP only) |
//! | integrity (IKEv1 hash) | `md5`, `sha1` (`sha`), `sha256` (`sha2_256`), `sha384` (`sha2_384`), `sha512` (`sha2_512`) |
//! | PRF (IKEv2) | `prfmd5`, `prfsha1`, `prfsha256`, `prfsha384`, `prfsha512` |
//! | Diffie-Hellman | `modp1024`, `modp1536`, `modp2048`, `modp3072`, `modp4096`, `ecp256`, `ecp384`, `x25519` (`curve25519`) |
//! | ESN (ESP) | `noesn` (the default); `esn` is refused: the ESP SAs negotiated here have none |
//!
//! An IKE proposal needs an encryption algorithm and a group; a non-AEAD cipher needs an
//! integrity algorithm, an AEAD cipher (AES-GCM) takes none and, for IKEv2, needs a PRF.
//! In an ESP proposal a group means PFS (RFC 2409 §5.5, RFC 7296 §1.3.1).
//!
//! ```
//! use l2sec_ike::proposal::{parse_esp_list, parse_ike_list};
//! let ike = parse_ike_list("aes128-sha1-modp2048,3des-sha1-modp1024")?;
//! assert_eq!(ike.len(), 2);
//! assert_eq!(ike[1].to_string(), "3des-sha1-modp1024");
//! let esp = parse_esp_list("aes128gcm16-ecp256")?;
//! assert!(esp[0].pfs_group.is_some());
//! let bad = parse_ike_list("aes129-sha1-modp2048").unwrap_err();
//! assert_eq!(bad.to_string(), "proposal \"aes129-sha1-modp2048\": unknown algorithm \"aes129\"");
//! # Ok::<(), l2sec_ike::proposal::ProposalError>(())
//! ```

use core::fmt;
use std::time::Duration;

use crate::child::{EspEncryption, EspIntegrity};
use crate::crypto::{CipherAlgorithm, DhGroup, PrfAlgorithm};
use crate::v1::phase1::Phase1Proposal;
use crate::v1::quick::EspProposal as V1EspProposal;
use crate::v2::keys::{IkeEncryption, IkeIntegrity, IkeSuite};

/// Why a proposal list was refused. The message names the proposal and the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposalError {
    /// The list, or one proposal in it, is empty (`""`, `"a,,b"`, `"aes128--sha1"`).
    #[error("empty proposal in list {list:?}")]
    Empty {
        /// The whole list.
        list: String,
    },
    /// A keyword that names no algorithm.
    #[error("proposal {proposal:?}: unknown algorithm {token:?}")]
    UnknownAlgorithm {
        /// The proposal.
        proposal: String,
        /// The keyword.
        token: String,
    },
    /// A keyword that is an algorithm, but not one this kind of proposal takes.
    #[error("proposal {proposal:?}: {token:?} is not allowed here ({why})")]
    NotAllowed {
        /// The proposal.
        proposal: String,
        /// The keyword.
        token: String,
        /// Why.
        why: &'static str,
    },
    /// Something the proposal must name is missing.
    #[error("proposal {proposal:?}: {what}")]
    Missing {
        /// The proposal.
        proposal: String,
        /// What is missing.
        what: &'static str,
    },
}

/// An encryption keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encryption {
    /// AES-CBC with a 16, 24 or 32 byte key.
    AesCbc {
        /// Key length in bytes.
        key_len: usize,
    },
    /// AES-GCM with a 16-byte ICV (AEAD) and a 16, 24 or 32 byte key.
    AesGcm16 {
        /// Key length in bytes (without salt).
        key_len: usize,
    },
    /// 3DES-CBC.
    TripleDesCbc,
    /// No encryption (ESP only, RFC 2410).
    Null,
}

impl Encryption {
    /// True for AEAD ciphers, which take no integrity algorithm.
    #[must_use]
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16 { .. })
    }

    /// The same cipher for ESP.
    #[must_use]
    pub const fn esp(self) -> EspEncryption {
        match self {
            Self::AesCbc { key_len } => EspEncryption::AesCbc { key_len },
            Self::AesGcm16 { key_len } => EspEncryption::AesGcm16 { key_len },
            Self::TripleDesCbc => EspEncryption::TripleDesCbc,
            Self::Null => EspEncryption::Null,
        }
    }
}

/// An integrity (hash) keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Integrity {
    /// MD5 (legacy).
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA2-256.
    Sha256,
    /// SHA2-384.
    Sha384,
    /// SHA2-512.
    Sha512,
}

impl Integrity {
    /// The HMAC PRF with the same hash (IKEv1 uses the hash as PRF, IKEv2 defaults to it).
    #[must_use]
    pub const fn prf(self) -> PrfAlgorithm {
        match self {
            Self::Md5 => PrfAlgorithm::HmacMd5,
            Self::Sha1 => PrfAlgorithm::HmacSha1,
            Self::Sha256 => PrfAlgorithm::HmacSha256,
            Self::Sha384 => PrfAlgorithm::HmacSha384,
            Self::Sha512 => PrfAlgorithm::HmacSha512,
        }
    }

    /// The ESP integrity transform with this hash (RFC 2404, RFC 4868).
    #[must_use]
    pub const fn esp(self) -> EspIntegrity {
        match self {
            Self::Md5 => EspIntegrity::HmacMd5_96,
            Self::Sha1 => EspIntegrity::HmacSha1_96,
            Self::Sha256 => EspIntegrity::HmacSha256_128,
            Self::Sha384 => EspIntegrity::HmacSha384_192,
            Self::Sha512 => EspIntegrity::HmacSha512_256,
        }
    }

    /// The IKEv2 integrity transform with this hash; `None` for MD5.
    #[must_use]
    pub const fn ikev2(self) -> Option<IkeIntegrity> {
        match self {
            Self::Md5 => None,
            Self::Sha1 => Some(IkeIntegrity::HmacSha1_96),
            Self::Sha256 => Some(IkeIntegrity::HmacSha256_128),
            Self::Sha384 => Some(IkeIntegrity::HmacSha384_192),
            Self::Sha512 => Some(IkeIntegrity::HmacSha512_256),
        }
    }
}

/// One IKE proposal (one combination of algorithms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeProposal {
    /// The cipher.
    pub encryption: Encryption,
    /// The integrity algorithm (IKEv1: the hash); `None` with AEAD.
    pub integrity: Option<Integrity>,
    /// An explicit PRF (IKEv2 `prf…` keyword); `None` means "from the integrity".
    pub prf: Option<PrfAlgorithm>,
    /// The Diffie-Hellman group.
    pub group: DhGroup,
}

impl IkeProposal {
    /// As an IKEv1 phase-1 proposal (RFC 2409 Appendix A) with this lifetime.
    ///
    /// # Errors
    /// AEAD ciphers, `null`, a missing hash, or an explicit PRF different from the hash
    /// (IKEv1 has none of these).
    pub fn v1(&self, lifetime: Duration) -> Result<Phase1Proposal, ProposalError> {
        let err = |token: String, why| ProposalError::NotAllowed { proposal: self.to_string(), token, why };
        let encryption = match self.encryption {
            Encryption::AesCbc { key_len: 16 } => CipherAlgorithm::AesCbc128,
            Encryption::AesCbc { key_len: 24 } => CipherAlgorithm::AesCbc192,
            Encryption::AesCbc { key_len: 32 } => CipherAlgorithm::AesCbc256,
            Encryption::TripleDesCbc => CipherAlgorithm::TripleDesCbc,
            other => return Err(err(encryption_name(other), "not an IKEv1 cipher")),
        };
        let hash = self
            .integrity
            .ok_or_else(|| ProposalError::Missing { proposal: self.to_string(), what: "IKEv1 needs a hash" })?
            .prf();
        if let Some(prf) = self.prf.filter(|p| *p != hash) {
            return Err(err(prf_name(prf).to_owned(), "IKEv1 uses the hash as PRF"));
        }
        Ok(Phase1Proposal { encryption, hash, group: self.group, lifetime })
    }

    /// As an IKEv2 transform set (RFC 7296 §3.3).
    ///
    /// # Errors
    /// Ciphers or integrity algorithms the IKEv2 machine does not implement (3DES, MD5,
    /// null), or an AEAD cipher without PRF.
    pub fn v2(&self) -> Result<IkeSuite, ProposalError> {
        let err = |token: String, why| ProposalError::NotAllowed { proposal: self.to_string(), token, why };
        let encryption = match self.encryption {
            Encryption::AesCbc { key_len } => IkeEncryption::AesCbc { key_len },
            Encryption::AesGcm16 { key_len } => IkeEncryption::AesGcm16 { key_len },
            other => return Err(err(encryption_name(other), "not implemented for IKEv2")),
        };
        let integrity = match self.integrity {
            None => None,
            Some(i) => {
                Some(i.ikev2().ok_or_else(|| err(integrity_name(i).to_owned(), "not an IKEv2 integrity"))?)
            }
        };
        let prf = match (self.prf, self.integrity) {
            (Some(p), _) => p,
            (None, Some(i)) => i.prf(),
            (None, None) => {
                return Err(ProposalError::Missing {
                    proposal: self.to_string(),
                    what: "an AEAD cipher needs a PRF (prfsha256, ...)",
                });
            }
        };
        Ok(IkeSuite { encryption, integrity, prf, group: self.group })
    }
}

impl fmt::Display for IkeProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encryption_name(self.encryption))?;
        if let Some(i) = self.integrity {
            write!(f, "-{}", integrity_name(i))?;
        }
        if let Some(p) = self.prf {
            write!(f, "-{}", prf_name(p))?;
        }
        write!(f, "-{}", group_name(self.group))
    }
}

/// One ESP proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspProposal {
    /// The cipher.
    pub encryption: EspEncryption,
    /// The integrity transform ([`EspIntegrity::None`] with AES-GCM).
    pub integrity: EspIntegrity,
    /// The PFS group, if the proposal names one.
    pub pfs_group: Option<DhGroup>,
}

impl EspProposal {
    /// As an IKEv1 Quick Mode proposal with this lifetime (the PFS group goes into
    /// [`crate::v1::quick::QuickModeConfig::pfs_group`]).
    #[must_use]
    pub const fn v1(&self, lifetime: Duration) -> V1EspProposal {
        V1EspProposal { encryption: self.encryption, integrity: self.integrity, lifetime }
    }

    /// As an IKEv2 Child SA transform pair.
    #[must_use]
    pub const fn v2(&self) -> (EspEncryption, EspIntegrity) {
        (self.encryption, self.integrity)
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&esp_transform_name(self.encryption, self.integrity))?;
        if let Some(g) = self.pfs_group {
            write!(f, "-{}", group_name(g))?;
        }
        Ok(())
    }
}

/// The strongSwan spelling of an ESP transform pair (`aes128-sha1`, `aes128gcm16`), as
/// logs and events name a negotiated Child SA.
#[must_use]
pub fn esp_transform_name(encryption: EspEncryption, integrity: EspIntegrity) -> String {
    let mut s = match encryption {
        EspEncryption::AesCbc { key_len } => format!("aes{}", key_len * 8),
        EspEncryption::AesGcm16 { key_len } => format!("aes{}gcm16", key_len * 8),
        EspEncryption::TripleDesCbc => "3des".to_owned(),
        _ => "null".to_owned(),
    };
    let integ = match integrity {
        EspIntegrity::HmacMd5_96 => Some("md5"),
        EspIntegrity::HmacSha1_96 => Some("sha1"),
        EspIntegrity::HmacSha256_128 => Some("sha256"),
        EspIntegrity::HmacSha384_192 => Some("sha384"),
        EspIntegrity::HmacSha512_256 => Some("sha512"),
        _ => None,
    };
    if let Some(i) = integ {
        s.push('-');
        s.push_str(i);
    }
    s
}

/// The strongSwan spelling of an IKEv1 phase-1 proposal.
#[must_use]
pub fn phase1_name(p: &Phase1Proposal) -> String {
    let encryption = match p.encryption {
        CipherAlgorithm::AesCbc128 => "aes128",
        CipherAlgorithm::AesCbc192 => "aes192",
        CipherAlgorithm::AesCbc256 => "aes256",
        CipherAlgorithm::TripleDesCbc => "3des",
    };
    let hash = prf_name(p.hash).trim_start_matches("prf");
    format!("{encryption}-{hash}-{}", group_name(p.group))
}

/// The strongSwan spelling of an IKEv2 transform set.
#[must_use]
pub fn ike_suite_name(s: &IkeSuite) -> String {
    let mut out = match s.encryption {
        IkeEncryption::AesCbc { key_len } => format!("aes{}", key_len * 8),
        IkeEncryption::AesGcm16 { key_len } => format!("aes{}gcm16", key_len * 8),
    };
    if let Some(i) = s.integrity {
        out.push_str(match i {
            IkeIntegrity::HmacSha1_96 => "-sha1",
            IkeIntegrity::HmacSha256_128 => "-sha256",
            IkeIntegrity::HmacSha384_192 => "-sha384",
            IkeIntegrity::HmacSha512_256 => "-sha512",
        });
    }
    out.push('-');
    out.push_str(prf_name(s.prf));
    out.push('-');
    out.push_str(group_name(s.group));
    out
}

fn encryption_name(e: Encryption) -> String {
    match e {
        Encryption::AesCbc { key_len } => format!("aes{}", key_len * 8),
        Encryption::AesGcm16 { key_len } => format!("aes{}gcm16", key_len * 8),
        Encryption::TripleDesCbc => "3des".to_owned(),
        Encryption::Null => "null".to_owned(),
    }
}

const fn integrity_name(i: Integrity) -> &'static str {
    match i {
        Integrity::Md5 => "md5",
        Integrity::Sha1 => "sha1",
        Integrity::Sha256 => "sha256",
        Integrity::Sha384 => "sha384",
        Integrity::Sha512 => "sha512",
    }
}

const fn prf_name(p: PrfAlgorithm) -> &'static str {
    match p {
        PrfAlgorithm::HmacMd5 => "prfmd5",
        PrfAlgorithm::HmacSha1 => "prfsha1",
        PrfAlgorithm::HmacSha256 => "prfsha256",
        PrfAlgorithm::HmacSha384 => "prfsha384",
        PrfAlgorithm::HmacSha512 => "prfsha512",
    }
}

/// The strongSwan keyword of a Diffie-Hellman group (`modp2048`, `ecp256`, `x25519`).
#[must_use]
pub const fn group_name(g: DhGroup) -> &'static str {
    match g {
        DhGroup::Modp1024 => "modp1024",
        DhGroup::Modp1536 => "modp1536",
        DhGroup::Modp2048 => "modp2048",
        DhGroup::Modp3072 => "modp3072",
        DhGroup::Modp4096 => "modp4096",
        DhGroup::Ecp256 => "ecp256",
        DhGroup::Ecp384 => "ecp384",
        DhGroup::Curve25519 => "x25519",
    }
}

/// One keyword, classified.
#[derive(Debug, Clone, Copy)]
enum Token {
    Encryption(Encryption),
    Integrity(Integrity),
    Prf(PrfAlgorithm),
    Group(DhGroup),
    NoEsn,
    Esn,
}

fn token(word: &str) -> Option<Token> {
    let aes = |bits: usize| Encryption::AesCbc { key_len: bits / 8 };
    let gcm = |bits: usize| Encryption::AesGcm16 { key_len: bits / 8 };
    Some(match word.to_ascii_lowercase().as_str() {
        "aes" | "aes128" => Token::Encryption(aes(128)),
        "aes192" => Token::Encryption(aes(192)),
        "aes256" => Token::Encryption(aes(256)),
        "3des" => Token::Encryption(Encryption::TripleDesCbc),
        "aes128gcm16" | "aes128gcm128" => Token::Encryption(gcm(128)),
        "aes192gcm16" | "aes192gcm128" => Token::Encryption(gcm(192)),
        "aes256gcm16" | "aes256gcm128" => Token::Encryption(gcm(256)),
        "null" => Token::Encryption(Encryption::Null),
        "md5" => Token::Integrity(Integrity::Md5),
        "sha" | "sha1" => Token::Integrity(Integrity::Sha1),
        "sha256" | "sha2_256" => Token::Integrity(Integrity::Sha256),
        "sha384" | "sha2_384" => Token::Integrity(Integrity::Sha384),
        "sha512" | "sha2_512" => Token::Integrity(Integrity::Sha512),
        "prfmd5" => Token::Prf(PrfAlgorithm::HmacMd5),
        "prfsha1" => Token::Prf(PrfAlgorithm::HmacSha1),
        "prfsha256" => Token::Prf(PrfAlgorithm::HmacSha256),
        "prfsha384" => Token::Prf(PrfAlgorithm::HmacSha384),
        "prfsha512" => Token::Prf(PrfAlgorithm::HmacSha512),
        "modp1024" => Token::Group(DhGroup::Modp1024),
        "modp1536" => Token::Group(DhGroup::Modp1536),
        "modp2048" => Token::Group(DhGroup::Modp2048),
        "modp3072" => Token::Group(DhGroup::Modp3072),
        "modp4096" => Token::Group(DhGroup::Modp4096),
        "ecp256" => Token::Group(DhGroup::Ecp256),
        "ecp384" => Token::Group(DhGroup::Ecp384),
        "x25519" | "curve25519" => Token::Group(DhGroup::Curve25519),
        "noesn" => Token::NoEsn,
        "esn" => Token::Esn,
        _ => return None,
    })
}

/// The keywords of one proposal, sorted by kind.
#[derive(Default)]
struct Parts {
    encryption: Vec<Encryption>,
    integrity: Vec<Integrity>,
    prf: Vec<PrfAlgorithm>,
    group: Vec<DhGroup>,
}

/// Splits a list into proposals and each proposal into classified keywords.
fn split(list: &str, esp: bool) -> Result<Vec<(String, Parts)>, ProposalError> {
    let mut out = Vec::new();
    for proposal in list.split(',').map(str::trim) {
        if proposal.is_empty() || proposal.split('-').any(str::is_empty) {
            return Err(ProposalError::Empty { list: list.to_owned() });
        }
        let mut parts = Parts::default();
        for word in proposal.split('-') {
            let not_allowed = |why| ProposalError::NotAllowed {
                proposal: proposal.to_owned(),
                token: word.to_owned(),
                why,
            };
            match token(word) {
                None => {
                    return Err(ProposalError::UnknownAlgorithm {
                        proposal: proposal.to_owned(),
                        token: word.to_owned(),
                    });
                }
                Some(Token::Encryption(Encryption::Null)) if !esp => {
                    return Err(not_allowed("IKE messages are always encrypted"));
                }
                Some(Token::Encryption(e)) => parts.encryption.push(e),
                Some(Token::Integrity(i)) => parts.integrity.push(i),
                Some(Token::Prf(_)) if esp => return Err(not_allowed("a PRF belongs to IKE proposals")),
                Some(Token::Prf(p)) => parts.prf.push(p),
                Some(Token::Group(g)) => parts.group.push(g),
                Some(Token::NoEsn) if esp => {}
                Some(Token::NoEsn | Token::Esn) if !esp => {
                    return Err(not_allowed("ESN belongs to ESP proposals"));
                }
                Some(_) => return Err(not_allowed("extended sequence numbers are not supported")),
            }
        }
        if parts.encryption.is_empty() {
            return Err(ProposalError::Missing {
                proposal: proposal.to_owned(),
                what: "no encryption algorithm",
            });
        }
        let aead = parts.encryption.iter().filter(|e| e.is_aead()).count();
        if aead != 0 && aead != parts.encryption.len() {
            return Err(ProposalError::Missing {
                proposal: proposal.to_owned(),
                what: "AEAD and non-AEAD ciphers cannot share a proposal",
            });
        }
        if aead != 0 {
            if let Some(i) = parts.integrity.first() {
                return Err(ProposalError::NotAllowed {
                    proposal: proposal.to_owned(),
                    token: integrity_name(*i).to_owned(),
                    why: "AES-GCM takes no integrity algorithm",
                });
            }
        } else if parts.integrity.is_empty() && !(esp && parts.encryption == [Encryption::Null]) {
            return Err(ProposalError::Missing {
                proposal: proposal.to_owned(),
                what: "no integrity algorithm (sha1, sha256, ...)",
            });
        }
        out.push((proposal.to_owned(), parts));
    }
    Ok(out)
}

/// Parses an IKE proposal list (`aes128-sha1-modp2048,3des-sha1-modp1024`), expanding
/// proposals with several algorithms of one kind into every combination.
///
/// # Errors
/// The first bad proposal, naming the offending keyword.
pub fn parse_ike_list(list: &str) -> Result<Vec<IkeProposal>, ProposalError> {
    let mut out = Vec::new();
    for (proposal, parts) in split(list, false)? {
        if parts.group.is_empty() {
            return Err(ProposalError::Missing {
                proposal,
                what: "no Diffie-Hellman group (modp2048, ecp256, ...)",
            });
        }
        let integrity: Vec<Option<Integrity>> = if parts.integrity.is_empty() {
            vec![None]
        } else {
            parts.integrity.iter().copied().map(Some).collect()
        };
        let prf: Vec<Option<PrfAlgorithm>> =
            if parts.prf.is_empty() { vec![None] } else { parts.prf.iter().copied().map(Some).collect() };
        for &encryption in &parts.encryption {
            for &integrity in &integrity {
                for &prf in &prf {
                    for &group in &parts.group {
                        out.push(IkeProposal { encryption, integrity, prf, group });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Parses an ESP proposal list (`aes128-sha1,3des-sha1`, `aes128gcm16-ecp256`); a group
/// asks for PFS.
///
/// # Errors
/// The first bad proposal, naming the offending keyword.
pub fn parse_esp_list(list: &str) -> Result<Vec<EspProposal>, ProposalError> {
    let mut out = Vec::new();
    for (_, parts) in split(list, true)? {
        let integrity: Vec<EspIntegrity> = if parts.integrity.is_empty() {
            vec![EspIntegrity::None]
        } else {
            parts.integrity.iter().map(|i| i.esp()).collect()
        };
        let groups: Vec<Option<DhGroup>> =
            if parts.group.is_empty() { vec![None] } else { parts.group.iter().copied().map(Some).collect() };
        for &encryption in &parts.encryption {
            for &integrity in &integrity {
                for &pfs_group in &groups {
                    out.push(EspProposal { encryption: encryption.esp(), integrity, pfs_group });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lab_initiator_lists_parse() {
        let ike = parse_ike_list("aes128-sha1-modp2048, 3des-sha1-modp1024").unwrap();
        assert_eq!(
            ike,
            [
                IkeProposal {
                    encryption: Encryption::AesCbc { key_len: 16 },
                    integrity: Some(Integrity::Sha1),
                    prf: None,
                    group: DhGroup::Modp2048
                },
                IkeProposal {
                    encryption: Encryption::TripleDesCbc,
                    integrity: Some(Integrity::Sha1),
                    prf: None,
                    group: DhGroup::Modp1024
                },
            ]
        );
        let v1 = ike[0].v1(Duration::from_secs(3600)).unwrap();
        assert_eq!(
            (v1.encryption, v1.hash, v1.group),
            (CipherAlgorithm::AesCbc128, PrfAlgorithm::HmacSha1, DhGroup::Modp2048)
        );
        assert_eq!(phase1_name(&v1), "aes128-sha1-modp2048");
        let esp = parse_esp_list("aes128-sha1,3des-sha1").unwrap();
        assert_eq!(esp[0].v2(), (EspEncryption::AesCbc { key_len: 16 }, EspIntegrity::HmacSha1_96));
        assert_eq!(esp[1].v2(), (EspEncryption::TripleDesCbc, EspIntegrity::HmacSha1_96));
        assert!(esp.iter().all(|p| p.pfs_group.is_none()));
    }

    #[test]
    fn issue_proposals_all_parse_for_ikev1() {
        for (text, group) in [
            ("aes128-sha1-modp2048", DhGroup::Modp2048),
            ("aes256-sha1-modp2048", DhGroup::Modp2048),
            ("aes256-sha256-modp2048", DhGroup::Modp2048),
            ("aes128-sha1-ecp256", DhGroup::Ecp256),
            ("aes256-sha1-ecp384", DhGroup::Ecp384),
            ("3des-sha1-modp1024", DhGroup::Modp1024),
            ("aes128-sha256-x25519", DhGroup::Curve25519),
        ] {
            let p = parse_ike_list(text).unwrap();
            assert_eq!(p.len(), 1, "{text}");
            let v1 = p[0].v1(Duration::from_secs(60)).unwrap();
            assert_eq!(v1.group, group);
            assert_eq!(phase1_name(&v1), text);
            assert_eq!(p[0].to_string(), text);
        }
    }

    #[test]
    fn ikev2_prf_defaults_to_the_integrity_hash_and_gcm_needs_one() {
        let s = parse_ike_list("aes128-sha256-modp2048").unwrap()[0].v2().unwrap();
        assert_eq!(s, IkeSuite::aes128_sha256(DhGroup::Modp2048));
        let g = parse_ike_list("aes128gcm16-prfsha256-ecp256").unwrap()[0].v2().unwrap();
        assert_eq!(g, IkeSuite::aes_gcm16(16, DhGroup::Ecp256));
        assert_eq!(ike_suite_name(&g), "aes128gcm16-prfsha256-ecp256");
        let e = parse_ike_list("aes128gcm16-ecp256").unwrap()[0].v2().unwrap_err();
        assert!(e.to_string().contains("needs a PRF"), "{e}");
        let e = parse_ike_list("3des-sha1-modp1024").unwrap()[0].v2().unwrap_err();
        assert!(e.to_string().contains("\"3des\""), "{e}");
        let e = parse_ike_list("aes128gcm16-prfsha256-ecp256").unwrap()[0].v1(Duration::ZERO).unwrap_err();
        assert!(e.to_string().contains("aes128gcm16"), "{e}");
    }

    #[test]
    fn several_algorithms_of_a_kind_expand_in_order() {
        let p = parse_ike_list("aes128-aes256-sha1-modp2048-ecp256").unwrap();
        let names: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["aes128-sha1-modp2048", "aes128-sha1-ecp256", "aes256-sha1-modp2048", "aes256-sha1-ecp256"]
        );
    }

    #[test]
    fn esp_groups_mean_pfs_and_gcm_has_no_integrity() {
        let p = parse_esp_list("aes128gcm16-ecp256,aes256-sha256-modp2048-noesn,null-sha1").unwrap();
        assert_eq!(
            p[0],
            EspProposal {
                encryption: EspEncryption::AesGcm16 { key_len: 16 },
                integrity: EspIntegrity::None,
                pfs_group: Some(DhGroup::Ecp256)
            }
        );
        assert_eq!(p[0].to_string(), "aes128gcm16-ecp256");
        assert_eq!(p[1].pfs_group, Some(DhGroup::Modp2048));
        assert_eq!(p[1].integrity, EspIntegrity::HmacSha256_128);
        assert_eq!(p[2].encryption, EspEncryption::Null);
        assert_eq!(esp_transform_name(p[1].encryption, p[1].integrity), "aes256-sha256");
        let q = p[1].v1(Duration::from_secs(5));
        assert_eq!(q.lifetime, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_the_bad_token() {
        let cases: [(&str, bool, &str); 12] = [
            ("aes129-sha1-modp2048", false, "unknown algorithm \"aes129\""),
            ("aes128-sha1-modp2047", false, "\"modp2047\""),
            ("aes128-sha1", false, "no Diffie-Hellman group"),
            ("sha1-modp2048", false, "no encryption algorithm"),
            ("aes128-modp2048", false, "no integrity algorithm"),
            ("aes128gcm16-sha1-prfsha1-ecp256", false, "\"sha1\" is not allowed here"),
            ("null-sha1-modp2048", false, "\"null\" is not allowed here"),
            ("aes128-sha1,,3des-sha1-modp1024", false, "empty proposal"),
            ("", false, "empty proposal"),
            ("aes128-sha1-esn", true, "\"esn\" is not allowed here"),
            ("aes128-prfsha1", true, "\"prfsha1\" is not allowed here"),
            ("aes128gcm16-aes128-sha1", true, "AEAD and non-AEAD"),
        ];
        for (list, esp, needle) in cases {
            let e = if esp { parse_esp_list(list).unwrap_err() } else { parse_ike_list(list).unwrap_err() };
            assert!(e.to_string().contains(needle), "{list}: {e}");
        }
        let e = parse_esp_list("aes128-sha1,aes128-shaX").unwrap_err();
        assert_eq!(
            e,
            ProposalError::UnknownAlgorithm { proposal: "aes128-shaX".to_owned(), token: "shaX".to_owned() }
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_aliases_work() {
        let p = parse_ike_list("AES-SHA-Curve25519").unwrap();
        assert_eq!(p[0].to_string(), "aes128-sha1-x25519");
        let p = parse_esp_list("aes256gcm128").unwrap();
        assert_eq!(p[0].encryption, EspEncryption::AesGcm16 { key_len: 32 });
    }
}
