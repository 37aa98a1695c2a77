//! A rebuild's progress on the terminal: one line redrawn in place (events
//! done, rate, time left) when stderr is a terminal; otherwise plain lines,
//! at most one every few seconds, that a log file keeps readable.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use comics_projections::rebuild::{Progress, Report};

/// How often a line is written: redrawn on a terminal, appended otherwise.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Meter {
    terminal: bool,
    started: Instant,
    last: Mutex<Option<Instant>>,
}

impl Meter {
    pub fn for_stderr() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: Mutex::new(None),
        }
    }

    fn line(&self, p: Progress) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            p.done as f64 / secs
        } else {
            0.0
        };
        let left = match (rate > 0.0, p.total > p.done) {
            (true, true) => format!(", {:.0} s left", (p.total - p.done) as f64 / rate),
            _ => String::new(),
        };
        format!(
            "{}: {}/{} events ({:.0}%), {:.0} events/s{left}",
            p.name,
            p.done,
            p.total,
            if p.total == 0 {
                100.0
            } else {
                p.done as f64 * 100.0 / p.total as f64
            },
            rate
        )
    }
}

impl Report for Meter {
    fn progress(&self, p: Progress) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let every = if self.terminal {
            REDRAW_EVERY
        } else {
            LINE_EVERY
        };
        let finished = p.done >= p.total;
        if !finished && last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        *last = Some(Instant::now());
        let line = self.line(p);
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            // Redraw in place; the last one stays.
            write!(err, "\r\x1b[2K{line}{}", if finished { "\n" } else { "" })
        } else {
            writeln!(err, "{line}")
        };
    }
}
