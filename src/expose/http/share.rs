//! Shared renders: scrapes of `/metrics` that arrive while a render of the same format is
//! running wait for it, and scrapes within `render_reuse` of a finished render get that render
//! again. So a flood of scrapers costs at most one render per format and encoding per
//! interval, not one per client.

use crate::expose::Format;
use crate::sync::{lock, Arc, Mutex};
use hyper::body::Bytes;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A rendered body, gzipped when the client accepts it.
#[derive(Debug)]
pub(super) struct Rendered {
    pub(super) content_type: String,
    pub(super) body: Bytes,
    pub(super) gzipped: bool,
}

/// What a shared render is keyed by: the format and whether the body is gzipped.
pub(super) type Key = (Format, bool);

type Outcome = Option<Arc<Rendered>>;

enum Entry {
    Running(watch::Receiver<Outcome>),
    Done {
        finished: Instant,
        rendered: Arc<Rendered>,
    },
}

/// The renders of one server: at most one entry per format and encoding.
pub(super) struct SharedRenders {
    reuse: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// What a scrape should do.
pub(super) enum Lookup {
    /// A render finished less than `reuse` ago: serve it.
    Fresh(Arc<Rendered>),
    /// A render is running: wait for it.
    Wait(watch::Receiver<Outcome>),
    /// Render, and publish the result with the ticket.
    Render(Ticket),
}

impl SharedRenders {
    pub(super) fn new(reuse: Duration) -> Self {
        Self {
            reuse,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn lookup(self: &Arc<Self>, key: Key) -> Lookup {
        let mut entries = lock(&self.entries);
        match entries.get(&key) {
            Some(Entry::Running(receiver)) => return Lookup::Wait(receiver.clone()),
            Some(Entry::Done { finished, rendered }) if finished.elapsed() < self.reuse => {
                return Lookup::Fresh(rendered.clone());
            }
            _ => {}
        }
        let (sender, receiver) = watch::channel(None);
        entries.insert(key, Entry::Running(receiver));
        Lookup::Render(Ticket {
            key,
            sender: Some(sender),
            renders: self.clone(),
        })
    }
}

/// The right (and duty) to render for everyone waiting on `key`. Dropped without
/// [`publish`](Ticket::publish) (the render panicked, or no slot was free), it withdraws the
/// running entry, and the waiters see the channel close.
pub(super) struct Ticket {
    key: Key,
    sender: Option<watch::Sender<Outcome>>,
    renders: Arc<SharedRenders>,
}

impl Ticket {
    /// Stores `rendered` for later scrapes and hands it to those waiting.
    pub(super) fn publish(mut self, rendered: Rendered) -> Arc<Rendered> {
        let rendered = Arc::new(rendered);
        lock(&self.renders.entries).insert(
            self.key,
            Entry::Done {
                finished: Instant::now(),
                rendered: rendered.clone(),
            },
        );
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(rendered.clone()));
        }
        rendered
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.sender.take().is_some() {
            let mut entries = lock(&self.renders.entries);
            if matches!(entries.get(&self.key), Some(Entry::Running(_))) {
                entries.remove(&self.key);
            }
        }
    }
}

/// Waits for a running render; `None` if it ended without a result.
pub(super) async fn wait(mut receiver: watch::Receiver<Outcome>) -> Option<Arc<Rendered>> {
    let outcome = receiver.wait_for(Option::is_some).await.ok()?;
    outcome.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(body: &'static str) -> Rendered {
        Rendered {
            content_type: "text/plain".into(),
            body: Bytes::from_static(body.as_bytes()),
            gzipped: false,
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn scrapes_during_a_render_share_it_and_then_reuse_it() {
        let renders = Arc::new(SharedRenders::new(Duration::from_secs(3600)));
        let key = (Format::PrometheusText, false);
        let Lookup::Render(ticket) = renders.lookup(key) else {
            panic!("the first scrape renders");
        };
        let Lookup::Wait(waiter) = renders.lookup(key) else {
            panic!("the second waits");
        };
        // Another format or encoding is rendered on its own.
        assert!(matches!(
            renders.lookup((Format::OpenMetrics, false)),
            Lookup::Render(_)
        ));
        assert!(matches!(
            renders.lookup((Format::PrometheusText, true)),
            Lookup::Render(_)
        ));
        ticket.publish(rendered("one"));
        assert_eq!(block_on(wait(waiter)).unwrap().body, "one");
        let Lookup::Fresh(again) = renders.lookup(key) else {
            panic!("a recent render is reused");
        };
        assert_eq!(again.body, "one");
    }

    #[test]
    fn a_failed_render_releases_its_waiters_and_the_next_scrape_renders() {
        let renders = Arc::new(SharedRenders::new(Duration::from_secs(3600)));
        let key = (Format::OpenMetrics, true);
        let Lookup::Render(ticket) = renders.lookup(key) else {
            panic!()
        };
        let Lookup::Wait(waiter) = renders.lookup(key) else {
            panic!()
        };
        drop(ticket);
        assert!(block_on(wait(waiter)).is_none());
        assert!(matches!(renders.lookup(key), Lookup::Render(_)));
    }

    #[test]
    fn with_no_reuse_interval_only_running_renders_are_shared() {
        let renders = Arc::new(SharedRenders::new(Duration::ZERO));
        let key = (Format::PrometheusText, false);
        let Lookup::Render(ticket) = renders.lookup(key) else {
            panic!()
        };
        ticket.publish(rendered("x"));
        assert!(matches!(renders.lookup(key), Lookup::Render(_)));
    }
}
