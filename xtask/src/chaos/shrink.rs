//! Cutting a failing run down: the same seed run again with less (a shorter run, fewer
//! clients, no kills, fewer processes, the rescan rare), keeping each reduction after which the
//! run still fails, until none does or the attempts are spent.
//!
//! The processes' timing is not replayable, so this is no delta debugging of the operation log:
//! a reduction that no longer fails may only have missed the window. What it gives is the
//! smallest configuration seen to fail, whose histories are short enough to read.

use std::time::Duration;

use super::Options;

/// The rescan interval that stands for "rare" (the servers' default).
const RARE_RESCAN_SECS: u64 = 300;

/// The next smaller runs to try after `options` failed with its first anomaly at `first_at`,
/// most promising first: each differs from `options` in one respect.
pub fn smaller(options: &Options, first_at: Duration) -> Vec<Options> {
    let mut out = Vec::new();
    // Two seconds past the first anomaly: what came after it cannot have caused it.
    let until = first_at.as_secs() + 2;
    if until < options.seconds {
        out.push(Options { seconds: until, ..options.clone() });
    }
    if options.clients > 1 {
        out.push(Options { clients: options.clients / 2, ..options.clone() });
    }
    if options.kill_every_secs > 0.0 {
        out.push(Options { kill_every_secs: 0.0, ..options.clone() });
    }
    if options.processes > 1 {
        out.push(Options { processes: options.processes - 1, ..options.clone() });
    }
    if options.rescan_secs < RARE_RESCAN_SECS {
        out.push(Options { rescan_secs: RARE_RESCAN_SECS, ..options.clone() });
    }
    out
}

/// Cuts `failed` down with at most `attempts` runs of `rerun`, which answers when a run's first
/// anomaly came (`None`: it found none). Answers the smallest failing options, when their
/// first anomaly came, and how many runs it took.
pub fn shrink(
    failed: &Options,
    first_at: Duration,
    attempts: u32,
    mut rerun: impl FnMut(&Options) -> Option<Duration>,
) -> (Options, Duration, u32) {
    let (mut best, mut best_at, mut runs) = (failed.clone(), first_at, 0);
    'reduce: while runs < attempts {
        for candidate in smaller(&best, best_at) {
            if runs == attempts {
                break 'reduce;
            }
            runs += 1;
            if let Some(at) = rerun(&candidate) {
                (best, best_at) = (candidate, at);
                continue 'reduce;
            }
        }
        break;
    }
    (best, best_at, runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::Setup;

    fn options() -> Options {
        Options {
            seconds: 90,
            seed: 7,
            setup: Setup::PgS3,
            processes: 3,
            clients: 8,
            kill_every_secs: 6.0,
            rescan_secs: 2,
            postgres_restarts: 1,
            release: false,
            binary: None,
            shrink: 12,
        }
    }

    #[test]
    fn each_candidate_is_smaller_in_one_respect() {
        let all = smaller(&options(), Duration::from_millis(30_500));
        let described: Vec<_> =
            all.iter().map(|o| (o.seconds, o.clients, o.kill_every_secs, o.processes, o.rescan_secs)).collect();
        assert_eq!(
            described,
            [(32, 8, 6.0, 3, 2), (90, 4, 6.0, 3, 2), (90, 8, 0.0, 3, 2), (90, 8, 6.0, 2, 2), (90, 8, 6.0, 3, 300)]
        );
        let least =
            Options { seconds: 5, clients: 1, kill_every_secs: 0.0, processes: 1, rescan_secs: 300, ..options() };
        assert!(smaller(&least, Duration::from_secs(4)).is_empty(), "nothing left to cut");
    }

    /// A bug that needs two clients, two processes and kills, and shows within 10 s: cut down
    /// to exactly that, the rescan made rare and the run shortened on the way.
    #[test]
    fn shrinking_keeps_what_still_fails_and_drops_the_rest() {
        let fails = |o: &Options| {
            (o.clients >= 2 && o.processes >= 2 && o.kill_every_secs > 0.0 && o.seconds >= 10)
                .then_some(Duration::from_secs(8))
        };
        let (best, at, runs) = shrink(&options(), Duration::from_secs(60), 50, fails);
        assert_eq!(
            (best.seconds, best.clients, best.kill_every_secs, best.processes, best.rescan_secs, best.seed),
            (10, 2, 6.0, 2, 300, 7)
        );
        assert_eq!(at, Duration::from_secs(8));
        assert!(runs < 50, "stops once no reduction fails: {runs} runs");
        let (_, _, runs) = shrink(&options(), Duration::from_secs(60), 3, fails);
        assert_eq!(runs, 3, "the attempts bound the runs");
        let (best, _, runs) = shrink(&options(), Duration::from_secs(60), 0, fails);
        assert_eq!((best.clients, runs), (8, 0), "no attempts: the failing run as it was");
    }
}
