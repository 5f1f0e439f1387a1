//! Durations and sizes as users write them on the command line: `90s`,
//! `10m`, `2h`; `512KiB`, `8MiB`, `1GiB`. Plain `0` means none.

use std::time::Duration;

/// The longest history window: a day.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The largest history: 1 GiB.
pub const MAX_BYTES: usize = 1 << 30;

/// Reads a duration such as `90s`, `10m` or `2h`, up to [`MAX_AGE`].
pub fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split(text);
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "" if number == "0" => 0,
        _ => {
            return Err(format!(
                "{text:?} is not a duration; write it like 90s, 10m or 2h"
            ))
        }
    };
    let secs = count(text, number)?.checked_mul(scale);
    match secs.map(Duration::from_secs) {
        Some(d) if d <= MAX_AGE => Ok(d),
        _ => Err(format!("{text:?} is too long; a day (24h) at most")),
    }
}

/// Reads a size such as `512KiB`, `8MiB` or `1GiB`, up to [`MAX_BYTES`].
pub fn bytes(text: &str) -> Result<usize, String> {
    let (number, unit) = split(text);
    let scale: u64 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "" if number == "0" => 0,
        _ => {
            return Err(format!(
                "{text:?} is not a size; write it like 512KiB, 8MiB or 1GiB"
            ))
        }
    };
    match count(text, number)?.checked_mul(scale) {
        Some(n) if n <= MAX_BYTES as u64 => Ok(n as usize),
        _ => Err(format!("{text:?} is too large; 1GiB at most")),
    }
}

/// The digits in front, and the unit after them.
fn split(text: &str) -> (&str, &str) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text.split_at(digits)
}

fn count(text: &str, number: &str) -> Result<u64, String> {
    number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_durations() {
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        for bad in [
            "",
            "10",
            "m",
            "-1m",
            "1.5h",
            "10 m",
            "25h",
            "99999999999999999999s",
        ] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_sizes() {
        assert_eq!(bytes("512KiB"), Ok(512 << 10));
        assert_eq!(bytes("8MiB"), Ok(8 << 20));
        assert_eq!(bytes("1GiB"), Ok(1 << 30));
        assert_eq!(bytes("0"), Ok(0));
        for bad in ["", "8", "8MB", "2GiB", "MiB", "8 MiB"] {
            assert!(bytes(bad).is_err(), "{bad:?}");
        }
    }
}
