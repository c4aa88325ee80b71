//! Human units in job specs and configs: sizes (`512MiB`), CPU (`0.5` cores)
//! and durations (`1m30s`). Each parser says what it expected on failure.

const MIB: u64 = 1024 * 1024;

/// Parses a memory size with a binary unit into whole MiB: `512MiB`, `1.5GiB`,
/// `2Gi`, `4096KiB`. A unit is required; SI units are refused with a hint, so
/// that nobody gets 5% less memory than they meant.
pub fn parse_memory_mb(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    let bytes_per_unit: u64 = match unit {
        "KiB" | "Ki" => 1024,
        "MiB" | "Mi" => MIB,
        "GiB" | "Gi" => 1024 * MIB,
        "TiB" | "Ti" => 1024 * 1024 * MIB,
        "" => {
            return Err(format!(
                "{text:?} has no unit; write e.g. \"{text}MiB\" (units: KiB, MiB, GiB, TiB)"
            ));
        }
        "KB" | "MB" | "GB" | "TB" | "K" | "M" | "G" | "T" | "kB" => {
            return Err(format!(
                "{unit:?} is a decimal unit; Drover sizes are binary: use {:?}",
                format!("{}iB", &unit[..1].to_ascii_uppercase())
            ));
        }
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}; expected KiB, MiB, GiB or TiB"
            ));
        }
    };
    let bytes = scale_decimal(number, bytes_per_unit)
        .ok_or_else(|| format!("{text:?} is not a number followed by a unit, like \"512MiB\""))?;
    if bytes % MIB != 0 {
        return Err(format!(
            "{text:?} is not a whole number of MiB; memory is allocated in MiB"
        ));
    }
    Ok(bytes / MIB)
}

/// Parses CPU cores (`"0.5"`, `"2"`, `"0.125"`) into millicores; at most three
/// decimals, since a millicore is the unit of account.
pub fn parse_cpu_cores(text: &str) -> Result<u64, String> {
    let text = text.trim();
    scale_decimal(text, 1000).ok_or_else(|| {
        format!("{text:?} is not a number of cores with at most 3 decimals, like \"0.5\"")
    })
}

/// `number × scale` where `number` is a non-negative decimal string; `None`
/// when it is not one, when the product is not a whole number, or on overflow.
fn scale_decimal(number: &str, scale: u64) -> Option<u64> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let frac = frac.trim_end_matches('0');
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 18 {
        return None;
    }
    let whole_part = whole.parse::<u64>().ok()?.checked_mul(scale)?;
    if frac.is_empty() {
        return Some(whole_part);
    }
    let numerator = u128::from(frac.parse::<u64>().ok()?) * u128::from(scale);
    let denominator = 10u128.pow(u32::try_from(frac.len()).ok()?);
    if numerator % denominator != 0 {
        return None;
    }
    whole_part.checked_add(u64::try_from(numerator / denominator).ok()?)
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a duration such as `250ms`, `30s`, `5m`, `1h30m` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let original = text.trim();
    let expected = || {
        format!(
            "{original:?} is not a duration; expected e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\""
        )
    };
    if original.is_empty() {
        return Err(expected());
    }
    let mut rest = original;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(expected());
        }
        let amount: u64 = rest[..digits].parse().map_err(|_| expected())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms_per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(expected()),
        };
        rest = &rest[unit_len..];
        total = amount
            .checked_mul(ms_per_unit)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("{original:?} is too long a duration"))?;
    }
    Ok(total)
}

/// Formats milliseconds the way [`parse_duration_ms`] reads them.
pub fn format_duration_ms(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_mb("512MiB"), Ok(512));
        assert_eq!(parse_memory_mb("1.5GiB"), Ok(1536));
        assert_eq!(parse_memory_mb("2Gi"), Ok(2048));
        assert_eq!(parse_memory_mb("4096KiB"), Ok(4));
        assert_eq!(parse_memory_mb("1TiB"), Ok(1024 * 1024));
        assert!(parse_memory_mb("512").unwrap_err().contains("no unit"));
        assert!(parse_memory_mb("512MB").unwrap_err().contains("\"MiB\""));
        assert!(
            parse_memory_mb("512XB")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            parse_memory_mb("1KiB")
                .unwrap_err()
                .contains("whole number")
        );
        assert!(parse_memory_mb("1.2.3MiB").is_err());
        assert!(parse_memory_mb("1.0000001GiB").is_err());
        assert_eq!(
            parse_memory_mb("0.5MiB").map_err(|e| e.contains("whole number")),
            Err(true)
        );
        assert!(parse_memory_mb("99999999999999999999TiB").is_err());
    }

    #[test]
    fn cpu_cores() {
        assert_eq!(parse_cpu_cores("0.5"), Ok(500));
        assert_eq!(parse_cpu_cores("2"), Ok(2000));
        assert_eq!(parse_cpu_cores("0.125"), Ok(125));
        assert_eq!(parse_cpu_cores("1.500"), Ok(1500));
        assert!(parse_cpu_cores("0.0001").is_err());
        assert!(parse_cpu_cores("-1").is_err());
        assert!(parse_cpu_cores("half").is_err());
        assert!(parse_cpu_cores(".5").is_err());
    }

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("2d"), Ok(172_800_000));
        for bad in ["", "5", "s", "5 s", "5x", "-5s"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
        for ms in [0, 1, 999, 1000, 61_001, 5_400_000, 90_061_001] {
            assert_eq!(parse_duration_ms(&format_duration_ms(ms)), Ok(ms));
        }
    }
}
