//! Lets a long-running phase notice that DuckDB wants the query to stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};

type Probe = Box<dyn Fn() -> bool + Send + Sync>;

/// Whether the query running a phase was interrupted (Ctrl-C, Python's
/// `con.interrupt()`). DuckDB checks between chunks by itself; a function
/// that spends long inside one call should [`check`](Interrupt::check) now
/// and then.
///
/// An interrupt is a flag owned on the Rust side. While its execution runs,
/// the flag follows the query (the bridge asks DuckDB through a probe the
/// execution holds); when the execution ends the probe is dropped, so a
/// clone kept past the query only reads the flag as it was last seen.
#[derive(Clone, Default)]
pub struct Interrupt {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    interrupted: AtomicBool,
    /// Asks the query whether it was interrupted; `None` once it ended.
    probe: RwLock<Option<Probe>>,
}

impl Interrupt {
    /// An interrupt that asks `probe` whether the query was interrupted,
    /// until [`detach`](Interrupt::detach) is called.
    pub fn new(probe: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Interrupt {
            shared: Some(Arc::new(Shared {
                interrupted: AtomicBool::new(false),
                probe: RwLock::new(Some(Box::new(probe))),
            })),
        }
    }

    /// True once the query has been interrupted.
    pub fn is_set(&self) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        if shared.interrupted.load(Ordering::Acquire) {
            return true;
        }
        let probe = shared.probe.read().unwrap_or_else(|e| e.into_inner());
        if probe.as_ref().is_some_and(|probe| probe()) {
            shared.interrupted.store(true, Ordering::Release);
            return true;
        }
        false
    }

    /// `Err(Error::Interrupted)` once the query has been interrupted.
    pub fn check(&self) -> Result<()> {
        if self.is_set() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Drops the probe (in every clone): from now on the interrupt keeps the
    /// state it last saw. Waits for a probe call in progress to return, so
    /// once this returns the probe is never called again.
    pub fn detach(&self) {
        if let Some(shared) = &self.shared {
            let probe = shared
                .probe
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            drop(probe);
        }
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interrupt({})", self.is_set())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn follows_its_probe() {
        assert!(Interrupt::default().check().is_ok());
        let flag = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&flag);
        let interrupt = Interrupt::new(move || seen.load(Ordering::Relaxed));
        assert!(interrupt.check().is_ok());
        flag.store(true, Ordering::Relaxed);
        assert!(matches!(interrupt.check(), Err(Error::Interrupted)));
        // The flag latches.
        flag.store(false, Ordering::Relaxed);
        assert!(interrupt.is_set());
    }

    #[test]
    fn a_clone_kept_past_the_execution_never_calls_the_probe() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let interrupt = Interrupt::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            false
        });
        let kept = interrupt.clone();
        assert!(!kept.is_set());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        interrupt.detach();
        assert!(!kept.is_set() && kept.check().is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "probe called after detach");
        // The probe itself (and what it captured) is gone.
        assert_eq!(Arc::strong_count(&calls), 1);
    }

    #[test]
    fn detach_keeps_an_interrupt_already_seen() {
        let interrupt = Interrupt::new(|| true);
        assert!(interrupt.is_set());
        interrupt.detach();
        assert!(interrupt.clone().is_set());
    }
}
