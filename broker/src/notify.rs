//! A single-threaded, allocation-free wake-up flag for one waiting task
//! (a connection's writer, a shard's timer or forwarder). Many notifications
//! before the waiter runs collapse into one wake-up.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Wakes one task; not `Send` (shard-local by construction).
#[derive(Debug, Default)]
pub(crate) struct Notify {
    pending: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    /// Set the flag and wake the waiter, if any.
    pub(crate) fn notify(&self) {
        self.pending.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Wait until notified (returns at once if a notification is pending).
    pub(crate) fn notified(&self) -> Notified<'_> {
        Notified { notify: self }
    }
}

/// Future returned by [`Notify::notified`].
#[derive(Debug)]
pub(crate) struct Notified<'a> {
    notify: &'a Notify,
}

impl Future for Notified<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.pending.replace(false) {
            return Poll::Ready(());
        }
        let mut slot = self.notify.waker.borrow_mut();
        match slot.as_ref() {
            // Never hoard waker clones (glommio 0.9 counts them in an i16).
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Wakes every task waiting for "something changed" (disk writes
/// completed, a queue closed). A waiter remembers the version it saw and
/// waits for a later one, so no notification is missed between checking a
/// condition and waiting.
#[derive(Debug, Default)]
pub(crate) struct Event {
    version: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Event {
    /// The current version: pass it to [`Event::changed`] after checking
    /// the condition.
    pub(crate) fn version(&self) -> u64 {
        self.version.get()
    }

    /// Bump the version and wake every waiter.
    pub(crate) fn notify_all(&self) {
        self.version.set(self.version.get().wrapping_add(1));
        for w in self.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Wait until the version differs from `seen`.
    pub(crate) fn changed(&self, seen: u64) -> Changed<'_> {
        Changed { event: self, seen }
    }
}

/// Future returned by [`Event::changed`].
#[derive(Debug)]
pub(crate) struct Changed<'a> {
    event: &'a Event,
    seen: u64,
}

impl Future for Changed<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.version.get() != self.seen {
            return Poll::Ready(());
        }
        let mut wakers = self.event.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
