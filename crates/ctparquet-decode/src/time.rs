//! eventTime parsing and the day arithmetic of partitions.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};

const MS_PER_DAY: i64 = 86_400_000;

/// How an eventTime string was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedTime {
    /// `YYYY-MM-DDTHH:MM:SS[.fff]Z` exactly as [`format_event_time`] writes it back.
    Canonical(i64),
    /// Another unambiguous UTC form (offsets, a space for `T`, more fraction digits): the instant
    /// is known but the text is not what [`format_event_time`] writes, so it must be kept.
    Lenient(i64),
}

impl ParsedTime {
    pub fn millis(self) -> i64 {
        match self {
            ParsedTime::Canonical(ms) | ParsedTime::Lenient(ms) => ms,
        }
    }
}

/// Read an eventTime. `None` when it names no instant ("...", "redacted", empty).
pub fn parse_event_time(text: &str) -> Option<ParsedTime> {
    if let Some(ms) = parse_canonical(text.as_bytes()) {
        return Some(ParsedTime::Canonical(ms));
    }
    let ms = if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        dt.timestamp_millis()
    } else {
        // Forms without a zone, as some pipelines rewrite eventTime: UTC is CloudTrail's zone.
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())?
            .and_utc()
            .timestamp_millis()
    };
    Some(ParsedTime::Lenient(ms))
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.fffZ` with a non-zero fraction.
fn parse_canonical(b: &[u8]) -> Option<i64> {
    let frac = match b.len() {
        20 => 0,
        24 if b[19] == b'.' => {
            let ms = digits(&b[20..23])?;
            if ms == 0 {
                return None; // ".000" is not how we write it back
            }
            ms
        }
        _ => return None,
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if *b.last()? != b'Z' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )?;
    let dt = date.and_hms_milli_opt(
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
        frac,
    )?;
    Some(dt.and_utc().timestamp_millis())
}

/// The text an eventTime column value rebuilds to.
pub fn format_event_time(ms: i64) -> String {
    let Some(dt) = Utc.timestamp_millis_opt(ms).single() else {
        return ms.to_string();
    };
    if ms.rem_euclid(1000) == 0 {
        dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// The UTC day an instant falls on.
pub fn day_of_millis(ms: i64) -> NaiveDate {
    let days = ms.div_euclid(MS_PER_DAY);
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).unwrap_or(if days < 0 {
        1
    } else {
        i32::MAX / 2
    }))
    .unwrap_or(NaiveDate::MAX)
}

/// Zero-padded partition values of a day.
pub fn day_partition(day: NaiveDate) -> (String, String, String) {
    (
        format!("{:04}", day.year()),
        format!("{:02}", day.month()),
        format!("{:02}", day.day()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_times_round_trip() {
        for text in ["2024-01-05T11:28:55Z", "2024-12-31T23:59:59.123Z"] {
            let parsed = parse_event_time(text).unwrap();
            assert!(matches!(parsed, ParsedTime::Canonical(_)), "{text}");
            assert_eq!(format_event_time(parsed.millis()), text);
        }
    }

    #[test]
    fn lenient_forms_name_the_same_instant() {
        let want = parse_event_time("2022-12-11T19:42:55Z").unwrap().millis();
        for text in [
            "2022-12-11 19:42:55",
            "2022-12-11 19:42:55.000000000",
            "2022-12-11T19:42:55.000Z",
            "2022-12-11T20:42:55+01:00",
        ] {
            assert_eq!(
                parse_event_time(text),
                Some(ParsedTime::Lenient(want)),
                "{text}"
            );
        }
    }

    #[test]
    fn placeholders_are_not_times() {
        for text in ["...", "redacted", "", "eventTime", "2024-13-01T00:00:00Z"] {
            assert_eq!(parse_event_time(text), None, "{text}");
        }
    }

    #[test]
    fn days_split_at_utc_midnight() {
        let ms = parse_event_time("2025-12-31T23:59:59.999Z")
            .unwrap()
            .millis();
        assert_eq!(
            day_of_millis(ms),
            NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
        );
        assert_eq!(
            day_of_millis(ms + 1),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        );
        assert_eq!(
            day_of_millis(-1),
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()
        );
    }
}
