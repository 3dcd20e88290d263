//! The memory tier's budget (`vgi_memory_budget`), from the settings of a
//! bound call: the store keeps in-process executions in memory up to it.

use vgi::error::{Error, Result};
use vgi::sdk::Settings;

/// The setting that sizes the memory tier: a share of DuckDB's
/// `memory_limit` (`'25%'`), a size (`'512MB'`, `'2GiB'`, `'1000000'` bytes)
/// or `'0'` (no tier: state goes to files from the start).
pub const MEMORY_BUDGET_SETTING: &str = "vgi_memory_budget";

/// Its default: a quarter of `memory_limit`. The tier's memory is outside
/// DuckDB's buffer manager, so the process may use `memory_limit` plus this.
pub const DEFAULT_MEMORY_BUDGET: &str = "25%";

/// The entry the bridge adds to the settings at bind: DuckDB's
/// `memory_limit` in bytes.
pub const MEMORY_LIMIT_SETTING: &str = "memory_limit";

/// The budget in bytes that `settings` give the memory tier: the value of
/// [`MEMORY_BUDGET_SETTING`] (default [`DEFAULT_MEMORY_BUDGET`]), a share
/// of [`MEMORY_LIMIT_SETTING`] when it ends in `%` (0 when the limit is not
/// known).
pub fn memory_budget(settings: &Settings) -> Result<usize> {
    let raw = settings
        .get(MEMORY_BUDGET_SETTING)
        .unwrap_or(DEFAULT_MEMORY_BUDGET);
    let invalid = || {
        Error::InvalidArgument(format!(
            "setting '{MEMORY_BUDGET_SETTING}' must be a share of memory_limit ('25%'), a size \
             ('512MB', '2GiB') or '0', got '{raw}'"
        ))
    };
    let text = raw.trim().to_ascii_lowercase();
    if let Some(percent) = text.strip_suffix('%') {
        let share: f64 = percent.trim().parse().map_err(|_| invalid())?;
        if !(0.0..=100.0).contains(&share) {
            return Err(invalid());
        }
        let limit = match settings.get(MEMORY_LIMIT_SETTING) {
            Some(limit) => limit.trim().parse::<u64>().map_err(|_| {
                Error::InvalidArgument(format!(
                    "setting '{MEMORY_LIMIT_SETTING}' must be a number of bytes, got '{limit}'"
                ))
            })?,
            None => 0,
        };
        return Ok(to_usize(limit as f64 * share / 100.0));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let scale: f64 = match unit.trim() {
        "" | "b" | "bytes" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(invalid()),
    };
    Ok(to_usize(number * scale))
}

fn to_usize(bytes: f64) -> usize {
    if bytes >= usize::MAX as f64 {
        usize::MAX
    } else {
        bytes as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_from_settings() {
        let with = |budget: &str, limit: Option<&str>| {
            let mut s = Settings::new().with(MEMORY_BUDGET_SETTING, budget);
            if let Some(limit) = limit {
                s.insert(MEMORY_LIMIT_SETTING, limit);
            }
            memory_budget(&s)
        };
        let limit = Settings::new().with(MEMORY_LIMIT_SETTING, "1000");
        assert_eq!(memory_budget(&limit).unwrap(), 250, "default 25%");
        assert_eq!(
            memory_budget(&Settings::new()).unwrap(),
            0,
            "no limit known"
        );
        assert_eq!(with("50%", Some("1000")).unwrap(), 500);
        assert_eq!(with(" 12.5 % ", Some("1000")).unwrap(), 125);
        assert_eq!(with("0", None).unwrap(), 0);
        assert_eq!(with("4096", None).unwrap(), 4096);
        assert_eq!(with("64MB", None).unwrap(), 64_000_000);
        assert_eq!(with("1.5 GiB", None).unwrap(), 3 << 29);
        assert_eq!(with("2kib", None).unwrap(), 2048);
        for bad in ["", "lots", "-1", "101%", "5 parsecs", "%"] {
            let err = with(bad, Some("1000")).unwrap_err();
            assert!(
                err.to_string().contains(MEMORY_BUDGET_SETTING),
                "{bad}: {err}"
            );
        }
        assert!(with("10%", Some("a lot")).is_err());
    }
}
