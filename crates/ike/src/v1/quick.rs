//! Quick Mode results (RFC 2409 §5.5): turning a negotiated IPsec SA pair into a
//! [`ChildSa`].

use crate::child::{ChildSa, EspEncapsulation, EspEncryption, EspIntegrity, EspKeys, EspMode, Lifetime};
use crate::error::Error;

use super::keys::Phase1Keys;

/// RFC 2407 §4.4.1: PROTO_IPSEC_ESP, the protocol byte mixed into KEYMAT.
const PROTO_IPSEC_ESP: u8 = 3;

/// What a Quick Mode negotiated for one ESP SA pair.
#[derive(Debug, Clone, Copy)]
pub struct NegotiatedEsp<'a> {
    /// The SPI we chose (in our proposal): the peer sends to it.
    pub spi_in: u32,
    /// The SPI the peer chose: we send to it.
    pub spi_out: u32,
    /// Encryption transform.
    pub encryption: EspEncryption,
    /// Integrity transform.
    pub integrity: EspIntegrity,
    /// Tunnel or transport.
    pub mode: EspMode,
    /// Plain ESP or UDP-encapsulated (RFC 3947 encapsulation modes 3/4).
    pub encapsulation: EspEncapsulation,
    /// The initiator's Quick Mode nonce body (Ni_b).
    pub ni_b: &'a [u8],
    /// The responder's Quick Mode nonce body (Nr_b).
    pub nr_b: &'a [u8],
    /// With PFS: the Quick Mode Diffie-Hellman shared secret g(qm)^xy.
    pub pfs_g_xy: Option<&'a [u8]>,
    /// Hard lifetime.
    pub hard_lifetime: Lifetime,
    /// Soft lifetime.
    pub soft_lifetime: Lifetime,
}

/// RFC 2409 §5.5: derives the keys of both SAs and describes the pair. KEYMAT for an SA
/// is keyed by the SPI its receiver chose, so the inbound keys come from `spi_in` and
/// the outbound keys from `spi_out`, whichever side initiated.
///
/// # Errors
/// [`Error::Configuration`] if the transforms need no keys at all (NULL with no
/// integrity).
pub fn child_sa(keys: &Phase1Keys, esp: &NegotiatedEsp<'_>) -> Result<ChildSa, Error> {
    let len = esp.encryption.keymat_len() + esp.integrity.keymat_len();
    if len == 0 {
        return Err(Error::Configuration("ESP without encryption and integrity"));
    }
    let derive = |spi: u32| {
        let keymat = keys.keymat(esp.pfs_g_xy, PROTO_IPSEC_ESP, &spi.to_be_bytes(), esp.ni_b, esp.nr_b, len);
        EspKeys::from_keymat(keymat.as_bytes(), esp.encryption, esp.integrity)
            .ok_or(Error::Configuration("KEYMAT too short"))
    };
    Ok(ChildSa {
        spi_in: esp.spi_in,
        spi_out: esp.spi_out,
        encryption: esp.encryption,
        integrity: esp.integrity,
        keys_in: derive(esp.spi_in)?,
        keys_out: derive(esp.spi_out)?,
        mode: esp.mode,
        encapsulation: esp.encapsulation,
        extended_sequence_numbers: false,
        hard_lifetime: esp.hard_lifetime,
        soft_lifetime: esp.soft_lifetime,
    })
}
