//! Lets a long-running phase notice that DuckDB wants the query to stop.

use std::sync::Arc;

use super::error::{Error, Result};

/// Whether the query running a phase was interrupted (Ctrl-C, Python's
/// `con.interrupt()`). DuckDB checks between chunks by itself; a function
/// that spends long inside one call should [`check`](Interrupt::check) now
/// and then.
#[derive(Clone, Default)]
pub struct Interrupt {
    probe: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

impl Interrupt {
    /// An interrupt that asks `probe` whether the query was interrupted.
    pub fn new(probe: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Interrupt {
            probe: Some(Arc::new(probe)),
        }
    }

    /// True once the query has been interrupted.
    pub fn is_set(&self) -> bool {
        self.probe.as_ref().is_some_and(|probe| probe())
    }

    /// `Err(Error::Interrupted)` once the query has been interrupted.
    pub fn check(&self) -> Result<()> {
        if self.is_set() {
            Err(Error::Interrupted)
        } else {
            Ok(())
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
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn follows_its_probe() {
        assert!(Interrupt::default().check().is_ok());
        let flag = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&flag);
        let interrupt = Interrupt::new(move || seen.load(Ordering::Relaxed));
        assert!(interrupt.check().is_ok());
        flag.store(true, Ordering::Relaxed);
        assert!(matches!(interrupt.check(), Err(Error::Interrupted)));
    }
}
