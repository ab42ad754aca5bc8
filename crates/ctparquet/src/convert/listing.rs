//! The listing stage: the trails of the scope found under the source, and the delivery files of
//! every date folder each trail's days read, listed before anything is read (cheap, and it gives
//! progress a total).

use chrono::NaiveDate;
use object_store::ObjectMeta;

use super::ConvertError;
use crate::scope::Scope;
use crate::source::{self, Trail};
use crate::store::Location;
use crate::summary::Summary;

/// The delivery files of one date folder of a trail.
pub(super) struct Folder {
    pub date: NaiveDate,
    pub files: Vec<ObjectMeta>,
}

/// What a conversion will read: for each trail, its date folders in date order.
pub(super) struct Listing {
    pub trails: Vec<(Trail, Vec<Folder>)>,
    /// Delivery files in all of them.
    pub files: u64,
}

/// List what `scope` reads under `source`. What the listing skipped or could not match is noted
/// in `summary` (warnings, skipped folders, ignored objects, files that are not regular); a
/// source with no trail of the scope is an error that says what it holds instead.
pub(super) async fn list(
    source: &Location,
    scope: &Scope,
    summary: &mut Summary,
) -> Result<Listing, ConvertError> {
    let discovery = source::discover(
        source,
        scope.table.folders,
        scope.accounts.as_deref(),
        scope.regions.as_deref(),
    )
    .await?;
    if discovery.trails.is_empty() {
        let why = source::explain_no_trail(source, &discovery, scope.table.folders).await?;
        return Err(ConvertError::NoTrail(why));
    }
    summary.warnings = discovery.unmatched(scope.accounts.as_deref(), scope.regions.as_deref());
    for warning in &summary.warnings {
        tracing::warn!("{warning}");
    }
    summary.skipped_folders = discovery.skipped_folders;
    let mut listing = Listing {
        trails: Vec::with_capacity(discovery.trails.len()),
        files: 0,
    };
    for trail in discovery.trails {
        let mut folders = Vec::new();
        for date in source::dates_to_list(source, &trail, scope.folders()).await? {
            let found = source::list_folder(source, &trail, date).await?;
            summary.ignored_objects += found.ignored.len() as u64;
            for name in &found.not_regular {
                tracing::warn!(
                    "{name}: not a regular file (a FIFO, socket, device or broken link): skipped, never opened"
                );
            }
            summary
                .not_regular_files
                .extend(found.not_regular.iter().cloned());
            listing.files += found.files.len() as u64;
            folders.push(Folder {
                date,
                files: found.files,
            });
        }
        listing.trails.push((trail, folders));
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn a_day_lists_its_folder_and_the_next_and_counts_what_is_not_a_delivery() {
        let work = tempfile::tempdir().unwrap();
        let trail = work
            .path()
            .join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01");
        for (day, name) in [
            (
                "04",
                "111122223333_CloudTrail_us-east-1_20260104T0000Z_a.json.gz",
            ),
            (
                "05",
                "111122223333_CloudTrail_us-east-1_20260105T0000Z_b.json.gz",
            ),
            ("05", "notes.txt"),
            (
                "06",
                "111122223333_CloudTrail_us-east-1_20260106T0000Z_c.json.gz",
            ),
        ] {
            std::fs::create_dir_all(trail.join(day)).unwrap();
            std::fs::write(trail.join(day).join(name), b"x").unwrap();
        }
        let source = Location::local(work.path().to_str().unwrap(), false).unwrap();
        let mut summary = Summary::default();
        let scope = Scope::day(date("2026-01-04"));
        let listing = list(&source, &scope, &mut summary).await.unwrap();
        assert_eq!(listing.trails.len(), 1);
        let (found, folders) = &listing.trails[0];
        assert_eq!(
            (found.account.as_str(), found.region.as_str()),
            ("111122223333", "us-east-1")
        );
        let dates: Vec<_> = folders.iter().map(|f| f.date).collect();
        assert_eq!(dates, [date("2026-01-04"), date("2026-01-05")]);
        assert_eq!(listing.files, 2);
        assert_eq!(summary.ignored_objects, 1);
    }

    #[tokio::test]
    async fn a_source_without_the_scope_s_trails_says_what_it_holds() {
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(work.path().join("logs")).unwrap();
        let source = Location::local(work.path().to_str().unwrap(), false).unwrap();
        let scope = Scope::day(date("2026-01-04"));
        let err = list(&source, &scope, &mut Summary::default())
            .await
            .err()
            .expect("no trail");
        assert!(matches!(err, ConvertError::NoTrail(_)), "{err}");
    }
}
