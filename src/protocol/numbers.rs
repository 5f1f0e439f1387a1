//! The numbers in message fields, read from ASCII: decimal sequence
//! numbers, hop limits and timestamps, and 16-digit hex node ids.
//!
//! Every chat message carries about 45 digits, and a relaying node reads
//! them all, so they are read eight at a time in a plain `u64` rather than
//! one by one. In a word loaded little-endian the first character is the
//! lowest byte. Sums below never carry from one byte into the next: each
//! check comes after (or is joined with) one that every byte is below 0x80.

const TOP: u64 = u64::from_ne_bytes([0x80; 8]);
const LOW_NIBBLES: u64 = u64::from_ne_bytes([0x0f; 8]);

/// Repeats a byte in all eight bytes of a word.
const fn each(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// The value of at most 19 ASCII decimal digits (more could overflow a
/// `u64`, so those are read one by one with checks). `None` for an empty
/// string or any byte that is not a digit.
pub fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    if digits.len() > 19 {
        return digits.iter().try_fold(0u64, |n, b| {
            let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
            n.checked_mul(10)?.checked_add(u64::from(digit))
        });
    }
    let mut chunks = digits.chunks_exact(8);
    let (mut n, mut bad) = (0u64, false);
    for chunk in &mut chunks {
        let w = word(chunk);
        bad |= !eight_digits(w);
        n = n
            .wrapping_mul(100_000_000)
            .wrapping_add(value_of_eight_digits(w));
    }
    for &b in chunks.remainder() {
        let digit = b.wrapping_sub(b'0');
        bad |= digit > 9;
        n = n.wrapping_mul(10).wrapping_add(u64::from(digit));
    }
    (!bad).then_some(n)
}

/// The value of exactly 16 lower-case hex digits.
pub fn hex16(digits: &[u8]) -> Option<u64> {
    if digits.len() != 16 {
        return None;
    }
    let (high, low) = digits.split_at(8);
    Some(u64::from(eight_hex(word(high))?) << 32 | u64::from(eight_hex(word(low))?))
}

/// How many ASCII digits a word starts with (its first character is the
/// lowest byte), 0 to 8, and their value.
#[inline]
pub fn leading_digits(w: u64) -> (usize, u64) {
    let high = !LOW_NIBBLES;
    // Non-zero in each byte that is not a digit: its high nibble is not 3,
    // before or after adding 6. Adding 6 to a byte of 0xfa or more carries
    // into the next, but such a byte is no digit itself, so only bytes
    // after the first that is not a digit can be misjudged.
    let off = (w & high ^ each(b'0')) | (w.wrapping_add(each(6)) & high ^ each(b'0'));
    // Each byte's mark moved into its low nibble, then into its top bit.
    let marks = ((off >> 4) + each(0x7f)) & TOP;
    let k = marks.trailing_zeros() as usize / 8;
    if k == 0 {
        return (0, 0);
    }
    // The digits moved to the top, below them zeros: leading zero digits.
    let digits = (w ^ each(b'0')) << (8 * (8 - k));
    (k, combine_digits(digits))
}

/// Exactly `N` decimal digits at `at`, 9 to 16 of them, then a space: their
/// value. Both words are read at fixed places, the second overlapping the
/// first, so that neither waits on the other's digit count, as reading a
/// number of unknown length must. Nodes number their messages with 16
/// digits and time them with 13, so these are the widths to try first.
#[inline(always)]
pub fn fixed_digits<const N: usize>(bytes: &[u8], at: usize) -> Option<u64> {
    const { assert!(N > 8 && N <= 16) };
    let (high, low) = (word_at(bytes, at)?, word_at(bytes, at + N - 8)?);
    if !(eight_digits(high) && eight_digits(low)) || bytes.get(at + N) != Some(&b' ') {
        return None;
    }
    // The low word's last N - 8 digits are the number's last ones.
    let scale = 10u64.pow(N as u32 - 8);
    Some(value_of_eight_digits(high) * scale + value_of_eight_digits(low) % scale)
}

/// The eight bytes at `at`, as a little-endian word; `None` past the end.
#[inline]
pub fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(chunk);
    u64::from_le_bytes(bytes)
}

/// Every byte is `0` to `9`: its high nibble is 3, and adding 6 leaves it 3.
fn eight_digits(w: u64) -> bool {
    let high = !LOW_NIBBLES;
    w & high == each(b'0') && w.wrapping_add(each(6)) & high == each(b'0')
}

/// Eight digits, most significant first, as a number: pairs of digits,
/// then pairs of pairs, then the two halves, each step in every lane at once.
fn value_of_eight_digits(w: u64) -> u64 {
    combine_digits(w.wrapping_sub(each(b'0')))
}

/// Eight digit values, one per byte, most significant first, as a number.
fn combine_digits(d: u64) -> u64 {
    let pairs = (d.wrapping_mul(10).wrapping_add(d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs.wrapping_mul(100).wrapping_add(pairs >> 16)) & 0x0000_ffff_0000_ffff;
    (quads.wrapping_mul(10_000).wrapping_add(quads >> 32)) & 0xffff_ffff
}

/// Eight lower-case hex digits, most significant first, as a number; `None`
/// if any byte is another. For a byte `b` below 0x80, `b + 0x80 - lo` has its
/// top bit set exactly when `b >= lo`.
fn eight_hex(w: u64) -> Option<u32> {
    let at_least = |lo: u8| w.wrapping_add(each(0x80 - lo));
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if w & TOP != 0 || (digit | letter) & TOP != TOP {
        return None;
    }
    // A letter's value is its low nibble plus 9 ('a' is 0x61).
    let nibbles = (w & LOW_NIBBLES) + ((letter & TOP) >> 7) * 9;
    let bytes = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let halves = ((bytes << 8) | (bytes >> 16)) & 0x0000_ffff_0000_ffff;
    Some((((halves << 16) | (halves >> 32)) & 0xffff_ffff) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain reading the word-at-a-time code must agree with.
    fn decimal_by_digit(s: &[u8]) -> Option<u64> {
        if s.is_empty() {
            return None;
        }
        s.iter().try_fold(0u64, |n, b| {
            let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
            n.checked_mul(10)?.checked_add(u64::from(digit))
        })
    }

    fn hex_by_digit(s: &[u8]) -> Option<u64> {
        if s.len() != 16 {
            return None;
        }
        s.iter().try_fold(0u64, |n, &b| {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            Some(n << 4 | u64::from(digit))
        })
    }

    /// Calls `check` with every byte value in every place before `places`:
    /// a reader is right for each byte alone, wherever it stands.
    fn every_byte_in_every_place(places: usize, mut check: impl FnMut(u8, usize)) {
        for b in 0..=255u8 {
            for at in 0..places {
                check(b, at);
            }
        }
    }

    #[test]
    fn known_numbers() {
        assert_eq!(decimal(b"0"), Some(0));
        assert_eq!(decimal(b"31"), Some(31));
        assert_eq!(decimal(b"1764172000123456"), Some(1_764_172_000_123_456));
        assert_eq!(decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(decimal(b"18446744073709551616"), None);
        assert_eq!(
            decimal(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(decimal(b""), None);
        assert_eq!(decimal(b"12345678:"), None);
        assert_eq!(decimal(b"+1"), None);
        assert_eq!(hex16(b"3f2a9c0b71d4e8a6"), Some(0x3f2a_9c0b_71d4_e8a6));
        assert_eq!(hex16(b"ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(hex16(b"0000000000000000"), Some(0));
        assert_eq!(
            hex16(b"3F2A9C0B71D4E8A6"),
            None,
            "upper case is not the form"
        );
        assert_eq!(hex16(b"3f2a9c0b71d4e8a"), None);
        assert_eq!(hex16(b"3f2a9c0b71d4e8a60"), None);
    }

    #[test]
    fn fixed_digits_read_exactly_their_width_and_a_space() {
        fn check<const N: usize>() {
            every_byte_in_every_place(N + 1, |b, at| {
                let mut bytes = *b"12345678901234567 x";
                bytes[N] = b' ';
                bytes[at] = b;
                let digits = &bytes[..N];
                let expected = match bytes[N] {
                    b' ' => decimal_by_digit(digits),
                    _ => None,
                };
                assert_eq!(
                    fixed_digits::<N>(&bytes, 0),
                    expected,
                    "{N}: {b:#x} at {at}"
                );
            });
            // Too short to load the words, or to hold the space.
            assert_eq!(fixed_digits::<N>(&b"1234567890123456"[..N], 0), None);
        }
        check::<9>();
        check::<13>();
        check::<16>();
    }

    #[test]
    fn leading_digits_stop_at_the_first_byte_that_is_not_one() {
        every_byte_in_every_place(8, |b, at| {
            let mut bytes = *b"12345678";
            bytes[at] = b;
            let k = if b.is_ascii_digit() { 8 } else { at };
            let expected = decimal_by_digit(&bytes[..k]).unwrap_or(0);
            assert_eq!(
                leading_digits(u64::from_le_bytes(bytes)),
                (k, expected),
                "{b:#x} at {at}"
            );
        });
    }

    #[test]
    fn every_byte_at_every_place_is_judged_alone() {
        every_byte_in_every_place(16, |b, at| {
            let mut digits = *b"1234567890123456";
            digits[at] = b;
            assert_eq!(
                decimal(&digits),
                decimal_by_digit(&digits),
                "{b:#x} at {at}"
            );
            let mut hex = *b"0123456789abcdef";
            hex[at] = b;
            assert_eq!(hex16(&hex), hex_by_digit(&hex), "{b:#x} at {at}");
        });
    }

    proptest! {
        #[test]
        fn leading_digits_agree_with_reading_digit_by_digit(bytes in any::<[u8; 8]>(), digits in 0..=8usize) {
            // Digits at the front make every count likely, not just 0.
            let mut bytes = bytes;
            for b in bytes.iter_mut().take(digits) {
                *b = b'0' + *b % 10;
            }
            let k = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            let expected = (k, if k == 0 { 0 } else { decimal_by_digit(&bytes[..k]).unwrap() });
            prop_assert_eq!(leading_digits(u64::from_le_bytes(bytes)), expected, "{:?}", bytes);
        }

        #[test]
        fn decimal_agrees_with_reading_digit_by_digit(s in "[0-9]{0,22}|[0-9/:]{1,20}|\\PC{0,20}") {
            prop_assert_eq!(decimal(s.as_bytes()), decimal_by_digit(s.as_bytes()));
        }

        #[test]
        fn numbers_read_back_as_written(n in any::<u64>()) {
            prop_assert_eq!(decimal(n.to_string().as_bytes()), Some(n));
            prop_assert_eq!(hex16(format!("{n:016x}").as_bytes()), Some(n));
        }

        #[test]
        fn hex16_agrees_with_reading_digit_by_digit(s in "[0-9a-f]{16}|[0-9a-fA-F:g`/]{14,18}|\\PC{16}") {
            prop_assert_eq!(hex16(s.as_bytes()), hex_by_digit(s.as_bytes()));
        }
    }
}
