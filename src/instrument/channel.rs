//! An instrumented `crossbeam-channel`: `send` stamps, `recv` records the wait, the depth is
//! kept, and items still in the channel when the last receiver drops are counted as dropped.
//!
//! The API follows crossbeam's (`bounded`, `unbounded`, `send`, `try_send`, `send_timeout`,
//! `recv`, `try_recv`, `recv_timeout`, `iter`, `try_iter`, `for x in &rx`, `for x in rx`,
//! `len`, ...); errors are crossbeam's.
//!
//! ```
//! use perf_instrument::{channel, QueueProbe, Registry};
//! let registry = Registry::new();
//! let (tx, rx) = channel::bounded(16, QueueProbe::new(&registry, "events").unwrap());
//! std::thread::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! });
//! let got: Vec<i32> = rx.iter().collect();
//! assert_eq!(got, [0, 1, 2]);
//! ```

use super::queue::{QueueProbe, Stamp};
use crate::sync::Arc;
use crate::sync::{AtomicUsize, Ordering};
pub use crossbeam_channel::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use std::fmt;
use std::time::Duration;

/// A channel of capacity `cap` measured by `probe`.
///
/// ```
/// let r = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&r, "q").unwrap();
/// let (tx, rx) = perf_instrument::channel::bounded::<u8>(1, probe);
/// tx.send(1).unwrap();
/// assert!(tx.try_send(2).is_err()); // full
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn bounded<T>(cap: usize, probe: QueueProbe) -> (Sender<T>, Receiver<T>) {
    wrap(crossbeam_channel::bounded(cap), probe)
}

/// An unbounded channel measured by `probe`.
///
/// ```
/// let r = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&r, "q").unwrap();
/// let (tx, rx) = perf_instrument::channel::unbounded(probe);
/// tx.send("hello").unwrap();
/// assert_eq!(rx.try_recv(), Ok("hello"));
/// ```
pub fn unbounded<T>(probe: QueueProbe) -> (Sender<T>, Receiver<T>) {
    wrap(crossbeam_channel::unbounded(), probe)
}

type Inner<T> = (
    crossbeam_channel::Sender<(Stamp, T)>,
    crossbeam_channel::Receiver<(Stamp, T)>,
);

fn wrap<T>((tx, rx): Inner<T>, probe: QueueProbe) -> (Sender<T>, Receiver<T>) {
    (
        Sender {
            tx,
            probe: probe.clone(),
        },
        Receiver {
            rx,
            probe,
            receivers: Arc::new(AtomicUsize::new(1)),
        },
    )
}

/// The sending side; cloning adds a sender.
///
/// ```
/// let r = perf_instrument::Registry::new();
/// let (tx, rx) = perf_instrument::channel::unbounded(perf_instrument::QueueProbe::new(&r, "q").unwrap());
/// tx.clone().send(1).unwrap();
/// assert_eq!(rx.len(), 1);
/// ```
pub struct Sender<T> {
    tx: crossbeam_channel::Sender<(Stamp, T)>,
    probe: QueueProbe,
}

impl<T> Sender<T> {
    /// Blocks until there is room, then sends.
    ///
    /// # Errors
    ///
    /// The value back if every receiver is gone.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, rx) = perf_instrument::channel::unbounded(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// tx.send(5).unwrap();
    /// drop(rx);
    /// assert!(tx.send(6).is_err());
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let stamp = self.probe.stamp();
        self.tx
            .send((stamp, value))
            .map_err(|SendError((_, v))| SendError(v))?;
        self.probe.submitted();
        Ok(())
    }

    /// Sends if there is room now.
    ///
    /// # Errors
    ///
    /// The value back if the channel is full or disconnected.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, _rx) = perf_instrument::channel::bounded(1, perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert!(tx.try_send(1).is_ok());
    /// assert!(tx.try_send(2).unwrap_err().is_full());
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let stamp = self.probe.stamp();
        self.tx.try_send((stamp, value)).map_err(|e| match e {
            TrySendError::Full((_, v)) => TrySendError::Full(v),
            TrySendError::Disconnected((_, v)) => TrySendError::Disconnected(v),
        })?;
        self.probe.submitted();
        Ok(())
    }

    /// Waits up to `timeout` for room, then sends.
    ///
    /// # Errors
    ///
    /// The value back on timeout or disconnection.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, _rx) = perf_instrument::channel::bounded(0, perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// let full = tx.send_timeout(1, std::time::Duration::from_millis(1));
    /// assert!(full.unwrap_err().is_timeout());
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        let stamp = self.probe.stamp();
        self.tx
            .send_timeout((stamp, value), timeout)
            .map_err(|e| match e {
                SendTimeoutError::Timeout((_, v)) => SendTimeoutError::Timeout(v),
                SendTimeoutError::Disconnected((_, v)) => SendTimeoutError::Disconnected(v),
            })?;
        self.probe.submitted();
        Ok(())
    }

    /// Items in the channel.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, _rx) = perf_instrument::channel::unbounded::<u8>(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert_eq!(tx.len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// Whether the channel is empty.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, _rx) = perf_instrument::channel::unbounded::<u8>(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert!(tx.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }

    /// Whether the channel is full.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, _rx) = perf_instrument::channel::bounded::<u8>(0, perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert!(tx.is_full());
    /// ```
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.tx.is_full()
    }

    /// The capacity, `None` if unbounded.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, _rx) = perf_instrument::channel::bounded::<u8>(8, perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert_eq!(tx.capacity(), Some(8));
    /// ```
    #[must_use]
    pub fn capacity(&self) -> Option<usize> {
        self.tx.capacity()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            probe: self.probe.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("len", &self.len()).finish()
    }
}

/// The receiving side; cloning adds a receiver. When the last receiver drops, the items
/// still in the channel are counted as dropped (with their waits).
///
/// ```
/// let r = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&r, "q").unwrap();
/// let (tx, rx) = perf_instrument::channel::unbounded(probe.clone());
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// drop(rx);
/// assert_eq!(probe.depth(), 0); // both counted as dropped, not left waiting forever
/// ```
pub struct Receiver<T> {
    rx: crossbeam_channel::Receiver<(Stamp, T)>,
    probe: QueueProbe,
    receivers: Arc<AtomicUsize>,
}

impl<T> Receiver<T> {
    /// Blocks until an item arrives.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when the channel is empty and every sender is gone.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, rx) = perf_instrument::channel::unbounded(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert!(rx.recv().is_err());
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.rx.recv().map(|item| self.picked(item))
    }

    /// Takes an item if one is there now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError`] when empty or disconnected.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (_tx, rx) = perf_instrument::channel::unbounded::<u8>(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map(|item| self.picked(item))
    }

    /// Waits up to `timeout` for an item.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError`] on timeout or disconnection.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (_tx, rx) = perf_instrument::channel::unbounded::<u8>(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert!(rx.recv_timeout(std::time::Duration::from_millis(1)).unwrap_err().is_timeout());
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(|item| self.picked(item))
    }

    /// A blocking iterator that ends when the channel is empty and disconnected.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, rx) = perf_instrument::channel::unbounded(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().count(), 1);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the items there now.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (tx, rx) = perf_instrument::channel::unbounded(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().sum::<i32>(), 3);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Items in the channel.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (_tx, rx) = perf_instrument::channel::unbounded::<u8>(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert_eq!(rx.len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether the channel is empty.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let (_tx, rx) = perf_instrument::channel::unbounded::<u8>(perf_instrument::QueueProbe::new(&r, "q").unwrap());
    /// assert!(rx.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    fn picked(&self, (stamp, value): (Stamp, T)) -> T {
        self.probe.pickup(stamp);
        value
    }
}

/// A blocking iterator over a [`Receiver`]'s items, ending when the channel is empty and
/// disconnected ([`Receiver::iter`], or `for x in &rx`).
///
/// ```
/// # let r = perf_instrument::Registry::new();
/// let (tx, rx) = perf_instrument::channel::unbounded(perf_instrument::QueueProbe::new(&r, "q").unwrap());
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// drop(tx);
/// let mut sum = 0;
/// for x in &rx {
///     sum += x;
/// }
/// assert_eq!(sum, 3);
/// ```
#[must_use = "iterators are lazy"]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// An iterator over the items in a [`Receiver`] now ([`Receiver::try_iter`]).
///
/// ```
/// # let r = perf_instrument::Registry::new();
/// let (tx, rx) = perf_instrument::channel::unbounded(perf_instrument::QueueProbe::new(&r, "q").unwrap());
/// tx.send(4).unwrap();
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4]);
/// ```
#[must_use = "iterators are lazy"]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").finish_non_exhaustive()
    }
}

/// A blocking iterator that owns its [`Receiver`] (`for x in rx`).
///
/// ```
/// # let r = perf_instrument::Registry::new();
/// let (tx, rx) = perf_instrument::channel::unbounded(perf_instrument::QueueProbe::new(&r, "q").unwrap());
/// tx.send(7).unwrap();
/// drop(tx);
/// assert_eq!(rx.into_iter().collect::<Vec<_>>(), [7]);
/// ```
#[must_use = "iterators are lazy"]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.receivers.fetch_add(1, Ordering::AcqRel);
        Self {
            rx: self.rx.clone(),
            probe: self.probe.clone(),
            receivers: self.receivers.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last receiver: nothing will pick these up any more.
            while let Ok((stamp, _value)) = self.rx.try_recv() {
                self.probe.discard(stamp);
            }
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .finish()
    }
}
