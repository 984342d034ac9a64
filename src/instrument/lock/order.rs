//! Lock order: which tracked locks a thread holds when it takes another, the order graph those
//! acquisitions draw, and the cycles in it (AB/BA and longer), reported the first time each
//! is seen, before any deadlock.
//!
//! Each thread keeps the tracked locks it holds in a thread-local stack. Taking a tracked lock
//! while holding others adds an edge `held -> taken` per held lock, with the call sites of both
//! acquisitions. A thread remembers the edges it added (up to [`THREAD_SEEN`]), so a repeated
//! order costs a scan of that small list and no shared lock; a new edge takes the graph's mutex,
//! is added (up to [`MAX_EDGES`], then counted as dropped) and closes a cycle when a path
//! back from the taken lock to the held one exists. Each cycle is reported once: a counter
//! `lock_order_cycles_total{cycle}`, one `lock_order_cycle_edge` series per edge with both
//! call sites, and a `tracing` warning. A guard dropped on another thread than the one that
//! took it is removed from its owner's stack at that thread's next tracked acquisition.

use crate::recorder::{Counter, Gauge};
use crate::registry::{Family, Registry, RegistryError};
use crate::sync::{lazy_global, lock, thread_local_const, Mutex, Ordering, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::Location;

/// Most edges the order graph keeps; further new edges are counted in
/// `lock_order_edges_dropped_total` and not tracked.
pub const MAX_EDGES: usize = 4_096;
/// Most cycles reported (with their edge series) per process.
pub const MAX_CYCLES: usize = 256;
/// Edges a thread remembers having added, so a repeated order takes no shared lock.
pub const THREAD_SEEN: usize = 64;
/// Tracked locks one thread can hold at once that are followed; deeper nesting is not tracked.
const MAX_HELD: usize = 32;

type Site = &'static Location<'static>;

/// The families of order tracking (listed with the other lock families).
pub(crate) mod families {
    use crate::registry::FamilyDef;

    /// Lock-order cycles seen (locks with order tracking).
    pub(crate) const ORDER_CYCLES: FamilyDef = FamilyDef::counter(
        "lock_order_cycles",
        "Cycles in the order tracked locks are taken in (AB/BA and longer): each can deadlock. Counted once per cycle.",
    )
    .labels(&["cycle"])
    .not_tabled("a counter (the lock-order-cycle finding reads it)");
    /// One edge of a reported cycle, with the call sites of both acquisitions.
    pub(crate) const ORDER_CYCLE_EDGE: FamilyDef = FamilyDef::gauge(
        "lock_order_cycle_edge",
        "1 for each order of a reported lock-order cycle: `held` taken at `held_at`, then `acquired` taken at `acquired_at`.",
    )
    .labels(&["cycle", "held", "held_at", "acquired", "acquired_at"])
    .not_tabled("a gauge (the lock-order-cycle finding names the call sites)");
    /// New order edges not tracked because the graph was full.
    pub(crate) const ORDER_EDGES_DROPPED: FamilyDef = FamilyDef::counter(
        "lock_order_edges_dropped",
        "New lock-order edges not tracked because the order graph was full.",
    )
    .labels(&["lock"])
    .not_tabled("a counter");
}

fn label(site: Site) -> String {
    format!("{}:{}", site.file(), site.line())
}

/// The order-tracking part of a lock: its id in the graph and the families it reports into.
pub(crate) struct OrderNode {
    id: u64,
    name: String,
    cycles: Family<Counter>,
    edges: Family<Gauge>,
    dropped: Counter,
}

impl std::fmt::Debug for OrderNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderNode")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

// Process-wide ids and a flag, outside what the loom models explore (std atomics, so the
// statics stay const under the loom cfg too).
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static NEXT_TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
/// Set while some guard was released on another thread than its taker's.
static RELEASED_ELSEWHERE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

#[derive(Default)]
struct Graph {
    names: HashMap<u64, String>,
    /// `(held, taken)` -> (site where `held` was taken, site where `taken` was taken).
    edges: BTreeMap<(u64, u64), (Site, Site)>,
    /// Cycles reported, as their lock ids rotated to start at the smallest.
    reported: BTreeSet<Vec<u64>>,
    /// Tokens of guards dropped on another thread than the one that took them.
    released: BTreeSet<u64>,
}

lazy_global! {
    static GRAPH: Mutex<Graph> = Mutex::new(Graph::default());
}

struct Entry {
    lock: u64,
    site: Site,
    token: u64,
}

#[derive(Default)]
struct ThreadState {
    held: Vec<Entry>,
    seen: Vec<(u64, u64)>,
}

thread_local_const! {
    static STATE: RefCell<ThreadState> = RefCell::new(ThreadState { held: Vec::new(), seen: Vec::new() });
}

impl OrderNode {
    pub(crate) fn new(name: &str, registry: &Registry) -> Result<Self, RegistryError> {
        use families as f;
        let node = Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            cycles: registry.register_counter(f::ORDER_CYCLES.opts())?,
            edges: registry.register_gauge(f::ORDER_CYCLE_EDGE.opts())?,
            dropped: registry
                .register_counter(f::ORDER_EDGES_DROPPED.opts())?
                .with_label_values(&[name]),
        };
        lock(&GRAPH).names.insert(node.id, node.name.clone());
        Ok(node)
    }

    /// This thread takes the lock at `site`: adds the edges from the locks it holds, and
    /// returns the token the guard gives back to [`release`](Self::release).
    #[inline]
    pub(crate) fn acquire(&self, site: Site) -> u64 {
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let _ = STATE.try_with(|state| {
            let Ok(mut state) = state.try_borrow_mut() else {
                return;
            };
            if !state.held.is_empty() && RELEASED_ELSEWHERE.load(Ordering::Relaxed) {
                purge(&mut state);
            }
            let mut fresh: Vec<(u64, Site)> = Vec::new();
            for entry in &state.held {
                let edge = (entry.lock, self.id);
                if entry.lock != self.id && !state.seen.contains(&edge) {
                    fresh.push((entry.lock, entry.site));
                }
            }
            if !fresh.is_empty() {
                for (held, _) in &fresh {
                    if state.seen.len() < THREAD_SEEN {
                        state.seen.push((*held, self.id));
                    }
                }
                self.add_edges(&fresh, site);
            }
            if state.held.len() < MAX_HELD {
                state.held.push(Entry {
                    lock: self.id,
                    site,
                    token,
                });
            }
        });
        token
    }

    /// The guard of `token` is dropped.
    #[inline]
    pub(crate) fn release(token: u64) {
        let found = STATE
            .try_with(|state| {
                let Ok(mut state) = state.try_borrow_mut() else {
                    return false;
                };
                match state.held.iter().rposition(|e| e.token == token) {
                    Some(i) => {
                        state.held.remove(i);
                        true
                    }
                    None => state.held.len() >= MAX_HELD,
                }
            })
            .unwrap_or(false);
        if !found {
            Self::released_elsewhere(token);
        }
    }

    #[cold]
    fn released_elsewhere(token: u64) {
        let mut graph = lock(&GRAPH);
        if graph.released.len() >= MAX_EDGES {
            graph.released.pop_first();
        }
        graph.released.insert(token);
        RELEASED_ELSEWHERE.store(true, Ordering::Relaxed);
    }

    #[cold]
    fn add_edges(&self, fresh: &[(u64, Site)], site: Site) {
        let mut graph = lock(&GRAPH);
        for &(held, held_site) in fresh {
            if graph.edges.contains_key(&(held, self.id)) {
                continue;
            }
            if graph.edges.len() >= MAX_EDGES {
                self.dropped.inc();
                continue;
            }
            graph.edges.insert((held, self.id), (held_site, site));
            if let Some(path) = path(&graph, self.id, held) {
                // The cycle: held -> self -> ... -> held.
                let mut ids = vec![held, self.id];
                ids.extend(path.iter().take(path.len().saturating_sub(1)));
                self.report(&mut graph, &ids);
            }
        }
    }

    fn report(&self, graph: &mut Graph, ids: &[u64]) {
        let start = ids
            .iter()
            .enumerate()
            .min_by_key(|(_, id)| **id)
            .map_or(0, |(i, _)| i);
        let mut canonical = ids[start..].to_vec();
        canonical.extend_from_slice(&ids[..start]);
        if graph.reported.len() >= MAX_CYCLES || !graph.reported.insert(canonical.clone()) {
            return;
        }
        let name = |id: &u64| {
            graph
                .names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("#{id}"))
        };
        let mut names: Vec<String> = canonical.iter().map(name).collect();
        names.push(names[0].clone());
        let cycle = names.join(" -> ");
        self.cycles.with_label_values(&[&cycle]).inc();
        let mut orders = Vec::new();
        for (i, from) in canonical.iter().enumerate() {
            let to = canonical[(i + 1) % canonical.len()];
            if let Some((held_at, taken_at)) = graph.edges.get(&(*from, to)) {
                let (held_at, taken_at) = (label(held_at), label(taken_at));
                self.edges
                    .with_label_values(&[&cycle, &name(from), &held_at, &name(&to), &taken_at])
                    .set(1);
                orders.push(format!(
                    "{} (at {held_at}) then {} (at {taken_at})",
                    name(from),
                    name(&to)
                ));
            }
        }
        tracing::warn!(
            cycle = %cycle,
            orders = %orders.join("; "),
            "lock order cycle: these locks are taken in opposite orders and can deadlock"
        );
    }
}

impl Drop for OrderNode {
    fn drop(&mut self) {
        let mut graph = lock(&GRAPH);
        graph.names.remove(&self.id);
        let id = self.id;
        graph.edges.retain(|(a, b), _| *a != id && *b != id);
    }
}

/// Drops this thread's entries whose guards were released on another thread.
#[cold]
fn purge(state: &mut ThreadState) {
    let mut graph = lock(&GRAPH);
    state.held.retain(|e| !graph.released.remove(&e.token));
    if graph.released.is_empty() {
        RELEASED_ELSEWHERE.store(false, Ordering::Relaxed);
    }
}

/// A path `from -> ... -> to` in the graph (breadth first), as the nodes after `from`.
fn path(graph: &Graph, from: u64, to: u64) -> Option<Vec<u64>> {
    let mut previous: HashMap<u64, u64> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        for &(_, next) in graph
            .edges
            .range((node, 0)..=(node, u64::MAX))
            .map(|(k, _)| k)
        {
            if next == from || previous.contains_key(&next) {
                continue;
            }
            previous.insert(next, node);
            if next == to {
                let mut out = vec![to];
                let mut at = to;
                while let Some(&p) = previous.get(&at) {
                    if p == from {
                        break;
                    }
                    out.push(p);
                    at = p;
                }
                out.reverse();
                return Some(out);
            }
            queue.push_back(next);
        }
    }
    None
}
