//! What a run covers: which days of which trails of which table, and how late their events may
//! be delivered. One type, validated once where it is made, used by `convert`, `verify`, the
//! job planner, the Lambda and the command line alike; every rule about a day's window of
//! delivery folders is a method here, so they cannot drift apart.

use std::ops::RangeInclusive;

use chrono::{Days, NaiveDate};

use crate::schema::{EVENTS, Table};
use crate::summary::OutsideReason;

/// Date folders after a day read for its late events, by default (CloudTrail delivers most events
/// within minutes; those of a day's last minutes land in the next day's folder).
pub const DEFAULT_LATENESS_DAYS: u32 = 1;

/// The days, trails and table of a run. The days are fixed when it is made (`from <= to`); the
/// rest may be changed freely.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    from: NaiveDate,
    to: NaiveDate,
    /// Date folders after a day that are read for its late events: day D is made from the
    /// folders D ..= D + lateness, whatever else a run converts.
    pub lateness_days: u32,
    /// Only these accounts (all when `None`; none when empty).
    pub accounts: Option<Vec<String>>,
    /// Only these regions (all when `None`; none when empty).
    pub regions: Option<Vec<String>>,
    /// The table: events (the default), insights or aggregated events.
    pub table: &'static Table,
}

/// Why a scope cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the range starts ({from}) after it ends ({to})")]
    Backwards { from: NaiveDate, to: NaiveDate },
}

impl Scope {
    /// The days `from ..= to` of every trail of the events table, with the default lateness.
    pub fn days(from: NaiveDate, to: NaiveDate) -> Result<Scope, ScopeError> {
        if from > to {
            return Err(ScopeError::Backwards { from, to });
        }
        Ok(Scope {
            from,
            to,
            lateness_days: DEFAULT_LATENESS_DAYS,
            accounts: None,
            regions: None,
            table: &EVENTS,
        })
    }

    /// One day of every trail of the events table, with the default lateness.
    pub fn day(date: NaiveDate) -> Scope {
        Scope::days(date, date).expect("a day is a range")
    }

    /// First day.
    pub fn from(&self) -> NaiveDate {
        self.from
    }

    /// Last day, inclusive.
    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// The days, in order.
    pub fn each_day(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let to = self.to;
        self.from.iter_days().take_while(move |d| *d <= to)
    }

    /// How many days.
    pub fn day_count(&self) -> u64 {
        (self.to - self.from).num_days() as u64 + 1
    }

    /// Whether `day` is one of the days.
    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.from..=self.to).contains(&day)
    }

    /// The date folders day `day` is made from: `day ..= day + lateness`.
    pub fn window(&self, day: NaiveDate) -> RangeInclusive<NaiveDate> {
        day..=plus_days(day, self.lateness_days)
    }

    /// Every date folder the run reads: the first day's to the last day's last late folder.
    pub fn folders(&self) -> RangeInclusive<NaiveDate> {
        self.from..=*self.window(self.to).end()
    }

    /// The days whose windows hold the folder of `folder`: `folder - lateness ..= folder` (what a
    /// bad file in that folder may hold events of).
    pub fn days_fed_by(&self, folder: NaiveDate) -> RangeInclusive<NaiveDate> {
        let first = folder
            .checked_sub_days(Days::new(self.lateness_days.into()))
            .unwrap_or(NaiveDate::MIN);
        first..=folder
    }

    /// The last day whose folders have all been read once the folders up to `folder` have (they
    /// are read in date order), if any.
    pub fn complete_through(&self, folder: NaiveDate) -> Option<NaiveDate> {
        folder.checked_sub_days(Days::new(self.lateness_days.into()))
    }

    /// Why an event of `day` found in the folder of `folder` is not written by this run, or
    /// `None` when it is: the folder must be in its day's window, and its day one of the run's.
    pub fn outside_reason(&self, day: NaiveDate, folder: NaiveDate) -> Option<OutsideReason> {
        if folder < day {
            // Clock skew: no run of its day reads this folder.
            Some(OutsideReason::DeliveredBeforeEventTime)
        } else if folder > *self.window(day).end() {
            Some(OutsideReason::BeyondLateness)
        } else if !self.contains(day) {
            Some(OutsideReason::DayNotRequested)
        } else {
            None
        }
    }

    /// This scope with other days (everything else kept).
    pub fn with_days(&self, from: NaiveDate, to: NaiveDate) -> Result<Scope, ScopeError> {
        let days = Scope::days(from, to)?;
        Ok(Scope {
            from: days.from,
            to: days.to,
            ..self.clone()
        })
    }

    /// This scope narrowed to the accounts and regions asked for (`None`: no narrowing). Both
    /// lists apply: a trail must be in each one given.
    pub fn narrowed(&self, accounts: Option<&[String]>, regions: Option<&[String]>) -> Scope {
        Scope {
            accounts: narrow(self.accounts.as_deref(), accounts),
            regions: narrow(self.regions.as_deref(), regions),
            ..self.clone()
        }
    }

    /// The days `from ..= to` of one trail of this scope (a unit of a job); a `to` before
    /// `from` is taken as `from`.
    pub fn unit(&self, from: NaiveDate, to: NaiveDate, account: &str, region: &str) -> Scope {
        Scope {
            from,
            to: to.max(from),
            accounts: Some(vec![account.to_owned()]),
            regions: Some(vec![region.to_owned()]),
            ..self.clone()
        }
    }

    /// Whether an allow-list is empty, so that no trail can be in the scope.
    pub fn excludes_every_trail(&self) -> bool {
        self.accounts.as_ref().is_some_and(Vec::is_empty)
            || self.regions.as_ref().is_some_and(Vec::is_empty)
    }
}

/// `day + days`, or the last date there is.
fn plus_days(day: NaiveDate, days: u32) -> NaiveDate {
    day.checked_add_days(Days::new(days.into()))
        .unwrap_or(NaiveDate::MAX)
}

fn narrow(configured: Option<&[String]>, asked: Option<&[String]>) -> Option<Vec<String>> {
    match (configured, asked) {
        (None, None) => None,
        (Some(c), None) => Some(c.to_vec()),
        (None, Some(a)) => Some(a.to_vec()),
        (Some(c), Some(a)) => Some(a.iter().filter(|x| c.contains(x)).cloned().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_backwards_range_is_refused_naming_both_ends() {
        let err = Scope::days(date("2026-01-05"), date("2026-01-04")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the range starts (2026-01-05) after it ends (2026-01-04)"
        );
    }

    #[test]
    fn a_day_reads_its_folder_and_the_next_lateness_ones() {
        let mut scope = Scope::days(date("2026-01-04"), date("2026-01-05")).unwrap();
        assert_eq!(scope.folders(), date("2026-01-04")..=date("2026-01-06"));
        assert_eq!(
            scope.window(date("2026-01-04")),
            date("2026-01-04")..=date("2026-01-05")
        );
        assert_eq!(
            scope.days_fed_by(date("2026-01-06")),
            date("2026-01-05")..=date("2026-01-06")
        );
        assert_eq!(
            scope.complete_through(date("2026-01-06")),
            Some(date("2026-01-05"))
        );
        scope.lateness_days = 0;
        assert_eq!(scope.folders(), date("2026-01-04")..=date("2026-01-05"));
        assert_eq!(scope.each_day().count(), 2);
        assert_eq!(scope.day_count(), 2);
    }

    #[test]
    fn every_event_outside_has_one_reason() {
        let mut scope = Scope::day(date("2026-01-04"));
        let reason = |scope: &Scope, day, folder| scope.outside_reason(date(day), date(folder));
        assert_eq!(reason(&scope, "2026-01-04", "2026-01-04"), None);
        assert_eq!(reason(&scope, "2026-01-04", "2026-01-05"), None);
        assert_eq!(
            reason(&scope, "2026-01-04", "2026-01-06"),
            Some(OutsideReason::BeyondLateness)
        );
        assert_eq!(
            reason(&scope, "2026-01-05", "2026-01-04"),
            Some(OutsideReason::DeliveredBeforeEventTime)
        );
        assert_eq!(
            reason(&scope, "2026-01-03", "2026-01-04"),
            Some(OutsideReason::DayNotRequested)
        );
        // A day past the end of a month reads the next month's first folders.
        scope = Scope::day(date("2026-01-31"));
        scope.lateness_days = 2;
        assert_eq!(reason(&scope, "2026-01-31", "2026-02-02"), None);
        assert_eq!(
            reason(&scope, "2026-01-31", "2026-02-03"),
            Some(OutsideReason::BeyondLateness)
        );
    }

    #[test]
    fn allow_lists_narrow_what_a_job_asks_for() {
        let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut scope = Scope::day(date("2026-01-04"));
        scope.accounts = Some(list(&["a", "b"]));
        let asked = list(&["b", "z"]);
        assert_eq!(
            scope.narrowed(Some(&asked), None).accounts,
            Some(list(&["b"]))
        );
        assert_eq!(scope.narrowed(None, None), scope);
        scope.accounts = None;
        assert_eq!(scope.narrowed(Some(&asked), None).accounts, Some(asked));
        let none = scope.narrowed(Some(&[]), None);
        assert!(none.excludes_every_trail());
        let unit = scope.unit(
            date("2026-01-05"),
            date("2026-01-05"),
            "111111111111",
            "us-east-1",
        );
        assert_eq!(
            (unit.from(), unit.to()),
            (date("2026-01-05"), date("2026-01-05"))
        );
        assert_eq!(unit.regions, Some(list(&["us-east-1"])));
    }
}
