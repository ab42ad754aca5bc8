//! A progress bar on the terminal (hidden when stderr is not one).

use ctparquet::Progress;
use ctparquet::summary::DayReport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(visible: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files ({per_sec}, eta {eta}) {msg}",
            )
            .expect("valid template"),
        );
        Bar { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn files_listed(&self, files: u64) {
        self.bar.set_length(files);
    }

    fn file_done(&self, _bytes: u64) {
        self.bar.inc(1);
    }

    fn day_written(&self, day: &DayReport) {
        self.bar
            .set_message(format!("wrote {} {} {}", day.account, day.region, day.date));
    }
}
