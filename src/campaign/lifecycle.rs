//! A worker's life as the master sees it — running, restarting after a back-off, finished,
//! or given up on — as a pure state transition: the master feeds in what happened (the
//! process exited, a restart came due, the heartbeat stopped) and carries out the decision.
//! No processes, no clocks read here, so every rule has a unit test.

use std::time::{Duration, Instant};

/// A death this soon after start counts towards giving up on the worker.
pub const QUICK_DEATH: Duration = Duration::from_secs(30);
/// Quick deaths in a row after which a worker is left dead.
pub const MAX_QUICK_DEATHS: u32 = 5;

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet: the master starts a few workers per tick, so a large `-j` neither
    /// hides the campaign's progress nor outlasts its time bound while starting.
    Pending,
    /// Its process runs.
    Running,
    /// It died; restart it at this instant.
    Restarting(Instant),
    /// Ended: its budget is spent or the campaign is stopping.
    Finished,
    /// It kept dying right after start; left dead.
    GaveUp,
}

/// The part of a worker's state the rules look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Life {
    /// Current phase.
    pub phase: Phase,
    /// When its current process started.
    pub started: Instant,
    /// Restarts so far in this campaign.
    pub restarts: u32,
    /// Deaths in a row within [`QUICK_DEATH`] of starting.
    pub quick_deaths: u32,
    /// The master killed it for a missing heartbeat.
    pub killed_silent: bool,
}

impl Life {
    /// A worker just spawned at `now`.
    pub fn new(now: Instant) -> Life {
        Life { phase: Phase::Running, started: now, restarts: 0, quick_deaths: 0, killed_silent: false }
    }

    /// A worker to be started when the master gets to it.
    pub fn pending(now: Instant) -> Life {
        Life { phase: Phase::Pending, ..Life::new(now) }
    }

    /// Whether nothing more will happen to it.
    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Finished | Phase::GaveUp)
    }
}

/// How a worker process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessEnd {
    /// Exit status 0.
    pub success: bool,
    /// It was killed with SIGKILL (by the master, or the system's OOM killer).
    pub sigkilled: bool,
    /// It exited with the harness's setup-error code.
    pub setup_error: bool,
    /// It created its stats file (the runtime started) at some point.
    pub reported: bool,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Its process ended.
    Exited(ProcessEnd),
    /// A poll while it waits to restart.
    Waiting,
    /// It says it runs, but has been silent past twice the heartbeat grace.
    Silent,
}

/// The campaign's circumstances at the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Circumstances {
    /// Now.
    pub now: Instant,
    /// The campaign is stopping.
    pub stopping: bool,
    /// The worker ran its share of `--runs`.
    pub budget_spent: bool,
}

/// Why the harness cannot be run at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fatal {
    /// It said its setup failed (its message is in the log).
    SetupError,
    /// It exited before the protocrash runtime started: not a protocrash harness.
    NotAHarness,
}

/// What the master must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing.
    Nothing,
    /// Start its process again now.
    Spawn,
    /// Kill its process (it will come back as `Exited`).
    Kill,
    /// It has ended; `unexpected` when it ended badly on its own after its last run.
    Finished {
        /// It exited with an error while nobody asked it to stop.
        unexpected: bool,
    },
    /// It died; restart it after `delay`.
    Restart {
        /// Back-off before the restart.
        delay: Duration,
    },
    /// It died too often right after start; leave it stopped.
    GiveUp,
    /// The campaign cannot go on.
    Fatal(Fatal),
}

/// Applies `event` to `life` and says what to do.
pub fn step(life: &mut Life, event: Event, at: Circumstances) -> Decision {
    match event {
        Event::Waiting => match life.phase {
            Phase::Restarting(_) | Phase::Pending if at.stopping || at.budget_spent => {
                life.phase = Phase::Finished;
                Decision::Finished { unexpected: false }
            }
            Phase::Pending => {
                life.phase = Phase::Running;
                life.started = at.now;
                Decision::Spawn
            }
            Phase::Restarting(when) if at.now >= when => {
                life.phase = Phase::Running;
                life.started = at.now;
                life.killed_silent = false;
                Decision::Spawn
            }
            _ => Decision::Nothing,
        },
        Event::Silent if life.phase == Phase::Running && !life.killed_silent => {
            life.killed_silent = true;
            Decision::Kill
        }
        Event::Silent => Decision::Nothing,
        Event::Exited(end) => exited(life, end, at),
    }
}

fn exited(life: &mut Life, end: ProcessEnd, at: Circumstances) -> Decision {
    if end.success || at.stopping || at.budget_spent {
        life.phase = Phase::Finished;
        let unexpected = !end.success && !at.stopping && !life.killed_silent && !end.sigkilled;
        return Decision::Finished { unexpected };
    }
    if end.setup_error {
        // The runtime says the set-up cannot work (bad limits, unwritable files): a restart
        // would fail the same way.
        life.phase = Phase::Finished;
        return Decision::Fatal(Fatal::SetupError);
    }
    if !end.reported && life.restarts == 0 && !end.sigkilled {
        // It never got as far as its stats file: a broken harness, not a bad input. (One
        // killed by SIGKILL before it got there was killed: by the system's OOM killer, or
        // starved of memory by too many workers; that is a death like any other.)
        life.phase = Phase::Finished;
        return Decision::Fatal(Fatal::NotAHarness);
    }
    life.restarts += 1;
    let quick = at.now.saturating_duration_since(life.started) < QUICK_DEATH;
    life.quick_deaths = if quick { life.quick_deaths + 1 } else { 0 };
    if life.quick_deaths >= MAX_QUICK_DEATHS {
        life.phase = Phase::GaveUp;
        return Decision::GiveUp;
    }
    // Back off when it dies young: 1 s, 2 s, 4 s …
    let delay = if life.quick_deaths > 0 { Duration::from_secs(1 << (life.quick_deaths - 1)) } else { Duration::ZERO };
    life.phase = Phase::Restarting(at.now + delay);
    Decision::Restart { delay }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIED: ProcessEnd = ProcessEnd { success: false, sigkilled: false, setup_error: false, reported: true };

    fn at(now: Instant) -> Circumstances {
        Circumstances { now, stopping: false, budget_spent: false }
    }

    #[test]
    fn a_pending_worker_starts_unless_the_campaign_is_stopping() {
        let t = Instant::now();
        let mut life = Life::pending(t);
        assert_eq!(step(&mut life, Event::Waiting, at(t)), Decision::Spawn);
        assert_eq!(life.phase, Phase::Running);
        let mut life = Life::pending(t);
        let stopping = Circumstances { stopping: true, ..at(t) };
        assert_eq!(step(&mut life, Event::Waiting, stopping), Decision::Finished { unexpected: false });
        assert!(life.is_over(), "never started");
        // Killed before it reported (the OOM killer): a death, not a broken harness.
        let mut life = Life::new(t);
        let killed = ProcessEnd { sigkilled: true, reported: false, ..DIED };
        assert_eq!(step(&mut life, Event::Exited(killed), at(t)), Decision::Restart { delay: Duration::from_secs(1) });
    }

    #[test]
    fn a_clean_exit_or_a_spent_budget_finishes() {
        let t = Instant::now();
        let mut life = Life::new(t);
        let ok = ProcessEnd { success: true, ..DIED };
        assert_eq!(step(&mut life, Event::Exited(ok), at(t)), Decision::Finished { unexpected: false });
        assert!(life.is_over());
        let mut life = Life::new(t);
        let spent = Circumstances { budget_spent: true, ..at(t) };
        assert_eq!(step(&mut life, Event::Exited(DIED), spent), Decision::Finished { unexpected: true });
        let mut life = Life::new(t);
        let stopping = Circumstances { stopping: true, ..at(t) };
        assert_eq!(step(&mut life, Event::Exited(DIED), stopping), Decision::Finished { unexpected: false });
    }

    #[test]
    fn a_harness_that_never_started_is_fatal() {
        let t = Instant::now();
        let never = ProcessEnd { reported: false, ..DIED };
        assert_eq!(step(&mut Life::new(t), Event::Exited(never), at(t)), Decision::Fatal(Fatal::NotAHarness));
        let setup = ProcessEnd { setup_error: true, ..never };
        assert_eq!(step(&mut Life::new(t), Event::Exited(setup), at(t)), Decision::Fatal(Fatal::SetupError));
        // After a restart, the same is a death like any other.
        let mut life = Life { restarts: 1, ..Life::new(t) };
        assert!(matches!(step(&mut life, Event::Exited(never), at(t)), Decision::Restart { .. }));
        // A set-up the runtime refused (a memory limit below the harness) after it mapped its
        // stats, or after a restart, fails the same way every time: fatal, not restarted.
        let refused = ProcessEnd { setup_error: true, ..DIED };
        let mut life = Life { restarts: 2, ..Life::new(t) };
        assert_eq!(step(&mut life, Event::Exited(refused), at(t)), Decision::Fatal(Fatal::SetupError));
    }

    #[test]
    fn quick_deaths_back_off_then_give_up() {
        let mut t = Instant::now();
        let mut life = Life::new(t);
        let mut delays = Vec::new();
        loop {
            t += Duration::from_secs(1);
            match step(&mut life, Event::Exited(DIED), at(t)) {
                Decision::Restart { delay } => delays.push(delay.as_secs()),
                Decision::GiveUp => break,
                d => panic!("unexpected {d:?}"),
            }
            assert_eq!(step(&mut life, Event::Waiting, at(t)), Decision::Nothing, "not before the back-off");
            t += Duration::from_secs(delays[delays.len() - 1]);
            assert_eq!(step(&mut life, Event::Waiting, at(t)), Decision::Spawn);
        }
        assert_eq!(delays, [1, 2, 4, 8]);
        assert_eq!(life.phase, Phase::GaveUp);
        assert_eq!(life.restarts, MAX_QUICK_DEATHS);
    }

    #[test]
    fn a_death_after_a_long_run_restarts_at_once_and_resets_the_count() {
        let t = Instant::now();
        let mut life = Life { quick_deaths: 3, ..Life::new(t) };
        let later = t + QUICK_DEATH + Duration::from_secs(1);
        assert_eq!(step(&mut life, Event::Exited(DIED), at(later)), Decision::Restart { delay: Duration::ZERO });
        assert_eq!(life.quick_deaths, 0);
    }

    #[test]
    fn a_silent_worker_is_killed_once_and_its_death_is_not_unexpected() {
        let t = Instant::now();
        let mut life = Life::new(t);
        assert_eq!(step(&mut life, Event::Silent, at(t)), Decision::Kill);
        assert_eq!(step(&mut life, Event::Silent, at(t)), Decision::Nothing, "killed already");
        let killed = ProcessEnd { sigkilled: true, ..DIED };
        let spent = Circumstances { budget_spent: true, ..at(t) };
        assert_eq!(step(&mut life, Event::Exited(killed), spent), Decision::Finished { unexpected: false });
    }

    #[test]
    fn a_stop_while_waiting_to_restart_finishes() {
        let t = Instant::now();
        let mut life = Life { phase: Phase::Restarting(t + Duration::from_secs(8)), ..Life::new(t) };
        let stopping = Circumstances { stopping: true, ..at(t) };
        assert_eq!(step(&mut life, Event::Waiting, stopping), Decision::Finished { unexpected: false });
        assert!(life.is_over());
    }
}
