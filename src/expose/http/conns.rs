//! The connection budget: open connections, which of them have a request in progress, and which
//! one to close when a new connection needs room.
//!
//! A connection that has sent no complete request (idle, or still sending its headers slowly)
//! holds no render slot, and when the budget is full the connection idle the longest is closed
//! to admit the new one. So sockets that never send a request cannot keep a scraper out; only
//! connections with a request in progress or a response still being sent are never closed for
//! room.

use crate::sync::{lock, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, OnceLock, Ordering};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// The open connections; at most `max` of them.
pub(super) struct Connections {
    max: usize,
    /// Ids are handed out in accept order.
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: BTreeMap<u64, Arc<ConnState>>,
}

/// What the table knows of one connection, shared with its task.
pub(super) struct ConnState {
    /// Requests in progress on this connection.
    busy: AtomicUsize,
    /// Whether the last write to the socket could not complete (the peer does not read fast
    /// enough): a response is still being sent.
    write_blocked: AtomicBool,
    /// When the last request started (nanoseconds since the table's epoch), or when the
    /// connection was accepted.
    last_active: AtomicU64,
    /// Told to close when the connection is chosen to make room.
    pub(super) close: tokio::sync::Notify,
}

/// Nanoseconds since the first call: a cheap, comparable timestamp for `last_active`.
fn now_nanos() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl ConnState {
    fn new() -> Self {
        Self {
            busy: AtomicUsize::new(0),
            write_blocked: AtomicBool::new(false),
            last_active: AtomicU64::new(now_nanos()),
            close: tokio::sync::Notify::new(),
        }
    }

    /// Marks a request in progress until the returned guard is dropped.
    pub(super) fn request(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.last_active.store(now_nanos(), Ordering::Relaxed);
        Busy(self.clone())
    }

    /// A request in progress, or a response still being sent.
    pub(super) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0 || self.write_blocked.load(Ordering::Acquire)
    }
}

/// The connection's socket, watched: each write marks the connection active, and a write
/// that cannot complete marks it busy until one does. So a connection still sending a
/// response is never taken for idle, while a client that only trickles request bytes stays
/// as idle as one that sends nothing.
pub(super) struct Watched<T> {
    inner: T,
    state: Arc<ConnState>,
}

impl<T> Watched<T> {
    pub(super) fn new(inner: T, state: Arc<ConnState>) -> Self {
        Self { inner, state }
    }

    fn saw_write<R>(&self, poll: Poll<R>) -> Poll<R> {
        self.state
            .write_blocked
            .store(poll.is_pending(), Ordering::Release);
        self.state.last_active.store(now_nanos(), Ordering::Relaxed);
        poll
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.saw_write(poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.saw_write(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.saw_write(poll)
    }
}

/// A request in progress on a connection.
pub(super) struct Busy(Arc<ConnState>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How a new connection was admitted.
pub(super) enum Admission {
    /// There was room.
    Admitted(Member),
    /// An idle connection was told to close to make room.
    Evicted(Member),
    /// Every open connection has a request in progress: the new one is closed.
    Refused,
}

/// A place in the table; dropping it frees the place (unless it was taken away already).
pub(super) struct Member {
    id: u64,
    state: Arc<ConnState>,
    connections: Arc<Connections>,
}

impl Member {
    pub(super) fn state(&self) -> &Arc<ConnState> {
        &self.state
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        lock(&self.connections.table).open.remove(&self.id);
    }
}

impl Connections {
    pub(super) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            table: Mutex::new(Table::default()),
        }
    }

    /// Admits a new connection, closing the connection idle the longest if the budget is full.
    pub(super) fn admit(self: &Arc<Self>) -> Admission {
        let mut table = lock(&self.table);
        let evicted = if table.open.len() >= self.max {
            if Self::evict_idlest(&mut table).is_none() {
                return Admission::Refused;
            }
            true
        } else {
            false
        };
        let id = table.next_id;
        table.next_id += 1;
        let state = Arc::new(ConnState::new());
        table.open.insert(id, state.clone());
        drop(table);
        let member = Member {
            id,
            state,
            connections: self.clone(),
        };
        if evicted {
            Admission::Evicted(member)
        } else {
            Admission::Admitted(member)
        }
    }

    /// Closes the connection idle the longest, if any is idle (when the process is out of
    /// file descriptors, say). Returns whether one was closed.
    pub(super) fn close_idlest(&self) -> bool {
        Self::evict_idlest(&mut lock(&self.table)).is_some()
    }

    /// Open connections (those told to close no longer count).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.table).open.len()
    }

    fn evict_idlest(table: &mut Table) -> Option<u64> {
        let id = table
            .open
            .iter()
            .filter(|(_, state)| !state.is_busy())
            .min_by_key(|(_, state)| state.last_active.load(Ordering::Relaxed))
            .map(|(&id, _)| id)?;
        if let Some(state) = table.open.remove(&id) {
            state.close.notify_one();
        }
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_budget_closes_the_idlest_and_never_a_busy_one() {
        let connections = Arc::new(Connections::new(2));
        let Admission::Admitted(first) = connections.admit() else {
            panic!("room for the first");
        };
        let Admission::Admitted(second) = connections.admit() else {
            panic!("room for the second");
        };
        // The first has a request in progress; the second is idle: it makes room.
        let busy = first.state().request();
        let Admission::Evicted(third) = connections.admit() else {
            panic!("the idle one makes room");
        };
        assert_eq!(connections.len(), 2);
        // The evicted connection was told to close (the permit is stored for its task).
        assert!(close_was_told(second.state()));
        // The second's place is already gone; dropping it removes nothing else.
        drop(second);
        assert_eq!(connections.len(), 2);
        // Both remaining ones busy: a new connection is refused.
        let _also_busy = third.state().request();
        assert!(matches!(connections.admit(), Admission::Refused));
        drop(busy);
        assert!(matches!(connections.admit(), Admission::Evicted(_)));
        drop(first);
        drop(third);
        assert_eq!(connections.len(), 0);
    }

    #[test]
    fn the_connection_idle_longest_goes_first() {
        let connections = Arc::new(Connections::new(2));
        let Admission::Admitted(old) = connections.admit() else {
            panic!()
        };
        let Admission::Admitted(new) = connections.admit() else {
            panic!()
        };
        std::thread::sleep(std::time::Duration::from_millis(2));
        // The older connection served a request just now: the newer one has idled longer.
        drop(old.state().request());
        let Admission::Evicted(_third) = connections.admit() else {
            panic!()
        };
        assert!(close_was_told(new.state()));
        assert!(!close_was_told(old.state()));
        assert!(connections.close_idlest());
        assert_eq!(connections.len(), 1);
    }

    fn close_was_told(state: &ConnState) -> bool {
        let told = state.close.notified();
        let mut told = std::pin::pin!(told);
        futures_ready(told.as_mut())
    }

    /// Polls a future once with a no-op waker.
    fn futures_ready<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        future.poll(&mut cx).is_ready()
    }
}
