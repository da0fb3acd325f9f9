//! The build time recorded in images: `SOURCE_DATE_EPOCH` when set (the
//! reproducible-builds convention), else the Unix epoch, so that two builds of
//! the same sources are byte-identical.

use anyhow::{Context, bail};

/// A time in whole seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Reads `SOURCE_DATE_EPOCH`; the Unix epoch when it is unset or empty.
    pub fn from_env() -> anyhow::Result<Timestamp> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(text) if !text.trim().is_empty() => Timestamp::parse(&text),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Timestamp(0)),
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!(
                    "SOURCE_DATE_EPOCH is not valid UTF-8: set it to seconds since the Unix epoch"
                )
            }
        }
    }

    fn parse(text: &str) -> anyhow::Result<Timestamp> {
        text.trim().parse().map(Timestamp).with_context(|| {
            format!("SOURCE_DATE_EPOCH {text:?} is invalid: set it to seconds since the Unix epoch, e.g. from `git log -1 --format=%ct`")
        })
    }

    /// Formats the time as RFC 3339 in UTC, e.g. `2023-11-14T22:13:20Z`.
    pub fn rfc3339(self) -> String {
        let days = self.0 / 86_400;
        let seconds_of_day = self.0 % 86_400;
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            seconds_of_day / 3600,
            seconds_of_day % 3600 / 60,
            seconds_of_day % 60
        )
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date, by Howard
/// Hinnant's `civil_from_days` algorithm, limited to dates after 1970.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        let cases = [
            (0, "1970-01-01T00:00:00Z", "the Unix epoch"),
            (
                951_782_400,
                "2000-02-29T00:00:00Z",
                "leap day of a year divisible by 400",
            ),
            (1_700_000_000, "2023-11-14T22:13:20Z", "an ordinary time"),
            (
                1_709_251_199,
                "2024-02-29T23:59:59Z",
                "last second of a leap day",
            ),
            (
                4_107_542_400,
                "2100-03-01T00:00:00Z",
                "2100 is no leap year",
            ),
        ];
        for (seconds, expected, reason) in cases {
            assert_eq!(Timestamp(seconds).rfc3339(), expected, "{reason}");
        }
    }

    #[test]
    fn parse_rejects_non_numbers() {
        assert_eq!(
            Timestamp::parse(" 1700000000\n").unwrap(),
            Timestamp(1_700_000_000)
        );
        assert_eq!(
            Timestamp::parse("yesterday").unwrap_err().to_string(),
            "SOURCE_DATE_EPOCH \"yesterday\" is invalid: set it to seconds since the Unix epoch, e.g. from `git log -1 --format=%ct`"
        );
    }
}
