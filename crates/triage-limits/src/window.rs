//! The windows limits are counted in: the UTC minute for rates, the UTC day and calendar month
//! for budgets; their names in store keys and when each starts again.

use std::time::Duration;

use time::{Date, Month, OffsetDateTime, Time};

/// A budget's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetWindow {
    /// The UTC day.
    Day,
    /// The UTC calendar month.
    Month,
}

impl std::fmt::Display for BudgetWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BudgetWindow::Day => "daily",
            BudgetWindow::Month => "monthly",
        })
    }
}

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKind {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
}

impl RateKind {
    /// `requests` or `tokens`.
    pub fn as_str(self) -> &'static str {
        match self {
            RateKind::Requests => "requests",
            RateKind::Tokens => "tokens",
        }
    }
}

impl std::fmt::Display for RateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The windows one moment falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Windows {
    now: OffsetDateTime,
}

/// How long a store keeps a window's counter: past its end, with room for a late settlement.
pub(crate) const MINUTE_TTL: Duration = Duration::from_secs(120);
pub(crate) const DAY_TTL: Duration = Duration::from_secs(2 * 86_400);
pub(crate) const MONTH_TTL: Duration = Duration::from_secs(33 * 86_400);

impl Windows {
    pub(crate) fn at(now: OffsetDateTime) -> Windows {
        Windows {
            now: now.to_offset(time::UtcOffset::UTC),
        }
    }

    /// The store key of one window of one client key.
    pub(crate) fn key(&self, prefix: &str, client: &str, window: &str) -> String {
        let label = match window {
            "rpm" | "tpm" => (self.now.unix_timestamp().div_euclid(60)).to_string(),
            "day" => self.now.date().to_string(),
            _ => format!("{}-{:02}", self.now.year(), u8::from(self.now.month())),
        };
        format!("{prefix}:limits:{client}:{window}:{label}")
    }

    /// Seconds until the next minute starts (at least 1).
    pub(crate) fn seconds_to_next_minute(&self) -> u64 {
        (60 - self.now.second() as u64).max(1)
    }

    /// When a budget window starts again.
    pub(crate) fn reset(&self, window: BudgetWindow) -> OffsetDateTime {
        let today = self.now.date();
        let next = match window {
            BudgetWindow::Day => today.next_day().unwrap_or(today),
            BudgetWindow::Month => {
                let (year, month) = match today.month() {
                    Month::December => (today.year() + 1, Month::January),
                    month => (today.year(), month.next()),
                };
                Date::from_calendar_date(year, month, 1).unwrap_or(today)
            }
        };
        next.with_time(Time::MIDNIGHT).assume_utc()
    }

    /// Seconds until a budget window starts again (at least 1).
    pub(crate) fn seconds_to(&self, at: OffsetDateTime) -> u64 {
        u64::try_from((at - self.now).whole_seconds())
            .unwrap_or(0)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn windows_and_resets_are_utc() {
        let cases = [
            (
                datetime!(2026-12-31 23:59:30 UTC),
                "p:limits:k:day:2026-12-31",
                "p:limits:k:month:2026-12",
                datetime!(2027-01-01 00:00 UTC),
                datetime!(2027-01-01 00:00 UTC),
                30,
            ),
            (
                datetime!(2026-03-01 01:30:00 +02:00),
                "p:limits:k:day:2026-02-28",
                "p:limits:k:month:2026-02",
                datetime!(2026-03-01 00:00 UTC),
                datetime!(2026-03-01 00:00 UTC),
                60,
            ),
        ];
        for (now, day, month, day_reset, month_reset, to_minute) in cases {
            let windows = Windows::at(now);
            assert_eq!(windows.key("p", "k", "day"), day);
            assert_eq!(windows.key("p", "k", "month"), month);
            assert_eq!(windows.reset(BudgetWindow::Day), day_reset);
            assert_eq!(windows.reset(BudgetWindow::Month), month_reset);
            assert_eq!(windows.seconds_to_next_minute(), to_minute);
        }
        let minute = Windows::at(datetime!(2026-12-02 10:00:59 UTC)).key("p", "k", "rpm");
        let next = Windows::at(datetime!(2026-12-02 10:01:00 UTC)).key("p", "k", "rpm");
        assert_ne!(minute, next);
    }
}
