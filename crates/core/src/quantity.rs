//! Kubernetes `resource.Quantity`, ported from `k8s.io/apimachinery` v0.32: v0.32.10 is what
//! OpenKruise v1.9.1 builds with, and `hack/quantity-vectors` checks this port against it
//! (`tests/quantity_vectors.rs`); v0.32.13, which `hack/hash-vectors` pins, answers the same.
//!
//! Kruise hashes and patches quantities with Go's serializer, and its `resourcesPolicy`
//! calculator leans on Go's int64 corner cases, so this is a behavioural port rather than a clean
//! decimal type. It keeps Go's two internal representations (an `int64 × 10^scale` fast path and
//! an arbitrary-precision `inf.Dec`), chooses between them exactly as Go does, and remembers the
//! parsed text when Go does (`"+1"`, `"01"` and `"1E3"` survive defaulting and serialization
//! unchanged in Kubernetes).
//!
//! Newer apimachinery releases changed two corner cases; this port follows v0.32 there:
//! a `DecimalSI` value needing an exponent above 18 prints without its exponent (`"1000E"` → `"1"`),
//! and negating `-2^63` wraps.
//!
//! The one deliberate difference from Go: a value whose exact decimal form would need more than
//! [`MAX_DIGITS`] digits is refused with [`QuantityError::TooLarge`], where Go allocates without
//! bound (an admission webhook must not be made to hang by one odd string).

use std::cmp::Ordering;
use std::fmt;

/// Power-of-ten exponent, as Go's `resource.Scale` (`int32`).
pub type Scale = i32;

/// `resource.Nano`.
pub const NANO: Scale = -9;
/// `resource.Micro`.
pub const MICRO: Scale = -6;
/// `resource.Milli`: Kubernetes defaulting rounds every resource quantity up to this scale.
pub const MILLI: Scale = -3;

/// Largest number of decimal digits an exact value may need before we refuse it.
pub const MAX_DIGITS: u64 = 10_000;

/// How a quantity is printed; remembered from the parsed suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `12e6`
    DecimalExponent,
    /// `12Mi`
    BinarySI,
    /// `12M`
    DecimalSI,
}

/// Why a string is not a quantity. The first three carry Go's messages verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    FormatWrong,
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    #[error(
        "quantity needs more than {} decimal digits to be represented exactly",
        MAX_DIGITS
    )]
    TooLarge,
}

// ---------------------------------------------------------------------------------------------
// Arbitrary-precision integers, just enough for inf.Dec. Limbs are base 10^9 so that the
// operations Quantity needs most (shifting by powers of ten, counting and printing digits) are
// cheap.
//
// Why not `num-bigint`, already in the policy's dependency tree (through kubewarden-policy-sdk)?
// Measured with the same methods on a `num_bigint::BigUint` (base 2^64): sidecarset_policy.wasm
// (release, wasm32-wasip1) grew from 1,471,873 to 1,515,328 bytes (+2.95%, over the 1.5 MB goal;
// LTO had dropped the SDK's unused num-bigint), and `cargo bench -p sidecarset-core --bench
// quantity` ran the decimal path 2.2-2.6 times slower (`normalize/1.5Gi` 1.1 µs → 2.5 µs,
// `normalize/123456789012345678901234567890` 1.0-1.1 µs → 2.6-2.8 µs, `evaluate/cpu + 0.25` +43-48%):
// powers of ten and decimal digits cost a division in base 2. The int64 fast path was unchanged.

const LIMB: u64 = 1_000_000_000;
const LIMB_DIGITS: u64 = 9;
const POW10_U32: [u32; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct BigUint {
    /// Little-endian base-10^9 limbs; never a zero most-significant limb.
    limbs: Vec<u32>,
}

fn u32_digits(x: u32) -> u64 {
    x.checked_ilog10().map_or(0, |d| u64::from(d) + 1)
}

impl BigUint {
    fn from_u128(mut v: u128) -> Self {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push((v % u128::from(LIMB)) as u32);
            v /= u128::from(LIMB);
        }
        Self { limbs }
    }

    fn from_u64(v: u64) -> Self {
        Self::from_u128(u128::from(v))
    }

    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    /// `digits` must be ASCII digits.
    fn from_digits(digits: &[u8]) -> Result<Self, QuantityError> {
        let start = digits
            .iter()
            .position(|&d| d != b'0')
            .unwrap_or(digits.len());
        let digits = digits.get(start..).unwrap_or_default();
        if digits.len() as u64 > MAX_DIGITS {
            return Err(QuantityError::TooLarge);
        }
        let mut limbs = Vec::with_capacity(digits.len() / 9 + 1);
        for chunk in digits.rchunks(LIMB_DIGITS as usize) {
            let limb = chunk
                .iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d.wrapping_sub(b'0')));
            limbs.push(limb);
        }
        let mut out = Self { limbs };
        out.trim();
        Ok(out)
    }

    fn num_digits(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => (self.limbs.len() as u64 - 1) * LIMB_DIGITS + u32_digits(top),
        }
    }

    fn mul_small(&mut self, m: u32) {
        if m == 0 {
            self.limbs.clear();
            return;
        }
        let mut carry = 0u64;
        for limb in &mut self.limbs {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = (t % LIMB) as u32;
            carry = t / LIMB;
        }
        while carry > 0 {
            self.limbs.push((carry % LIMB) as u32);
            carry /= LIMB;
        }
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.limbs {
            if carry == 0 {
                return;
            }
            let t = u64::from(*limb) + carry;
            *limb = (t % LIMB) as u32;
            carry = t / LIMB;
        }
        while carry > 0 {
            self.limbs.push((carry % LIMB) as u32);
            carry /= LIMB;
        }
    }

    /// Divides in place by `d` (non-zero), returning the remainder.
    fn divrem_small(&mut self, d: u32) -> u32 {
        let d = u64::from(d.max(1));
        let mut rem = 0u64;
        for limb in self.limbs.iter_mut().rev() {
            let cur = rem * LIMB + u64::from(*limb);
            *limb = (cur / d) as u32;
            rem = cur % d;
        }
        self.trim();
        rem as u32
    }

    /// Multiplies by 10^k with no size check; callers bound `k` themselves.
    fn mul_pow10_unchecked(&mut self, k: u64) {
        if self.is_zero() || k == 0 {
            return;
        }
        self.mul_small(POW10_U32[(k % LIMB_DIGITS) as usize]);
        let whole = (k / LIMB_DIGITS) as usize;
        if whole > 0 {
            self.limbs.splice(0..0, std::iter::repeat_n(0, whole));
        }
    }

    fn mul_pow10(&mut self, k: u64) -> Result<(), QuantityError> {
        if self.is_zero() || k == 0 {
            return Ok(());
        }
        if self.num_digits().saturating_add(k) > MAX_DIGITS {
            return Err(QuantityError::TooLarge);
        }
        self.mul_pow10_unchecked(k);
        Ok(())
    }

    /// Multiplies by 2^e, refusing results longer than [`MAX_DIGITS`] (2^e has about 0.3·e
    /// digits).
    fn mul_pow2(&mut self, mut e: u32) -> Result<(), QuantityError> {
        if self.num_digits() + u64::from(e) / 3 + 1 > MAX_DIGITS {
            return Err(QuantityError::TooLarge);
        }
        while e > 0 {
            let k = e.min(31);
            self.mul_small(1u32 << k);
            e -= k;
        }
        Ok(())
    }

    /// Divides by 10^k truncating; reports whether a non-zero remainder was dropped.
    fn div_pow10(&mut self, k: u64) -> bool {
        if self.is_zero() || k == 0 {
            return false;
        }
        if k >= self.num_digits() {
            self.limbs.clear();
            return true;
        }
        let whole = (k / LIMB_DIGITS) as usize;
        let dropped = self.limbs.drain(..whole).any(|l| l != 0);
        let rest = (k % LIMB_DIGITS) as usize;
        let rem = if rest > 0 {
            self.divrem_small(POW10_U32[rest])
        } else {
            0
        };
        self.trim();
        dropped || rem != 0
    }

    fn trailing_zero_digits(&self) -> u64 {
        let mut count = 0;
        for &limb in &self.limbs {
            if limb == 0 {
                count += LIMB_DIGITS;
                continue;
            }
            let mut l = limb;
            while l % 10 == 0 {
                count += 1;
                l /= 10;
            }
            break;
        }
        count
    }

    fn cmp_mag(&self, other: &Self) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    fn add(&self, other: &Self) -> Self {
        let (long, short) = if self.limbs.len() >= other.limbs.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut limbs = Vec::with_capacity(long.limbs.len() + 1);
        let mut carry = 0u64;
        for (i, &l) in long.limbs.iter().enumerate() {
            let s = u64::from(l) + u64::from(short.limbs.get(i).copied().unwrap_or(0)) + carry;
            limbs.push((s % LIMB) as u32);
            carry = s / LIMB;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
        Self { limbs }
    }

    /// `self - other`; callers guarantee `self >= other`.
    fn sub(&self, other: &Self) -> Self {
        let mut limbs = Vec::with_capacity(self.limbs.len());
        let mut borrow = 0i64;
        for (i, &l) in self.limbs.iter().enumerate() {
            let mut d = i64::from(l) - i64::from(other.limbs.get(i).copied().unwrap_or(0)) - borrow;
            if d < 0 {
                d += LIMB as i64;
                borrow = 1;
            } else {
                borrow = 0;
            }
            limbs.push(d as u32);
        }
        let mut out = Self { limbs };
        out.trim();
        out
    }

    /// The value modulo 2^64, which is what Go's `big.Int.Int64` keeps of a too-large magnitude.
    fn low_u64(&self) -> u64 {
        self.limbs.iter().rev().fold(0u64, |acc, &l| {
            acc.wrapping_mul(LIMB).wrapping_add(u64::from(l))
        })
    }

    fn to_u128(&self) -> Option<u128> {
        let mut acc = 0u128;
        for &l in self.limbs.iter().rev() {
            acc = acc
                .checked_mul(u128::from(LIMB))?
                .checked_add(u128::from(l))?;
        }
        Some(acc)
    }

    fn to_decimal(&self) -> String {
        let mut limbs = self.limbs.iter().rev();
        let Some(top) = limbs.next() else {
            return "0".to_string();
        };
        let mut out = top.to_string();
        for l in limbs {
            out.push_str(&format!("{l:09}"));
        }
        out
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct BigInt {
    neg: bool,
    mag: BigUint,
}

impl BigInt {
    fn new(neg: bool, mag: BigUint) -> Self {
        let neg = neg && !mag.is_zero();
        Self { neg, mag }
    }

    fn from_i128(v: i128) -> Self {
        Self::new(v < 0, BigUint::from_u128(v.unsigned_abs()))
    }

    fn from_i64(v: i64) -> Self {
        Self::new(v < 0, BigUint::from_u64(v.unsigned_abs()))
    }

    fn sign(&self) -> i32 {
        match (self.mag.is_zero(), self.neg) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }

    fn negated(&self) -> Self {
        Self::new(!self.neg, self.mag.clone())
    }

    fn add(&self, other: &Self) -> Self {
        if self.neg == other.neg {
            return Self::new(self.neg, self.mag.add(&other.mag));
        }
        match self.mag.cmp_mag(&other.mag) {
            Ordering::Less => Self::new(other.neg, other.mag.sub(&self.mag)),
            _ => Self::new(self.neg, self.mag.sub(&other.mag)),
        }
    }

    /// Go's `big.Int.Int64`: the low 64 bits of the magnitude, then the sign.
    fn go_int64(&self) -> i64 {
        let low = self.mag.low_u64() as i64;
        if self.neg { low.wrapping_neg() } else { low }
    }

    fn to_i128_saturating(&self) -> i128 {
        match self.mag.to_u128() {
            Some(m) if self.neg => 0i128.checked_sub_unsigned(m).unwrap_or(i128::MIN),
            Some(m) => i128::try_from(m).unwrap_or(i128::MAX),
            None if self.neg => i128::MIN,
            None => i128::MAX,
        }
    }

    fn to_decimal(&self) -> String {
        if self.neg {
            format!("-{}", self.mag.to_decimal())
        } else {
            self.mag.to_decimal()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Go's math.go helpers, kept literal: several return the wrapped product along with `false`, and
// MilliValue passes that wrapped value on.

fn int64_add(a: i64, b: i64) -> Option<i64> {
    a.checked_add(b)
}

fn int64_multiply(a: i64, b: i64) -> Option<i64> {
    if a == 0 || b == 0 || a == 1 || b == 1 {
        return Some(a.wrapping_mul(b));
    }
    if a == i64::MIN || b == i64::MIN {
        return None;
    }
    let c = a.wrapping_mul(b);
    (c.wrapping_div(b) == a).then_some(c)
}

/// Go's `int64MultiplyScale`; its `int64MultiplyScale10/100/1000` are this with a constant factor.
fn int64_multiply_scale(a: i64, b: i64) -> (i64, bool) {
    if a == 0 || a == 1 {
        return (a.wrapping_mul(b), true);
    }
    if a == i64::MIN && b != 1 {
        return (0, false);
    }
    let c = a.wrapping_mul(b);
    (c, c.wrapping_div(b) == a)
}

fn positive_scale_int64(base: i64, scale: Scale) -> (i64, bool) {
    match scale {
        0 => (base, true),
        1 => int64_multiply_scale(base, 10),
        2 => int64_multiply_scale(base, 100),
        3 => int64_multiply_scale(base, 1000),
        6 => int64_multiply_scale(base, 1_000_000),
        9 => int64_multiply_scale(base, 1_000_000_000),
        _ => {
            let mut value = base;
            let mut i: Scale = 0;
            // Go keeps multiplying a zero for `scale` rounds; stopping early changes nothing.
            while i < scale && value != 0 {
                let (v, ok) = int64_multiply_scale(value, 10);
                if !ok {
                    return (0, false);
                }
                value = v;
                i += 1;
            }
            (value, true)
        }
    }
}

/// Divides by 10^scale rounding away from zero; `false` if precision was lost.
fn negative_scale_int64(base: i64, scale: Scale) -> (i64, bool) {
    if scale == 0 {
        return (base, true);
    }
    let mut value = base;
    let mut fraction = false;
    let mut i: Scale = 0;
    while i < scale {
        if !fraction && value % 10 != 0 {
            fraction = true;
        }
        value /= 10;
        if value == 0 {
            if fraction {
                return (if base > 0 { 1 } else { -1 }, false);
            }
            return (0, true);
        }
        i += 1;
    }
    if fraction {
        value += if base > 0 { 1 } else { -1 };
    }
    (value, !fraction)
}

fn remove_int64_factors(value: i64, base: i64) -> (i64, i32) {
    let mut times = 0i32;
    let negative = value < 0;
    let mut result = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    while result >= base && result % base == 0 {
        times += 1;
        result /= base;
    }
    if negative {
        result = result.wrapping_neg();
    }
    (result, times)
}

/// `int64(math.Pow10(n))` on amd64: exact up to 10^18, and the "integer indefinite" value
/// (`i64::MIN`) for anything that does not fit.
fn go_pow10_i64(n: i64) -> i64 {
    match u32::try_from(n) {
        Ok(k) if k <= 18 => 10i64.pow(k),
        _ => i64::MIN,
    }
}

/// Go's float64 → int64 conversion as compiled for amd64 (CVTTSD2SQ): truncation toward zero,
/// and `i64::MIN` for NaN or anything out of range. Kruise's calculator depends on it.
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_63..TWO_63).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

// ---------------------------------------------------------------------------------------------
// The two amounts.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IntAmount {
    value: i64,
    scale: Scale,
}

impl IntAmount {
    fn as_scaled_int64(self, scale: Scale) -> (i64, bool) {
        if self.scale < scale {
            let (r, _) = negative_scale_int64(self.value, scale.wrapping_sub(self.scale));
            return (r, true);
        }
        positive_scale_int64(self.value, self.scale.wrapping_sub(scale))
    }

    fn add(&mut self, b: IntAmount) -> bool {
        if b.value == 0 {
            return true;
        }
        if self.value == 0 {
            *self = b;
            return true;
        }
        match self.scale.cmp(&b.scale) {
            Ordering::Equal => match int64_add(self.value, b.value) {
                Some(c) => self.value = c,
                None => return false,
            },
            Ordering::Greater => {
                let (c, ok) = positive_scale_int64(self.value, self.scale.wrapping_sub(b.scale));
                if !ok {
                    return false;
                }
                let Some(c) = int64_add(c, b.value) else {
                    return false;
                };
                self.scale = b.scale;
                self.value = c;
            }
            Ordering::Less => {
                let (c, ok) = positive_scale_int64(b.value, b.scale.wrapping_sub(self.scale));
                if !ok {
                    return false;
                }
                let Some(c) = int64_add(self.value, c) else {
                    return false;
                };
                self.value = c;
            }
        }
        true
    }

    fn as_scale(self, scale: Scale) -> (IntAmount, bool) {
        if self.scale >= scale {
            return (self, true);
        }
        let (value, exact) = negative_scale_int64(self.value, scale.wrapping_sub(self.scale));
        (IntAmount { value, scale }, exact)
    }

    fn canonical_bytes(self) -> (String, i32) {
        let (mut amount, times) = remove_int64_factors(self.value, 10);
        let mut exponent = self.scale.wrapping_add(times);
        match exponent % 3 {
            1 | -2 => {
                let (a, ok) = int64_multiply_scale(amount, 10);
                if !ok {
                    return Dec::from_int(self).canonical_bytes();
                }
                amount = a;
                exponent = exponent.wrapping_sub(1);
            }
            2 | -1 => {
                let (a, ok) = int64_multiply_scale(amount, 100);
                if !ok {
                    return Dec::from_int(self).canonical_bytes();
                }
                amount = a;
                exponent = exponent.wrapping_sub(2);
            }
            _ => {}
        }
        (amount.to_string(), exponent)
    }

    fn canonical_base1024(self) -> Result<(String, i32), QuantityError> {
        let (value, ok) = self.as_scaled_int64(0);
        if !ok {
            return Dec::from_int(self).canonical_base1024();
        }
        let (amount, exponent) = remove_int64_factors(value, 1024);
        Ok((amount.to_string(), exponent))
    }
}

/// `inf.Dec`: `unscaled × 10^-scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dec {
    unscaled: BigInt,
    scale: i32,
}

impl Dec {
    fn from_int(a: IntAmount) -> Self {
        Self {
            unscaled: BigInt::from_i64(a.value),
            scale: a.scale.wrapping_neg(),
        }
    }

    fn sign(&self) -> i32 {
        self.unscaled.sign()
    }

    fn is_zero(&self) -> bool {
        self.unscaled.mag.is_zero()
    }

    fn negated(&self) -> Self {
        Self {
            unscaled: self.unscaled.negated(),
            scale: self.scale,
        }
    }

    /// Same value at a larger scale (more fractional digits).
    fn rescaled_up(&self, scale: i32) -> Result<Self, QuantityError> {
        let k = (i64::from(scale) - i64::from(self.scale)).max(0) as u64;
        let mut mag = self.unscaled.mag.clone();
        mag.mul_pow10(k)?;
        Ok(Self {
            unscaled: BigInt::new(self.unscaled.neg, mag),
            scale,
        })
    }

    /// `inf.Dec.Round(x, scale, inf.RoundUp)`: away from zero; a larger scale only rescales.
    fn round_up(&self, scale: i32) -> Result<Self, QuantityError> {
        if scale >= self.scale {
            return self.rescaled_up(scale);
        }
        let k = (i64::from(self.scale) - i64::from(scale)) as u64;
        let mut mag = self.unscaled.mag.clone();
        if mag.div_pow10(k) {
            mag.add_small(1);
        }
        Ok(Self {
            unscaled: BigInt::new(self.unscaled.neg, mag),
            scale,
        })
    }

    fn add(&self, other: &Self) -> Result<Self, QuantityError> {
        let scale = self.scale.max(other.scale);
        let a = self.rescaled_up(scale)?;
        let b = other.rescaled_up(scale)?;
        Ok(Self {
            unscaled: a.unscaled.add(&b.unscaled),
            scale,
        })
    }

    fn cmp_val(&self, other: &Self) -> Ordering {
        let (sa, sb) = (self.sign(), other.sign());
        if sa != sb {
            return sa.cmp(&sb);
        }
        if sa == 0 {
            return Ordering::Equal;
        }
        // Compare orders of magnitude first so that no huge alignment is ever materialized.
        let (ma, mb) = (&self.unscaled.mag, &other.unscaled.mag);
        let ea = ma.num_digits() as i64 - i64::from(self.scale);
        let eb = mb.num_digits() as i64 - i64::from(other.scale);
        let mag_order = if ea != eb {
            ea.cmp(&eb)
        } else {
            match self.scale.cmp(&other.scale) {
                Ordering::Equal => ma.cmp_mag(mb),
                Ordering::Less => {
                    let mut a = ma.clone();
                    a.mul_pow10_unchecked((i64::from(other.scale) - i64::from(self.scale)) as u64);
                    a.cmp_mag(mb)
                }
                Ordering::Greater => {
                    let mut b = mb.clone();
                    b.mul_pow10_unchecked((i64::from(self.scale) - i64::from(other.scale)) as u64);
                    ma.cmp_mag(&b)
                }
            }
        };
        if sa < 0 {
            mag_order.reverse()
        } else {
            mag_order
        }
    }

    fn canonical_bytes(&self) -> (String, i32) {
        let mut amount = self.unscaled.mag.clone();
        let mut exponent = self.scale.wrapping_neg();
        if !amount.is_zero() {
            let times = amount.trailing_zero_digits();
            amount.div_pow10(times);
            exponent = exponent.wrapping_add(times as i32);
        }
        while exponent % 3 != 0 {
            amount.mul_small(10);
            exponent = exponent.wrapping_sub(1);
        }
        (
            BigInt::new(self.unscaled.neg, amount).to_decimal(),
            exponent,
        )
    }

    fn canonical_base1024(&self) -> Result<(String, i32), QuantityError> {
        let rounded = self.round_up(0)?;
        let mut mag = rounded.unscaled.mag;
        let mut times = 0i32;
        while !mag.is_zero() {
            let mut q = mag.clone();
            if q.divrem_small(1024) != 0 {
                break;
            }
            mag = q;
            times += 1;
        }
        Ok((BigInt::new(rounded.unscaled.neg, mag).to_decimal(), times))
    }

    /// Go's `scaledValue`, overflow behaviour included (and its odd rounding of negatives: one is
    /// added to the truncated quotient).
    fn scaled_value(&self, new_scale: i64) -> i64 {
        let dif = i64::from(self.scale) - new_scale;
        if dif == 0 {
            return self.unscaled.go_int64();
        }
        if dif < 0 {
            return self.unscaled.go_int64().wrapping_mul(go_pow10_i64(-dif));
        }
        // v0.32 compares signed, so every negative value takes this branch, wrapped or not.
        let below_max = self.unscaled.neg
            || self
                .unscaled
                .mag
                .cmp_mag(&BigUint::from_u64(i64::MAX as u64))
                == Ordering::Less;
        if below_max && dif < 19 {
            let u = self.unscaled.go_int64();
            let divide = go_pow10_i64(dif);
            let result = u / divide;
            return if u % divide != 0 { result + 1 } else { result };
        }
        // Only non-negative values get here, where Go's floored division is plain truncation.
        let mut q = self.unscaled.mag.clone();
        let remainder = q.div_pow10(dif as u64);
        let v = BigInt::new(false, q).go_int64();
        if remainder { v.wrapping_add(1) } else { v }
    }

    /// The value × 10^-`scale`, rounded away from zero, saturated to i128.
    fn to_i128_at(&self, scale: Scale) -> i128 {
        let saturated = if self.unscaled.neg {
            i128::MIN
        } else {
            i128::MAX
        };
        let target = scale.wrapping_neg();
        // An i128 has at most 39 digits: no need to build a longer number to find out.
        let growth = i64::from(target) - i64::from(self.scale);
        if !self.is_zero()
            && growth > 0
            && self.unscaled.mag.num_digits().saturating_add(growth as u64) > 40
        {
            return saturated;
        }
        self.round_up(target)
            .map_or(saturated, |d| d.unscaled.to_i128_saturating())
    }
}

#[derive(Clone, Debug)]
enum Amount {
    Int(IntAmount),
    Dec(Dec),
}

impl Amount {
    fn to_dec(&self) -> Dec {
        match self {
            Amount::Int(i) => Dec::from_int(*i),
            Amount::Dec(d) => d.clone(),
        }
    }

    fn sign(&self) -> i32 {
        match self {
            Amount::Int(i) => i.value.signum() as i32,
            Amount::Dec(d) => d.sign(),
        }
    }

    fn cmp_val(&self, other: &Amount) -> Ordering {
        match (self, other) {
            (Amount::Int(a), Amount::Int(b)) if a.scale == b.scale => a.value.cmp(&b.value),
            _ => self.to_dec().cmp_val(&other.to_dec()),
        }
    }

    fn as_scale(&self, scale: Scale) -> Result<(Amount, bool), QuantityError> {
        match self {
            Amount::Int(i) => {
                let (r, exact) = i.as_scale(scale);
                Ok((Amount::Int(r), exact))
            }
            Amount::Dec(d) => {
                let r = d.round_up(scale.wrapping_neg())?;
                let exact = r.cmp_val(d) == Ordering::Equal;
                Ok((Amount::Dec(r), exact))
            }
        }
    }

    fn canonical_bytes(&self) -> (String, i32) {
        match self {
            Amount::Int(i) => i.canonical_bytes(),
            Amount::Dec(d) => d.canonical_bytes(),
        }
    }

    fn canonical_base1024(&self) -> Result<(String, i32), QuantityError> {
        match self {
            Amount::Int(i) => i.canonical_base1024(),
            Amount::Dec(d) => d.canonical_base1024(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing.

struct Parts<'a> {
    positive: bool,
    value: &'a [u8],
    num: &'a [u8],
    denom: &'a [u8],
    suffix: &'a [u8],
}

const SUFFIX_CHARS: &[u8] = b"eEinumkKMGTP";

/// Go's `parseQuantityString`: sign, numerator (leading zeros dropped), `.` and denominator, then
/// suffix letters with an optional signed exponent.
fn parse_quantity_string(s: &[u8]) -> Result<Parts<'_>, QuantityError> {
    let end = s.len();
    let slice = |a: usize, b: usize| s.get(a..b).unwrap_or_default();
    // The first index at or after `from` whose byte fails `keep` (or `end`).
    let skip = |from: usize, keep: fn(&u8) -> bool| {
        from + s
            .get(from..)
            .map_or(0, |rest| rest.iter().take_while(|c| keep(c)).count())
    };
    let mut parts = Parts {
        positive: true,
        value: b"",
        num: b"",
        denom: b"",
        suffix: b"",
    };
    let mut pos = 0;
    match s.first() {
        Some(b'-') => {
            parts.positive = false;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    pos = skip(pos, |&c| c == b'0');
    if pos >= end {
        parts.num = b"0";
        parts.value = b"0";
        return Ok(parts);
    }
    let num_end = skip(pos, u8::is_ascii_digit);
    parts.num = slice(pos, num_end);
    if num_end >= end {
        parts.value = s;
        return Ok(parts);
    }
    if parts.num.is_empty() {
        parts.num = b"0";
    }
    pos = num_end;
    if s.get(pos) == Some(&b'.') {
        let denom_end = skip(pos + 1, u8::is_ascii_digit);
        parts.denom = slice(pos + 1, denom_end);
        if denom_end >= end {
            parts.value = s;
            return Ok(parts);
        }
        pos = denom_end;
    }
    parts.value = slice(0, pos);
    let suffix_start = pos;
    pos = skip(pos, |c| SUFFIX_CHARS.contains(c));
    if pos < end {
        if matches!(s.get(pos), Some(b'-' | b'+')) {
            pos += 1;
        }
        // Anything but digits after the exponent's sign is not a quantity.
        if skip(pos, u8::is_ascii_digit) < end {
            return Err(QuantityError::FormatWrong);
        }
    }
    parts.suffix = slice(suffix_start, end);
    Ok(parts)
}

/// Go's `strconv.ParseInt(s, 10, 64)`.
fn parse_go_int64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut acc: i128 = 0;
    for &d in digits {
        acc = acc * 10 + i128::from(d - b'0');
        if acc > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    let v = if neg { -acc } else { acc };
    i64::try_from(v).ok()
}

/// `DecimalSI` suffixes and their powers of ten, for parsing and printing alike.
const DECIMAL_SI_SUFFIXES: [(&str, i32); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// `BinarySI` suffixes and their powers of two.
const BINARY_SI_SUFFIXES: [(&str, i32); 6] = [
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];

fn suffix_exponent(table: &[(&str, i32)], suffix: &[u8]) -> Option<i32> {
    table
        .iter()
        .find(|(s, _)| s.as_bytes() == suffix)
        .map(|&(_, e)| e)
}

fn exponent_suffix(table: &[(&'static str, i32)], exponent: i32) -> Option<&'static str> {
    table.iter().find(|&&(_, e)| e == exponent).map(|&(s, _)| s)
}

/// `quantitySuffixer.interpret`: (base, exponent, format).
fn interpret_suffix(s: &[u8]) -> Option<(u32, i32, Format)> {
    if let Some(e) = suffix_exponent(&DECIMAL_SI_SUFFIXES, s) {
        return Some((10, e, Format::DecimalSI));
    }
    if let Some(e) = suffix_exponent(&BINARY_SI_SUFFIXES, s) {
        return Some((2, e, Format::BinarySI));
    }
    match s {
        // Go keeps int32(parsed): a 64-bit exponent wraps.
        [b'e' | b'E', rest @ ..] if !rest.is_empty() => {
            Some((10, parse_go_int64(rest)? as i32, Format::DecimalExponent))
        }
        _ => None,
    }
}

/// `inf.Dec.SetString` on the numeric part Go extracted (`[+-]?digits[.digits]`).
fn dec_from_value(value: &[u8]) -> Result<Dec, QuantityError> {
    let (neg, rest) = match value.first() {
        Some(b'-') => (true, value.get(1..).unwrap_or_default()),
        Some(b'+') => (false, value.get(1..).unwrap_or_default()),
        _ => (false, value),
    };
    let mut digits = Vec::with_capacity(rest.len());
    let mut frac_digits: Option<usize> = None;
    for &c in rest {
        match c {
            b'0'..=b'9' => {
                digits.push(c);
                if let Some(n) = frac_digits.as_mut() {
                    *n += 1;
                }
            }
            b'.' if frac_digits.is_none() => frac_digits = Some(0),
            _ => return Err(QuantityError::Numeric),
        }
    }
    if digits.is_empty() {
        return Err(QuantityError::Numeric);
    }
    let scale = i32::try_from(frac_digits.unwrap_or(0)).map_err(|_| QuantityError::TooLarge)?;
    Ok(Dec {
        unscaled: BigInt::new(neg, BigUint::from_digits(&digits)?),
        scale,
    })
}

fn max_allowed() -> Dec {
    Dec {
        unscaled: BigInt::from_i64(i64::MAX),
        scale: 0,
    }
}

fn one_dec() -> Dec {
    Dec {
        unscaled: BigInt::from_i64(1),
        scale: 0,
    }
}

// ---------------------------------------------------------------------------------------------

/// A Kubernetes quantity with Go's exact value, format and serialization.
///
/// Equality and ordering compare values only (Go's `Equal`/`Cmp`): `1` equals `1000m`.
#[derive(Clone, Debug)]
pub struct Quantity {
    amount: Amount,
    /// Go's `s`: the parsed text when it was already canonical-looking; wins on serialization.
    cached: Option<String>,
    format: Format,
}

impl Quantity {
    /// Go's `ParseQuantity`: split the text, read its suffix, then take the int64 fast path when
    /// the value fits it and the inf.Dec path otherwise.
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        if s == "0" {
            return Ok(Self {
                amount: Amount::Int(IntAmount { value: 0, scale: 0 }),
                cached: Some(s.to_string()),
                format: Format::DecimalSI,
            });
        }
        let parts = parse_quantity_string(s.as_bytes())?;
        let suffix = interpret_suffix(parts.suffix).ok_or(QuantityError::Suffix)?;
        match Self::parse_int64(s, &parts, suffix)? {
            Some(q) => Ok(q),
            None => Self::parse_dec(&parts, suffix),
        }
    }

    /// `ParseQuantity`'s fast path: `None` when Go's precision estimate says the value may not
    /// fit an int64 at a scale of at least nano, or the multiplication by the binary suffix
    /// overflows. Remembers the text when Go deems it canonical already.
    fn parse_int64(
        text: &str,
        parts: &Parts<'_>,
        (_, exponent, format): (u32, i32, Format),
    ) -> Result<Option<Self>, QuantityError> {
        let digit_count = parts.num.len() as i64 + parts.denom.len() as i64;
        let (scale, mantissa, precision): (i32, i64, i64) = match format {
            Format::DecimalExponent | Format::DecimalSI => (exponent, 1, 18 - digit_count),
            Format::BinarySI if exponent >= 0 && parts.denom.is_empty() => (
                0,
                1i64 << exponent.clamp(0, 62),
                15 - parts.num.len() as i64 - i64::from(exponent) * 3 / 10 - 1,
            ),
            Format::BinarySI => (0, 1, -1),
        };
        // precision ≥ 0 means at most 18 digits, so these conversions cannot lose anything.
        let scale = scale.wrapping_sub(parts.denom.len() as i32);
        if precision < 0 || scale < NANO {
            return Ok(None);
        }
        let shifted = [parts.num, parts.denom].concat();
        let value = parse_go_int64(&shifted).ok_or(QuantityError::Numeric)?;
        let Some(mut result) = int64_multiply(value, mantissa) else {
            return Ok(None);
        };
        if !parts.positive {
            result = result.wrapping_neg();
        }
        let canonical_looking = match format {
            Format::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
            _ => scale % 3 == 0 && !shifted.ends_with(b"000") && shifted.first() != Some(&b'0'),
        };
        Ok(Some(Self {
            amount: Amount::Int(IntAmount {
                value: result,
                scale,
            }),
            cached: canonical_looking.then(|| text.to_string()),
            format,
        }))
    }

    /// `ParseQuantity`'s inf.Dec path: the exact value with the suffix multiplied in, its
    /// magnitude rounded up to nano, a BinarySI value capped at 2^63-1 and printed as DecimalSI
    /// below 1.
    fn parse_dec(
        parts: &Parts<'_>,
        (base, exponent, mut format): (u32, i32, Format),
    ) -> Result<Self, QuantityError> {
        let mut amount = dec_from_value(parts.value)?;
        if base == 10 {
            amount.scale = amount.scale.wrapping_add(exponent.wrapping_neg());
        } else {
            amount.unscaled.mag.mul_pow2(exponent.max(0) as u32)?;
        }
        let negative = amount.sign() == -1;
        if negative {
            amount = amount.negated();
        }
        if !amount.is_zero() {
            amount = amount.round_up(-NANO)?;
        }
        if format == Format::BinarySI && amount.cmp_val(&max_allowed()) == Ordering::Greater {
            amount = max_allowed();
        }
        if format == Format::BinarySI
            && amount.cmp_val(&one_dec()) == Ordering::Less
            && amount.sign() > 0
        {
            format = Format::DecimalSI;
        }
        if negative {
            amount = amount.negated();
        }
        Ok(Self {
            amount: Amount::Dec(amount),
            cached: None,
            format,
        })
    }

    /// What Go's `UnmarshalJSON` does with the text of a JSON string: trim Unicode white space,
    /// then parse (the trimmed text is what gets remembered).
    pub fn from_json_str(s: &str) -> Result<Self, QuantityError> {
        Self::parse(s.trim())
    }

    /// `NewQuantity(value, format)`.
    pub fn new(value: i64, format: Format) -> Self {
        Self::new_scaled_with(value, 0, format)
    }

    /// `NewMilliQuantity(value, format)`.
    pub fn new_milli(value: i64, format: Format) -> Self {
        Self::new_scaled_with(value, MILLI, format)
    }

    /// `NewScaledQuantity(value, scale)` (always `DecimalSI`).
    pub fn new_scaled(value: i64, scale: Scale) -> Self {
        Self::new_scaled_with(value, scale, Format::DecimalSI)
    }

    fn new_scaled_with(value: i64, scale: Scale, format: Format) -> Self {
        Self {
            amount: Amount::Int(IntAmount { value, scale }),
            cached: None,
            format,
        }
    }

    /// Zero in the given format (Go's `NewQuantity(0, format)`).
    pub fn zero(format: Format) -> Self {
        Self::new(0, format)
    }

    /// A whole number of base units; values beyond int64 use the decimal representation.
    pub fn from_value(value: i128, format: Format) -> Self {
        Self::from_i128_scaled(value, 0, format)
    }

    /// A number of thousandths (millicores for CPU).
    pub fn from_milli(value: i128, format: Format) -> Self {
        Self::from_i128_scaled(value, MILLI, format)
    }

    fn from_i128_scaled(value: i128, scale: Scale, format: Format) -> Self {
        match i64::try_from(value) {
            Ok(v) => Self::new_scaled_with(v, scale, format),
            Err(_) => Self {
                amount: Amount::Dec(Dec {
                    unscaled: BigInt::from_i128(value),
                    scale: -scale,
                }),
                cached: None,
                format,
            },
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Changes the print format (Go assigns `q.Format` directly).
    pub fn set_format(&mut self, format: Format) {
        self.format = format;
    }

    pub fn is_zero(&self) -> bool {
        self.amount.sign() == 0
    }

    /// -1, 0 or 1.
    pub fn sign(&self) -> i32 {
        self.amount.sign()
    }

    /// Go's `CmpInt64`.
    pub fn cmp_i64(&self, y: i64) -> Ordering {
        self.amount
            .cmp_val(&Amount::Int(IntAmount { value: y, scale: 0 }))
    }

    /// Go's `CanonicalizeBytes`, i.e. `String()` of a quantity with no remembered text.
    pub fn canonical(&self) -> String {
        let (number, suffix) = self.canonicalize();
        number + &suffix
    }

    /// Go's `String()` / `MarshalJSON` text: the remembered parsed text if any, else canonical.
    pub fn to_go_string(&self) -> String {
        match &self.cached {
            Some(s) => s.clone(),
            None => self.canonical(),
        }
    }

    fn canonicalize(&self) -> (String, String) {
        if self.is_zero() {
            return ("0".to_string(), String::new());
        }
        let mut format = self.format;
        let mut rounded = None;
        if format == Format::BinarySI {
            if self.cmp_i64(-1024) == Ordering::Greater && self.cmp_i64(1024) == Ordering::Less {
                format = Format::DecimalSI;
            } else {
                match self.amount.as_scale(0) {
                    Ok((r, true)) => rounded = Some(r),
                    _ => format = Format::DecimalSI,
                }
            }
        }
        if let Some(r) = rounded {
            // A failure can only come from a value too large to expand; print it in decimal then.
            if let Ok((number, exponent)) = r.canonical_base1024() {
                return (number, binary_suffix(exponent.wrapping_mul(10)).to_string());
            }
            format = Format::DecimalSI;
        }
        let (number, exponent) = self.amount.canonical_bytes();
        (number, decimal_suffix(exponent, format))
    }

    /// Go's `RoundUp(scale)`: rounds away from zero to `scale`; `false` if precision was lost.
    pub fn round_up(&mut self, scale: Scale) -> bool {
        // Go keeps the remembered text of an int64 amount that is already fine enough.
        if let Amount::Int(i) = &self.amount
            && i.scale >= scale
        {
            return true;
        }
        self.cached = None;
        match self.amount.as_scale(scale) {
            Ok((rounded, exact)) => {
                self.amount = rounded;
                exact
            }
            // Only a value at a scale coarser than `scale` gets here, and those are refused when
            // built; keeping the value is the exact answer anyway.
            Err(_) => true,
        }
    }

    /// Go's `Add`: a zero receiver takes `y`'s format; int64 overflow moves to the decimal form.
    pub fn add(&mut self, y: &Quantity) -> Result<(), QuantityError> {
        self.cached = None;
        if let (Amount::Int(a), Amount::Int(b)) = (&mut self.amount, &y.amount) {
            if a.value == 0 {
                self.format = y.format;
            }
            if a.add(*b) {
                return Ok(());
            }
        } else if self.is_zero() {
            self.format = y.format;
        }
        let sum = self.amount.to_dec().add(&y.amount.to_dec())?;
        self.amount = Amount::Dec(sum);
        Ok(())
    }

    /// Go's `Neg` (v0.32: negating `-2^63` in the int64 form wraps to itself).
    pub fn neg(&mut self) {
        self.cached = None;
        match &mut self.amount {
            Amount::Int(i) => i.value = i.value.wrapping_neg(),
            Amount::Dec(d) => *d = d.negated(),
        }
    }

    /// Go's `SetScaled`: the format is kept.
    pub fn set_scaled(&mut self, value: i64, scale: Scale) {
        self.cached = None;
        self.amount = Amount::Int(IntAmount { value, scale });
    }

    /// Go's `SetMilli`.
    pub fn set_milli(&mut self, value: i64) {
        self.set_scaled(value, MILLI);
    }

    /// Go's `ScaledValue(scale)`, bit for bit: rounds up, and overflows the way Go does.
    pub fn go_scaled_value(&self, scale: Scale) -> i64 {
        match &self.amount {
            Amount::Int(i) => i.as_scaled_int64(scale).0,
            Amount::Dec(d) => d.scaled_value(i64::from(scale).wrapping_neg()),
        }
    }

    /// Go's `MilliValue()`, overflow included (the calculator multiplies it as a float).
    pub fn go_milli_value(&self) -> i64 {
        self.go_scaled_value(MILLI)
    }

    /// Go's `Value()`, overflow included.
    pub fn go_value(&self) -> i64 {
        self.go_scaled_value(0)
    }

    /// Exact value in thousandths, rounded away from zero, saturated to the i128 range.
    pub fn milli_value(&self) -> i128 {
        self.amount.to_dec().to_i128_at(MILLI)
    }

    /// Exact value in base units, rounded away from zero, saturated to the i128 range.
    pub fn value(&self) -> i128 {
        self.amount.to_dec().to_i128_at(0)
    }

    /// Nearest f64 (correctly rounded); for display and heuristics only.
    pub fn as_f64(&self) -> f64 {
        let d = self.amount.to_dec();
        format!("{}e{}", d.unscaled.to_decimal(), -i64::from(d.scale))
            .parse()
            .unwrap_or(f64::NAN)
    }
}

fn decimal_suffix(exponent: i32, format: Format) -> String {
    if format == Format::DecimalExponent {
        return if exponent == 0 {
            String::new()
        } else {
            format!("e{exponent}")
        };
    }
    // v0.32 prints no suffix at all when none exists (so "1000E" comes out as "1").
    exponent_suffix(&DECIMAL_SI_SUFFIXES, exponent)
        .unwrap_or_default()
        .to_string()
}

fn binary_suffix(exponent: i32) -> &'static str {
    exponent_suffix(&BINARY_SI_SUFFIXES, exponent).unwrap_or_default()
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.amount.cmp_val(&other.amount)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_go_string())
    }
}

/// What Kubernetes (and Kruise's SidecarSet defaulting) stores for a `resources.limits` or
/// `resources.requests` value written as `s`: decode as Go's `UnmarshalJSON` does (trim, parse),
/// `RoundUp(Milli)` as `SetDefaults_ResourceList` does, then serialize as `MarshalJSON` does.
///
/// Note the remembered-text rule: `"+1"`, `"01"` and `"1E3"` come back unchanged, exactly as
/// they would from the API server; `"0.1"` becomes `"100m"`, `"1.5Gi"` `"1536Mi"`.
pub fn normalize_resource_quantity(s: &str) -> Result<String, QuantityError> {
    let mut q = Quantity::from_json_str(s)?;
    q.round_up(MILLI);
    Ok(q.to_go_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Format::{BinarySI as BSI, DecimalExponent as DEX, DecimalSI as DSI};

    /// Go's test helper `decQuantity(i, exponent, format)`: the inf.Dec form.
    fn dec_q(i: i64, exponent: i32, format: Format) -> Quantity {
        Quantity {
            amount: Amount::Dec(Dec {
                unscaled: BigInt::from_i64(i),
                scale: -exponent,
            }),
            cached: None,
            format,
        }
    }

    /// Go's test helper `intQuantity(i, scale, format)`: the int64 form.
    fn int_q(value: i64, scale: Scale, format: Format) -> Quantity {
        Quantity::new_scaled_with(value, scale, format)
    }

    /// Go's `AsDec()` side effect: same value, decimal representation.
    fn as_dec(q: &Quantity) -> Quantity {
        Quantity {
            amount: Amount::Dec(q.amount.to_dec()),
            cached: q.cached.clone(),
            format: q.format,
        }
    }

    fn q(s: &str) -> Quantity {
        match Quantity::parse(s) {
            Ok(q) => q,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    // The tables checked against Go itself (parse, arithmetic, constructors) are in
    // tests/quantity_vectors.rs, generated by hack/quantity-vectors.

    // ---- Ported from apimachinery's quantity_test.go ----

    #[test]
    fn parse_quantity_string_parts() {
        let table: &[(&str, bool, &str, &str, &str, &str)] = &[
            ("0.025Ti", true, "0.025", "0", "025", "Ti"),
            ("1.025Ti", true, "1.025", "1", "025", "Ti"),
            ("-1.025Ti", false, "-1.025", "1", "025", "Ti"),
            (".", true, ".", "0", "", ""),
            ("-.", false, "-.", "0", "", ""),
            ("1E-3", true, "1", "1", "", "E-3"),
        ];
        for (input, positive, value, num, denom, suffix) in table {
            let p = parse_quantity_string(input.as_bytes()).expect(input);
            assert_eq!(p.positive, *positive, "{input}");
            assert_eq!(p.value, value.as_bytes(), "{input}");
            assert_eq!(p.num, num.as_bytes(), "{input}");
            assert_eq!(p.denom, denom.as_bytes(), "{input}");
            assert_eq!(p.suffix, suffix.as_bytes(), "{input}");
        }
    }

    #[test]
    fn parse_values_and_formats() {
        assert_eq!(Quantity::parse(""), Err(QuantityError::FormatWrong));
        let table: &[(&str, Quantity)] = &[
            ("0", dec_q(0, 0, DSI)),
            ("0n", dec_q(0, 0, DSI)),
            ("0u", dec_q(0, 0, DSI)),
            ("0m", dec_q(0, 0, DSI)),
            ("0Ki", dec_q(0, 0, BSI)),
            ("0k", dec_q(0, 0, DSI)),
            ("0Mi", dec_q(0, 0, BSI)),
            ("0M", dec_q(0, 0, DSI)),
            ("0Gi", dec_q(0, 0, BSI)),
            ("0G", dec_q(0, 0, DSI)),
            ("0Ti", dec_q(0, 0, BSI)),
            ("0T", dec_q(0, 0, DSI)),
            ("1", dec_q(1, 0, DSI)),
            ("1Ki", dec_q(1024, 0, BSI)),
            ("8Ki", dec_q(8 * 1024, 0, BSI)),
            ("7Mi", dec_q(7 << 20, 0, BSI)),
            ("6Gi", dec_q(6 << 30, 0, BSI)),
            ("5Ti", dec_q(5 << 40, 0, BSI)),
            ("4Pi", dec_q(4 << 50, 0, BSI)),
            ("3Ei", dec_q(3 << 60, 0, BSI)),
            ("10Ti", dec_q(10 << 40, 0, BSI)),
            ("100Ti", dec_q(100 << 40, 0, BSI)),
            ("5n", dec_q(5, -9, DSI)),
            ("4u", dec_q(4, -6, DSI)),
            ("3m", dec_q(3, -3, DSI)),
            ("9", dec_q(9, 0, DSI)),
            ("8k", dec_q(8, 3, DSI)),
            ("50k", dec_q(5, 4, DSI)),
            ("7M", dec_q(7, 6, DSI)),
            ("6G", dec_q(6, 9, DSI)),
            ("5T", dec_q(5, 12, DSI)),
            ("40T", dec_q(4, 13, DSI)),
            ("300T", dec_q(3, 14, DSI)),
            ("2P", dec_q(2, 15, DSI)),
            ("1E", dec_q(1, 18, DSI)),
            ("1E-3", dec_q(1, -3, DEX)),
            ("1e3", dec_q(1, 3, DEX)),
            ("1E6", dec_q(1, 6, DEX)),
            ("1e9", dec_q(1, 9, DEX)),
            ("1E12", dec_q(1, 12, DEX)),
            ("1e15", dec_q(1, 15, DEX)),
            ("1E18", dec_q(1, 18, DEX)),
            ("1e14", dec_q(1, 14, DEX)),
            ("1e13", dec_q(1, 13, DEX)),
            ("100.035k", dec_q(100035, 0, DSI)),
            ("0.001", dec_q(1, -3, DSI)),
            ("0.0005k", dec_q(5, -1, DSI)),
            ("0.005", dec_q(5, -3, DSI)),
            ("0.05", dec_q(5, -2, DSI)),
            ("0.5", dec_q(5, -1, DSI)),
            ("0.00050k", dec_q(5, -1, DSI)),
            ("0.00500", dec_q(5, -3, DSI)),
            ("0.05000", dec_q(5, -2, DSI)),
            ("0.50000", dec_q(5, -1, DSI)),
            ("0.5e0", dec_q(5, -1, DEX)),
            ("0.5e-1", dec_q(5, -2, DEX)),
            ("0.5e-2", dec_q(5, -3, DEX)),
            ("10.035M", dec_q(10035, 3, DSI)),
            ("1.2e3", dec_q(12, 2, DEX)),
            ("1.3E+6", dec_q(13, 5, DEX)),
            ("1.40e9", dec_q(14, 8, DEX)),
            ("1.53E12", dec_q(153, 10, DEX)),
            ("1.6e15", dec_q(16, 14, DEX)),
            ("1.7E18", dec_q(17, 17, DEX)),
            ("9.01", dec_q(901, -2, DSI)),
            ("8.1k", dec_q(81, 2, DSI)),
            ("7.123456M", dec_q(7123456, 0, DSI)),
            ("6.987654321G", dec_q(6987654321, 0, DSI)),
            ("5.444T", dec_q(5444, 9, DSI)),
            ("40.1T", dec_q(401, 11, DSI)),
            ("300.2T", dec_q(3002, 11, DSI)),
            ("2.5P", dec_q(25, 14, DSI)),
            ("1.01E", dec_q(101, 16, DSI)),
            // Things that saturate/round.
            ("3.001n", dec_q(4, -9, DSI)),
            ("1.1E-9", dec_q(2, -9, DEX)),
            ("0.0000000001", dec_q(1, -9, DSI)),
            ("0.0000000005", dec_q(1, -9, DSI)),
            ("0.00000000050", dec_q(1, -9, DSI)),
            ("0.5e-9", dec_q(1, -9, DEX)),
            ("0.9n", dec_q(1, -9, DSI)),
            ("0.00000012345", dec_q(124, -9, DSI)),
            ("0.00000012354", dec_q(124, -9, DSI)),
            ("9Ei", dec_q(i64::MAX, 0, BSI)),
            ("9223372036854775807Ki", dec_q(i64::MAX, 0, BSI)),
            ("12E", dec_q(12, 18, DSI)),
            // Fractional binary values.
            ("100.035Ki", dec_q(10243584, -2, BSI)),
            ("0.5Mi", dec_q(1 << 19, 0, BSI)),
            ("0.05Gi", dec_q(536870912, -1, BSI)),
            ("0.025Ti", dec_q(274877906944, -1, BSI)),
            // "Things written by trolls".
            ("0.000000000001Ki", dec_q(2, -9, DSI)),
            (".001", dec_q(1, -3, DSI)),
            (".0001k", dec_q(100, -3, DSI)),
            ("1.", dec_q(1, 0, DSI)),
            ("1.G", dec_q(1, 9, DSI)),
        ];
        for (input, want) in table {
            for prefix in ["", "+", "-"] {
                let text = format!("{prefix}{input}");
                let got = q(&text);
                let mut want = want.clone();
                if prefix == "-" {
                    want.neg();
                }
                assert_eq!(
                    got,
                    want,
                    "{text}: {} vs {}",
                    got.canonical(),
                    want.canonical()
                );
                assert_eq!(got.format(), want.format(), "{text}");
                assert_eq!(as_dec(&got), want, "{text} as inf.Dec");
            }
        }
    }

    #[test]
    fn parse_rejects() {
        use QuantityError::{FormatWrong, Numeric, Suffix};
        for (input, want) in [
            ("1.1.M", FormatWrong),
            ("1+1.0M", FormatWrong),
            ("0.1mi", Suffix),
            ("0.1am", FormatWrong),
            ("aoeu", FormatWrong),
            (".5i", Suffix),
            ("1i", Suffix),
            ("-3.01i", Suffix),
            ("-3.01e-", Suffix),
            (" 1", FormatWrong),
            ("1 ", FormatWrong),
            ("", FormatWrong),
            ("1e", Suffix),
            ("1e+", Suffix),
            ("1x", FormatWrong),
            ("1ee3", Suffix),
            (".e-10", Numeric),
        ] {
            assert_eq!(Quantity::parse(input).err(), Some(want), "{input:?}");
        }
        assert_eq!(
            QuantityError::FormatWrong.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }

    #[test]
    fn round_up_table() {
        let table: &[(&str, Scale, Quantity, bool)] = &[
            ("9.01", -3, dec_q(901, -2, DSI), true),
            ("9.01", -2, dec_q(901, -2, DSI), true),
            ("9.01", -1, dec_q(91, -1, DSI), false),
            ("9.01", 0, dec_q(10, 0, DSI), false),
            ("9.01", 1, dec_q(10, 0, DSI), false),
            ("9.01", 2, dec_q(100, 0, DSI), false),
            ("-9.01", -3, dec_q(-901, -2, DSI), true),
            ("-9.01", -2, dec_q(-901, -2, DSI), true),
            ("-9.01", -1, dec_q(-91, -1, DSI), false),
            ("-9.01", 0, dec_q(-10, 0, DSI), false),
            ("-9.01", 1, dec_q(-10, 0, DSI), false),
            ("-9.01", 2, dec_q(-100, 0, DSI), false),
        ];
        for (input, scale, want, exact) in table {
            for decimal in [false, true] {
                let mut got = if decimal { as_dec(&q(input)) } else { q(input) };
                assert_eq!(got.round_up(*scale), *exact, "{input} {scale} {decimal}");
                assert_eq!(got, *want, "{input} {scale} {decimal}: {}", got.canonical());
            }
        }
    }

    #[test]
    fn cmp_int_and_dec() {
        let (max, min) = (i64::MAX, i64::MIN);
        let e18 = 1_000_000_000_000_000_000i64;
        let table = [
            (int_q(901, -2, DSI), int_q(901, -2, DSI), 0),
            (int_q(90, -1, DSI), int_q(901, -2, DSI), -1),
            (int_q(901, -2, DSI), int_q(900, -2, DSI), 1),
            (int_q(0, 0, DSI), int_q(0, 0, DSI), 0),
            (int_q(0, 1, DSI), int_q(0, -1, DSI), 0),
            (int_q(0, -1, DSI), int_q(0, 1, DSI), 0),
            (int_q(800, -3, DSI), int_q(1, 0, DSI), -1),
            (int_q(800, -3, DSI), int_q(79, -2, DSI), 1),
            (int_q(max, 0, DSI), int_q(1, -1, DSI), 1),
            (int_q(max, 1, DSI), int_q(1, 0, DSI), 1),
            (int_q(max, 1, DSI), int_q(1, 1, DSI), 1),
            (int_q(max, 1, DSI), int_q(0, 1, DSI), 1),
            (int_q(max, -16, DSI), int_q(1, 3, DSI), -1),
            (int_q(min, 0, DSI), int_q(0, 0, DSI), -1),
            (int_q(min, -18, DSI), int_q(-1, 0, DSI), -1),
            (int_q(min, -19, DSI), int_q(-1, 0, DSI), 1),
            (int_q(e18, -17, DSI), int_q(1, 1, DSI), 0),
            (int_q(e18, -17, DSI), int_q(-10, 0, DSI), 1),
            (int_q(-e18, -17, DSI), int_q(-10, 0, DSI), 0),
            (int_q(e18, -17, DSI), int_q(1, 0, DSI), 1),
            (int_q(e18 + 1, -17, DSI), int_q(1, 1, DSI), 1),
            (int_q(e18 - 1, -17, DSI), int_q(1, 1, DSI), -1),
        ];
        for (a, b, want) in &table {
            for (x, y) in [
                (a.clone(), b.clone()),
                (as_dec(a), b.clone()),
                (a.clone(), as_dec(b)),
                (as_dec(a), as_dec(b)),
            ] {
                assert_eq!(x.cmp(&y) as i32, *want, "{x:?} vs {y:?}");
                assert_eq!(y.cmp(&x) as i32, -want, "{y:?} vs {x:?}");
            }
        }
    }

    #[test]
    fn string_table() {
        let table: &[(Quantity, &str, &str)] = &[
            (dec_q(1024 * 1024 * 1024, 0, BSI), "1Gi", "1024Mi"),
            (dec_q(300 * 1024 * 1024, 0, BSI), "300Mi", "307200Ki"),
            (dec_q(6 * 1024, 0, BSI), "6Ki", ""),
            (
                dec_q(1001 * 1024 * 1024 * 1024, 0, BSI),
                "1001Gi",
                "1025024Mi",
            ),
            (dec_q(1024 * 1024 * 1024 * 1024, 0, BSI), "1Ti", "1024Gi"),
            (dec_q(5, 0, BSI), "5", "5000m"),
            (dec_q(500, -3, BSI), "500m", "0.5"),
            (dec_q(1, 9, DSI), "1G", "1000M"),
            (dec_q(1000, 6, DSI), "1G", "0.001T"),
            (dec_q(1000000, 3, DSI), "1G", ""),
            (dec_q(1000000000, 0, DSI), "1G", ""),
            (dec_q(1, -3, DSI), "1m", "1000u"),
            (dec_q(80, -3, DSI), "80m", ""),
            (dec_q(1080, -3, DSI), "1080m", "1.08"),
            (dec_q(108, -2, DSI), "1080m", "1080000000n"),
            (dec_q(10800, -4, DSI), "1080m", ""),
            (dec_q(300, 6, DSI), "300M", ""),
            (dec_q(1, 12, DSI), "1T", ""),
            (dec_q(1234567, 6, DSI), "1234567M", ""),
            (dec_q(1234567, -3, BSI), "1234567m", ""),
            (dec_q(3, 3, DSI), "3k", ""),
            (dec_q(1025, 0, BSI), "1025", ""),
            (dec_q(0, 0, DSI), "0", ""),
            (dec_q(0, 0, BSI), "0", ""),
            (dec_q(1, 9, DEX), "1e9", ".001e12"),
            (dec_q(1, -3, DEX), "1e-3", "0.001e0"),
            (dec_q(1, -9, DEX), "1e-9", "1000e-12"),
            (dec_q(80, -3, DEX), "80e-3", ""),
            (dec_q(300, 6, DEX), "300e6", ""),
            (dec_q(1, 12, DEX), "1e12", ""),
            (dec_q(1, 3, DEX), "1e3", ""),
            (dec_q(3, 3, DEX), "3e3", ""),
            (dec_q(3, 3, DSI), "3k", ""),
            (dec_q(0, 0, DEX), "0", "00"),
            (dec_q(1, -9, DSI), "1n", ""),
            (dec_q(80, -9, DSI), "80n", ""),
            (dec_q(1080, -9, DSI), "1080n", ""),
            (dec_q(108, -8, DSI), "1080n", ""),
            (dec_q(10800, -10, DSI), "1080n", ""),
            (dec_q(1, -6, DSI), "1u", ""),
            (dec_q(80, -6, DSI), "80u", ""),
            (dec_q(1080, -6, DSI), "1080u", ""),
        ];
        for (input, want, alternate) in table {
            assert_eq!(input.canonical(), *want, "{input:?}");
            let parsed = q(want);
            assert_eq!(
                parsed.cached.as_deref(),
                Some(*want),
                "{want} should be remembered"
            );
            if !alternate.is_empty() {
                let alt = q(alternate);
                assert_eq!(alt.cached, None, "{alternate} should not be remembered");
                assert_eq!(alt.to_go_string(), *want, "{alternate}");
            }
            if !input.is_zero() {
                let mut n = input.clone();
                n.neg();
                assert_eq!(n.canonical(), format!("-{want}"), "-{want}");
            }
        }
    }

    #[test]
    fn parse_emit() {
        let table = [
            ("1Ki", "1Ki"),
            ("1Mi", "1Mi"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1000M", "1G"),
            (".001Ki", "1024m"),
            (".000001Ki", "1024u"),
            (".000000001Ki", "1024n"),
            (".000000000001Ki", "2n"),
        ];
        for (input, want) in table {
            assert_eq!(q(input).to_go_string(), want, "{input}");
            assert_eq!(
                q(&format!("-{input}")).to_go_string(),
                format!("-{want}"),
                "-{input}"
            );
        }
    }

    #[test]
    fn add_and_neg() {
        let zero = Quantity::zero(DSI);
        let adds = [
            (dec_q(10, 0, DSI), dec_q(1, 1, DSI), dec_q(20, 0, DSI)),
            (dec_q(10, 0, DSI), dec_q(1, 0, BSI), dec_q(11, 0, DSI)),
            (dec_q(10, 0, BSI), dec_q(1, 0, DSI), dec_q(11, 0, BSI)),
            (zero.clone(), dec_q(50, 0, DSI), dec_q(50, 0, DSI)),
            (dec_q(50, 0, DSI), zero.clone(), dec_q(50, 0, DSI)),
            (zero.clone(), zero.clone(), dec_q(0, 0, DSI)),
        ];
        for (a, b, want) in adds {
            let mut sum = a.clone();
            sum.add(&b).expect("small");
            assert_eq!(sum, want);
        }
        // Adding zero keeps the suffix, whichever side the zero is on.
        for v in ["100m", "1Gi"] {
            let mut a = q(v);
            a.add(&q("0")).expect("small");
            assert_eq!(a.to_go_string(), v);
            let mut b = q("0");
            b.add(&q(v)).expect("small");
            assert_eq!(b.to_go_string(), v);
        }
        for (a, want) in [
            (int_q(901, -2, DSI), "-9010m"),
            (dec_q(901, -2, DSI), "-9010m"),
            (int_q(10, 0, BSI), "-10"),
            (dec_q(-10, 0, BSI), "10"),
        ] {
            let mut n = a.clone();
            n.neg();
            assert_ne!(n, a);
            assert_eq!(n.canonical(), want);
        }
        // v0.32 wraps when negating -2^63 in int64 form.
        let mut most_negative = int_q(i64::MIN, 0, DSI);
        most_negative.neg();
        assert_eq!(most_negative.canonical(), "-9223372036854775808");
    }

    #[test]
    fn milli_new_set_and_scaled() {
        for (v, format, want) in [
            (1, DSI, "1m"),
            (1000, DSI, "1"),
            (1234000, DSI, "1234"),
            (1024, BSI, "1024m"),
            (1024 * 1024, BSI, "1048576m"),
        ] {
            assert_eq!(Quantity::new_milli(v, format).canonical(), want);
            let mut s = Quantity::zero(format);
            s.set_milli(v);
            assert_eq!(s.canonical(), want);
            assert_eq!(q(want).go_milli_value(), v);
        }
        for (v, format, want) in [
            (1, DSI, "1"),
            (1000, DSI, "1k"),
            (1234000, DSI, "1234k"),
            (1024, BSI, "1Ki"),
            (1024 * 1024, BSI, "1Mi"),
        ] {
            assert_eq!(Quantity::new(v, format).canonical(), want);
            assert_eq!(as_dec(&Quantity::new(v, format)).canonical(), want);
            assert_eq!(q(want).go_value(), v);
        }
        for (v, scale, want) in [
            (1, NANO, "1n"),
            (1000, NANO, "1u"),
            (1, MICRO, "1u"),
            (1000, MICRO, "1m"),
            (1, MILLI, "1m"),
            (1000, MILLI, "1"),
            (1, 0, "1"),
            (0, NANO, "0"),
            (0, 0, "0"),
        ] {
            assert_eq!(Quantity::new_scaled(v, scale).canonical(), want);
            assert_eq!(q(want).go_scaled_value(scale), v);
        }
        for (from, to, want) in [
            (NANO, NANO, 1),
            (NANO, MICRO, 1),
            (NANO, MILLI, 1),
            (NANO, 0, 1),
            (MICRO, NANO, 1000),
            (MILLI, NANO, 1_000_000),
            (0, NANO, 1_000_000_000),
            (0, MILLI, 1000),
            (2, -2, 10_000),
        ] {
            assert_eq!(
                Quantity::new_scaled(1, from).go_scaled_value(to),
                want,
                "{from}->{to}"
            );
        }
    }

    #[test]
    fn json_text_is_trimmed() {
        for (input, want) in [(" 1", "1"), ("1 ", "1"), ("\t-1\n", "-1"), ("10", "10")] {
            assert_eq!(
                Quantity::from_json_str(input).map(|q| q.to_go_string()),
                Ok(want.to_string())
            );
        }
    }

    /// Kubernetes defaulting of resource lists (`SetDefaults_ResourceList` + serialization).
    #[test]
    fn normalize_resource_quantities() {
        for (input, want) in [
            ("0.1", "100m"),
            ("1000", "1k"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("2000m", "2"),
            ("1e3", "1e3"),
            ("12e6", "12e6"),
            ("100m", "100m"),
            ("0", "0"),
            ("-1", "-1"),
            ("0.0001", "1m"),
            ("1.0001", "1001m"),
            ("-0.0001", "-1m"),
            ("1n", "1m"),
            ("500u", "1m"),
            ("1.5", "1500m"),
            ("0.5Ki", "512"),
            ("+1", "+1"),
            ("01", "01"),
            ("1E3", "1E3"),
            (" 250m ", "250m"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("123Mi", "123Mi"),
            ("1000E", "1"),
        ] {
            assert_eq!(
                normalize_resource_quantity(input),
                Ok(want.to_string()),
                "{input:?}"
            );
        }
        assert_eq!(
            normalize_resource_quantity("ten"),
            Err(QuantityError::FormatWrong)
        );
    }

    /// Go never returns on these (it expands 10^2147483648); we refuse them quickly.
    #[test]
    fn huge_exponents_do_not_hang() {
        assert_eq!(
            Quantity::parse("12345678901234567890e100000"),
            Err(QuantityError::TooLarge)
        );
        // Go's int32 negation wraps, turning this tiny value into 10^2147483648.
        assert_eq!(
            Quantity::parse("1e-2147483648"),
            Err(QuantityError::TooLarge)
        );
        assert_eq!(q("5e-2147483647").canonical(), "1e-9");
        let huge = q("1e2147483647");
        assert_eq!(huge.canonical(), "10e2147483646");
        let mut sum = huge.clone();
        assert_eq!(sum.add(&q("1")), Err(QuantityError::TooLarge));
        assert_eq!(huge.cmp(&q("1")), Ordering::Greater);
        assert_eq!(
            Quantity::parse(&"9".repeat(20_000)),
            Err(QuantityError::TooLarge)
        );
        assert_eq!(q(&"9".repeat(9_000)).canonical().len(), 9_000);
    }

    #[test]
    fn exact_accessors() {
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("1.0001").milli_value(), 1001);
        assert_eq!(q("-1.0001").milli_value(), -1001);
        assert_eq!(q("1Ki").value(), 1024);
        assert_eq!(q("1.5m").value(), 1);
        assert_eq!(
            q("123456789012345678901234567890").value(),
            123456789012345678901234567890
        );
        assert_eq!(q("1e40").value(), i128::MAX);
        assert_eq!(q("-1e40").milli_value(), i128::MIN);
        assert_eq!(Quantity::from_milli(1500, DSI).canonical(), "1500m");
        assert_eq!(Quantity::from_value(1 << 70, BSI).canonical(), "1");
        assert_eq!(
            Quantity::from_value(i128::from(i64::MAX) + 1, DSI).canonical(),
            "9223372036854775808"
        );
        assert!(Quantity::zero(BSI).is_zero());
        assert_eq!(q("1.5Gi").as_f64(), 1_610_612_736.0);
        assert_eq!(q("100m").as_f64(), 0.1);
        assert_eq!(q("-2").sign(), -1);
        assert!(q("1") == q("1000m"));
        assert!(q("999m") < q("1"));
        assert_eq!(q("1Gi").to_string(), "1Gi");
    }

    #[test]
    fn go_float_conversion() {
        assert_eq!(go_f64_to_i64(1.9), 1);
        assert_eq!(go_f64_to_i64(-1.9), -1);
        assert_eq!(go_f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(go_f64_to_i64(1e19), i64::MIN);
        assert_eq!(go_f64_to_i64(-1e19), i64::MIN);
        assert_eq!(go_f64_to_i64(f64::INFINITY), i64::MIN);
        assert_eq!(go_f64_to_i64(-9_223_372_036_854_775_808.0), i64::MIN);
    }

    #[test]
    fn big_uint_basics() {
        let digits = "1234567890123456789012345678901234567891";
        let mut b = BigUint::from_digits(digits.as_bytes()).expect("small");
        assert_eq!(b.to_decimal(), digits);
        assert_eq!(b.num_digits(), 40);
        b.mul_pow10(13).expect("small");
        assert_eq!(b.trailing_zero_digits(), 13);
        assert!(!b.div_pow10(13));
        assert_eq!(b.to_decimal(), digits);
        assert!(b.div_pow10(1));
        assert_eq!(b.to_decimal(), &digits[..39]);
        assert!(b.clone().div_pow10(100));
        let one = BigUint::from_u64(1);
        assert_eq!(b.add(&one).sub(&one), b);
        assert_eq!(BigUint::from_u128(u128::MAX).to_u128(), Some(u128::MAX));
        assert_eq!(BigUint::from_u128(1 << 64).low_u64(), 0);
        assert_eq!(BigInt::from_i128(-(1 << 64) - 5).go_int64(), -5);
        assert_eq!(BigUint::from_digits(b"000").map(|b| b.is_zero()), Ok(true));
    }
}
