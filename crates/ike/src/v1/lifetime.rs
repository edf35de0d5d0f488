//! SA lifetimes (RFC 2407 §4.5, RFC 2409 Appendix A): reading and writing the life
//! type / life duration attribute pairs of phase-1 and phase-2 transforms, and the soft
//! (rekey) deadline drawn with jitter.
//!
//! A transform may carry several pairs: each Life Duration applies to the Life Type
//! attribute just before it (1 = seconds, 2 = kilobytes). Durations that do not fit in
//! 16 bits go in the variable (TLV) form, 4 bytes when they fit in 32 bits, else 8.

use std::time::Duration;

use rand_core::Rng;

use crate::wire::v1::{Attribute, AttributeValue, Transform};

/// RFC 2407 §4.5 SA Life Type: seconds.
pub(crate) const LIFE_SECONDS: u16 = 1;
/// RFC 2407 §4.5 SA Life Type: kilobytes.
pub(crate) const LIFE_KILOBYTES: u16 = 2;
/// RFC 2407 §4.5: the lifetime when a transform names none, 8 hours.
pub(crate) const DEFAULT_SECONDS: u64 = 28_800;

/// The lifetimes a transform carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Life {
    /// Seconds, if a seconds pair was present.
    pub seconds: Option<u64>,
    /// Kilobytes, if a kilobytes pair was present.
    pub kilobytes: Option<u64>,
}

impl Life {
    /// The time lifetime, with the RFC 2407 default when none was sent.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds.unwrap_or(DEFAULT_SECONDS))
    }
}

/// Reads the life pairs of `t`; `type_kind`/`duration_kind` are the attribute classes
/// of the phase (11/12 for ISAKMP, 1/2 for IPsec). A duration whose type is unknown, or
/// a variable value longer than 8 bytes, is ignored.
pub(crate) fn parse_life(t: &Transform<'_>, type_kind: u16, duration_kind: u16) -> Life {
    let mut life = Life::default();
    let mut current = None;
    for a in &t.attributes {
        if a.kind == type_kind {
            current = match a.value {
                AttributeValue::Basic(v) => Some(v),
                AttributeValue::Variable(_) => None,
            };
        } else if a.kind == duration_kind {
            let value = a.value.as_integer();
            match current {
                Some(LIFE_SECONDS) => life.seconds = value,
                Some(LIFE_KILOBYTES) => life.kilobytes = value,
                _ => {}
            }
        }
    }
    life
}

/// Big-endian storage for the variable-form durations of one transform.
#[derive(Debug, Default)]
pub(crate) struct LifeStore {
    seconds: [u8; 8],
    kilobytes: [u8; 8],
}

/// One duration attribute: basic up to 65535, else 4 or 8 bytes in the variable form.
fn duration_attribute(kind: u16, value: u64, store: &mut [u8; 8]) -> Attribute<'_> {
    if let Ok(v) = u16::try_from(value) {
        return Attribute::basic(kind, v);
    }
    *store = value.to_be_bytes();
    let len = if u32::try_from(value).is_ok() { 4 } else { 8 };
    Attribute { kind, value: AttributeValue::Variable(&store[8 - len..]) }
}

/// The life pairs for `seconds` and (optionally) `kilobytes`, in that order.
pub(crate) fn life_attributes(
    type_kind: u16,
    duration_kind: u16,
    seconds: u64,
    kilobytes: Option<u64>,
    store: &mut LifeStore,
) -> Vec<Attribute<'_>> {
    let LifeStore { seconds: s, kilobytes: k } = store;
    let mut out =
        vec![Attribute::basic(type_kind, LIFE_SECONDS), duration_attribute(duration_kind, seconds, s)];
    if let Some(kb) = kilobytes {
        out.push(Attribute::basic(type_kind, LIFE_KILOBYTES));
        out.push(duration_attribute(duration_kind, kb, k));
    }
    out
}

/// `t` with its life pairs replaced by ours (a responder answering with a lifetime lower
/// than offered; RFC 2407 §4.6.3.1 allows a responder to pick a shorter one).
pub(crate) fn replace_life<'a>(
    t: &Transform<'a>,
    type_kind: u16,
    duration_kind: u16,
    life: Life,
    store: &'a mut LifeStore,
) -> Transform<'a> {
    let mut attributes: Vec<Attribute<'a>> =
        t.attributes.iter().filter(|a| a.kind != type_kind && a.kind != duration_kind).copied().collect();
    attributes.extend(life_attributes(
        type_kind,
        duration_kind,
        life.seconds.unwrap_or(DEFAULT_SECONDS),
        life.kilobytes,
        store,
    ));
    Transform { number: t.number, transform_id: t.transform_id, attributes }
}

/// The smaller of two optional limits, where `None` means unlimited.
pub(crate) fn min_limit(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// When to rekey an SA with hard lifetime `hard`: at `1 - margin` of it, minus a random
/// jitter of up to `jitter` of it (so two peers with equal lifetimes do not rekey at the
/// same instant). `margin` and `jitter` are fractions in per-mille.
pub fn soft_deadline<R: Rng + ?Sized>(hard: Duration, margin: u32, jitter: u32, rng: &mut R) -> Duration {
    let margin = margin.min(1000);
    let jitter = jitter.min(1000 - margin);
    // Divide first: no overflow for any lifetime (Duration keeps nanoseconds).
    let base = hard / 1000 * (1000 - margin);
    if jitter == 0 {
        return base;
    }
    let max_jitter = hard / 1000 * jitter;
    let nanos = u64::try_from(max_jitter.as_nanos()).unwrap_or(u64::MAX);
    let drawn = if nanos == 0 { 0 } else { rng.next_u64() % nanos.saturating_add(1) };
    base.saturating_sub(Duration::from_nanos(drawn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::v1::IpsecAttributeType;

    fn kinds() -> (u16, u16) {
        (IpsecAttributeType::SaLifeType.into(), IpsecAttributeType::SaLifeDuration.into())
    }

    #[test]
    fn long_lifetimes_use_the_variable_form_and_parse_back() {
        let (ty, du) = kinds();
        for (secs, kb) in
            [(3600, None), (65_535, Some(1000)), (65_536, Some(4_608_000)), (86_400, Some(1 << 40))]
        {
            let mut store = LifeStore::default();
            let attributes = life_attributes(ty, du, secs, kb, &mut store);
            let t = Transform { number: 1, transform_id: 12, attributes };
            let mut body = Vec::new();
            t.encode_body(&mut body);
            let parsed = Transform::parse(&body).expect("parses");
            assert_eq!(parse_life(&parsed, ty, du), Life { seconds: Some(secs), kilobytes: kb });
            let variable =
                parsed.attributes.iter().filter(|a| matches!(a.value, AttributeValue::Variable(_))).count();
            let expect = usize::from(secs > 65_535) + usize::from(kb.is_some_and(|k| k > 65_535));
            assert_eq!(variable, expect, "{secs} {kb:?}");
        }
    }

    #[test]
    fn seconds_value_of_65536_is_four_bytes() {
        let (ty, du) = kinds();
        let mut store = LifeStore::default();
        let a = life_attributes(ty, du, 65_536, None, &mut store);
        assert_eq!(a[1].value, AttributeValue::Variable(&[0, 1, 0, 0]));
    }

    #[test]
    fn kilobytes_before_seconds_are_read_by_their_own_type() {
        let (ty, du) = kinds();
        let t = Transform {
            number: 1,
            transform_id: 12,
            attributes: vec![
                Attribute::basic(ty, LIFE_KILOBYTES),
                Attribute::basic(du, 500),
                Attribute::basic(ty, LIFE_SECONDS),
                Attribute::basic(du, 120),
            ],
        };
        assert_eq!(parse_life(&t, ty, du), Life { seconds: Some(120), kilobytes: Some(500) });
        assert_eq!(
            parse_life(&Transform { attributes: vec![], ..t }, ty, du).duration(),
            Duration::from_secs(28_800)
        );
    }

    #[test]
    fn replace_keeps_other_attributes() {
        let (ty, du) = kinds();
        let t = Transform {
            number: 3,
            transform_id: 12,
            attributes: vec![Attribute::basic(ty, 1), Attribute::basic(du, 3600), Attribute::basic(4, 3)],
        };
        let mut store = LifeStore::default();
        let r = replace_life(&t, ty, du, Life { seconds: Some(100_000), kilobytes: Some(10) }, &mut store);
        assert_eq!(r.basic(4), Some(3));
        assert_eq!(parse_life(&r, ty, du), Life { seconds: Some(100_000), kilobytes: Some(10) });
    }

    proptest::proptest! {
        #[test]
        fn life_pairs_round_trip(secs in proptest::num::u64::ANY, kb in proptest::option::of(proptest::num::u64::ANY)) {
            let (ty, du) = kinds();
            let mut store = LifeStore::default();
            let t = Transform { number: 1, transform_id: 3, attributes: life_attributes(ty, du, secs, kb, &mut store) };
            let mut body = Vec::new();
            t.encode_body(&mut body);
            let parsed = Transform::parse(&body).expect("parses");
            proptest::prop_assert_eq!(parse_life(&parsed, ty, du), Life { seconds: Some(secs), kilobytes: kb });
            let mut again = Vec::new();
            parsed.encode_body(&mut again);
            proptest::prop_assert_eq!(again, body);
        }

        #[test]
        fn parse_life_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Ok(t) = Transform::parse(&bytes) {
                let _ = parse_life(&t, 1, 2);
            }
        }
    }

    #[test]
    fn soft_deadline_stays_within_margin_and_jitter() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let hard = Duration::from_secs(1000);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let s = soft_deadline(hard, 100, 50, &mut rng);
            assert!(s <= Duration::from_secs(900) && s >= Duration::from_secs(850), "{s:?}");
            seen.insert(s);
        }
        assert!(seen.len() > 40, "jitter must vary");
        assert_eq!(soft_deadline(hard, 100, 0, &mut rng), Duration::from_secs(900));
        // Any lifetime, however long, is handled without overflow.
        assert!(soft_deadline(Duration::MAX, 100, 50, &mut rng) < Duration::MAX);
    }
}
