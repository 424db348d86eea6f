//! Rate-limited logging for events a remote party can repeat at will
//! (refused connections, refused peers): the first one is logged at once,
//! the rest are counted and summarised in at most one line per window, so
//! a flood of 1,200 refused dials costs a few lines, not 264 KB of log.

use std::time::{Duration, Instant};

/// Default window between two lines about the same kind of event.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Counts repeats of one kind of event and lets one log line through per
/// window.
#[derive(Debug)]
pub struct Summary {
    window: Duration,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl Summary {
    /// A summary with the default [`WINDOW`].
    pub fn new() -> Summary {
        Summary::with_window(WINDOW)
    }

    /// A summary with its own window.
    pub fn with_window(window: Duration) -> Summary {
        Summary {
            window,
            last_logged: None,
            suppressed: 0,
        }
    }

    /// Records one event at `now`. Calls `log` with the number of events
    /// since the last line (this one included) when a line is due.
    pub fn record_at(&mut self, now: Instant, log: impl FnOnce(u64)) {
        match self.last_logged {
            Some(t) if now.saturating_duration_since(t) < self.window => self.suppressed += 1,
            _ => {
                log(self.suppressed + 1);
                self.suppressed = 0;
                self.last_logged = Some(now);
            }
        }
    }

    /// [`Summary::record_at`] now.
    pub fn record(&mut self, log: impl FnOnce(u64)) {
        self.record_at(Instant::now(), log)
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1,200 events in two windows make three lines whose counts add up.
    #[test]
    fn repeats_are_counted_not_logged() {
        let mut s = Summary::with_window(Duration::from_secs(60));
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for i in 0..1200u64 {
            // 10 per second: two minutes.
            let now = t0 + Duration::from_millis(i * 100);
            s.record_at(now, |n| lines.push(n));
        }
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], 1);
        s.record_at(t0 + Duration::from_secs(181), |n| lines.push(n));
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.iter().sum::<u64>(), 1201);
    }
}
