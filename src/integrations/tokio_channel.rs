//! An instrumented `tokio::sync::mpsc` (feature `tokio`): the same queue wait and depth as the
//! crossbeam wrapper [`channel`](crate::instrument::channel), for async services. `send` stamps
//! the item, `recv` records how long it waited (`queue_wait_seconds{queue}`), the depth
//! (`queue_depth{queue}`) follows every send and receive, and items still queued when the
//! receiver drops are counted as dropped (`queue_dropped_total{queue}`).
//!
//! The API follows tokio's (`channel`, `unbounded_channel`, `send`, `try_send`,
//! `blocking_send`, `recv`, `try_recv`, `blocking_recv`, `close`, ...); errors are tokio's.
//!
//! ```
//! use perf_instrument::{tokio_channel, QueueProbe, Registry};
//! let registry = Registry::new();
//! let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! runtime.block_on(async {
//!     let (tx, mut rx) = tokio_channel::channel(16, QueueProbe::new(&registry, "jobs").unwrap());
//!     tokio::spawn(async move {
//!         for i in 0..3 {
//!             tx.send(i).await.unwrap();
//!         }
//!     });
//!     let mut got = Vec::new();
//!     while let Some(i) = rx.recv().await {
//!         got.push(i);
//!     }
//!     assert_eq!(got, [0, 1, 2]);
//! });
//! let waits = registry.snapshot();
//! assert_eq!(waits.histogram("queue_wait_seconds", &[("queue", "jobs")]).unwrap().count(), 3);
//! ```

use crate::instrument::{QueueProbe, Stamp};
use std::fmt;
pub use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

/// A bounded channel of capacity `capacity` (at least 1; tokio's rule) measured by `probe`.
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
/// let (tx, mut rx) = perf_instrument::tokio_channel::channel::<u8>(1, probe);
/// tx.try_send(1).unwrap();
/// assert!(tx.try_send(2).is_err()); // full
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
#[must_use]
pub fn channel<T>(capacity: usize, probe: QueueProbe) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    (
        Sender {
            tx,
            probe: probe.clone(),
        },
        Receiver {
            rx: Inner::Bounded(rx),
            probe,
        },
    )
}

/// An unbounded channel measured by `probe`.
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
/// let (tx, mut rx) = perf_instrument::tokio_channel::unbounded_channel(probe);
/// tx.send("hello").unwrap();
/// assert_eq!(rx.try_recv(), Ok("hello"));
/// ```
#[must_use]
pub fn unbounded_channel<T>(probe: QueueProbe) -> (UnboundedSender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (
        UnboundedSender {
            tx,
            probe: probe.clone(),
        },
        Receiver {
            rx: Inner::Unbounded(rx),
            probe,
        },
    )
}

/// The sending side of a bounded channel; cloning adds a sender.
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
/// let (tx, rx) = perf_instrument::tokio_channel::channel::<u8>(4, probe);
/// tx.clone().try_send(1).unwrap();
/// assert_eq!(rx.len(), 1);
/// ```
pub struct Sender<T> {
    tx: tokio::sync::mpsc::Sender<(Stamp, T)>,
    probe: QueueProbe,
}

impl<T> Sender<T> {
    /// Waits for room, then sends. The wait for room is not queue wait: the item's wait starts
    /// when it is in the channel.
    ///
    /// # Errors
    ///
    /// The value back if the receiver is gone.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, rx) = perf_instrument::tokio_channel::channel(1, probe);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async { tx.send(5).await.unwrap() });
    /// drop(rx);
    /// assert!(rt.block_on(tx.send(6)).is_err());
    /// ```
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let permit = match self.tx.reserve().await {
            Ok(permit) => permit,
            Err(_) => return Err(SendError(value)),
        };
        permit.send((self.probe.stamp(), value));
        self.probe.submitted();
        Ok(())
    }

    /// Sends if there is room now.
    ///
    /// # Errors
    ///
    /// The value back if the channel is full or closed.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, _rx) = perf_instrument::tokio_channel::channel(1, probe);
    /// assert!(tx.try_send(1).is_ok());
    /// assert!(matches!(tx.try_send(2), Err(tokio::sync::mpsc::error::TrySendError::Full(2))));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.tx.try_reserve() {
            Ok(permit) => {
                permit.send((self.probe.stamp(), value));
                self.probe.submitted();
                Ok(())
            }
            Err(TrySendError::Full(())) => Err(TrySendError::Full(value)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(value)),
        }
    }

    /// Blocks the thread until there is room, then sends (outside an async context only, as
    /// tokio's).
    ///
    /// # Errors
    ///
    /// The value back if the receiver is gone.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, mut rx) = perf_instrument::tokio_channel::channel(1, probe);
    /// std::thread::spawn(move || tx.blocking_send(7).unwrap()).join().unwrap();
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// ```
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        let stamp = self.probe.stamp();
        self.tx
            .blocking_send((stamp, value))
            .map_err(|SendError((_, v))| SendError(v))?;
        self.probe.submitted();
        Ok(())
    }

    /// Whether the receiver is gone.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, rx) = perf_instrument::tokio_channel::channel::<u8>(1, probe);
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Free places now.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, _rx) = perf_instrument::tokio_channel::channel::<u8>(3, probe);
    /// tx.try_send(1).unwrap();
    /// assert_eq!((tx.capacity(), tx.max_capacity()), (2, 3));
    /// ```
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.tx.capacity()
    }

    /// The capacity the channel was made with.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, _rx) = perf_instrument::tokio_channel::channel::<u8>(3, probe);
    /// assert_eq!(tx.max_capacity(), 3);
    /// ```
    #[must_use]
    pub fn max_capacity(&self) -> usize {
        self.tx.max_capacity()
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
        f.debug_struct("Sender")
            .field("probe", &self.probe)
            .field("capacity", &self.tx.capacity())
            .finish()
    }
}

/// The sending side of an unbounded channel; cloning adds a sender.
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
/// let (tx, rx) = perf_instrument::tokio_channel::unbounded_channel(probe);
/// tx.clone().send(1).unwrap();
/// assert_eq!(rx.len(), 1);
/// ```
pub struct UnboundedSender<T> {
    tx: tokio::sync::mpsc::UnboundedSender<(Stamp, T)>,
    probe: QueueProbe,
}

impl<T> UnboundedSender<T> {
    /// Sends without waiting.
    ///
    /// # Errors
    ///
    /// The value back if the receiver is gone.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, rx) = perf_instrument::tokio_channel::unbounded_channel(probe);
    /// tx.send(1).unwrap();
    /// drop(rx);
    /// assert!(tx.send(2).is_err());
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let stamp = self.probe.stamp();
        self.tx
            .send((stamp, value))
            .map_err(|SendError((_, v))| SendError(v))?;
        self.probe.submitted();
        Ok(())
    }

    /// Whether the receiver is gone.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, rx) = perf_instrument::tokio_channel::unbounded_channel::<u8>(probe);
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            probe: self.probe.clone(),
        }
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedSender")
            .field("probe", &self.probe)
            .finish()
    }
}

enum Inner<T> {
    Bounded(tokio::sync::mpsc::Receiver<(Stamp, T)>),
    Unbounded(tokio::sync::mpsc::UnboundedReceiver<(Stamp, T)>),
}

/// The receiving side (one per channel, as tokio's). Dropping it counts the items still queued
/// as dropped.
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
/// let (tx, rx) = perf_instrument::tokio_channel::unbounded_channel(probe);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// drop(rx);
/// assert_eq!(registry.snapshot().value("queue_dropped", &[("queue", "q")]), Some(2.0));
/// ```
pub struct Receiver<T> {
    rx: Inner<T>,
    probe: QueueProbe,
}

impl<T> Receiver<T> {
    /// Waits for the next item; `None` once every sender is gone and the channel is empty.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, mut rx) = perf_instrument::tokio_channel::unbounded_channel(probe);
    /// tx.send(3).unwrap();
    /// drop(tx);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(rx.recv()), Some(3));
    /// assert_eq!(rt.block_on(rx.recv()), None);
    /// ```
    pub async fn recv(&mut self) -> Option<T> {
        let item = match &mut self.rx {
            Inner::Bounded(rx) => rx.recv().await,
            Inner::Unbounded(rx) => rx.recv().await,
        };
        item.map(|item| self.picked(item))
    }

    /// The next item if there is one now.
    ///
    /// # Errors
    ///
    /// `Empty`, or `Disconnected` once every sender is gone and the channel is empty.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, mut rx) = perf_instrument::tokio_channel::channel::<u8>(2, probe);
    /// assert_eq!(rx.try_recv(), Err(tokio::sync::mpsc::error::TryRecvError::Empty));
    /// tx.try_send(4).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(4));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let item = match &mut self.rx {
            Inner::Bounded(rx) => rx.try_recv(),
            Inner::Unbounded(rx) => rx.try_recv(),
        };
        item.map(|item| self.picked(item))
    }

    /// Blocks the thread for the next item (outside an async context only, as tokio's).
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, mut rx) = perf_instrument::tokio_channel::unbounded_channel(probe);
    /// tx.send(8).unwrap();
    /// assert_eq!(rx.blocking_recv(), Some(8));
    /// ```
    pub fn blocking_recv(&mut self) -> Option<T> {
        let item = match &mut self.rx {
            Inner::Bounded(rx) => rx.blocking_recv(),
            Inner::Unbounded(rx) => rx.blocking_recv(),
        };
        item.map(|item| self.picked(item))
    }

    /// Closes the channel to new sends; queued items can still be received.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, mut rx) = perf_instrument::tokio_channel::channel::<u8>(2, probe);
    /// tx.try_send(1).unwrap();
    /// rx.close();
    /// assert!(tx.try_send(2).is_err());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn close(&mut self) {
        match &mut self.rx {
            Inner::Bounded(rx) => rx.close(),
            Inner::Unbounded(rx) => rx.close(),
        }
    }

    /// Items queued now.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (tx, rx) = perf_instrument::tokio_channel::channel::<u8>(2, probe);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.rx {
            Inner::Bounded(rx) => rx.len(),
            Inner::Unbounded(rx) => rx.len(),
        }
    }

    /// Whether nothing is queued.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&registry, "q").unwrap();
    /// let (_tx, rx) = perf_instrument::tokio_channel::channel::<u8>(2, probe);
    /// assert!(rx.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn picked(&self, (stamp, value): (Stamp, T)) -> T {
        self.probe.pickup(stamp);
        value
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // No sender can add once closed, so draining counts every item left exactly once.
        self.close();
        loop {
            let item = match &mut self.rx {
                Inner::Bounded(rx) => rx.try_recv(),
                Inner::Unbounded(rx) => rx.try_recv(),
            };
            match item {
                Ok((stamp, _)) => self.probe.discard(stamp),
                Err(_) => break,
            }
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("probe", &self.probe)
            .field("len", &self.len())
            .finish()
    }
}
