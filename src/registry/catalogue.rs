//! The catalogue of metric families: each instrument declares every family it registers once,
//! as a `const` [`FamilyDef`] — name, help, kind, unit, label names, and how the report tables
//! it ([`Tabling`]). Registration, the report and the documentation all read the same entry.

use super::{MetricKind, Opts};
use crate::recorder::Unit;
use std::fmt::Write as _;

/// Rank of a table given without [`TableSpec::with_rank`]: after the crate's own tables.
///
/// ```
/// use perf_instrument::{TableSpec, DEFAULT_TABLE_RANK};
/// assert_eq!(TableSpec::new("jobs", "{job}").rank(), DEFAULT_TABLE_RANK);
/// ```
pub const DEFAULT_TABLE_RANK: u32 = 10_000;

/// How the report tables a histogram family: the table's title, how a row is named from the
/// series' labels, and the table's place among the others.
///
/// Families that name the same title share a table. Tables are ordered by the lowest rank of
/// their families, then by registration; within a table, rows follow the rank of their family,
/// then registration order. Only histogram families are tabled (one row per series with
/// observations: count, rate, p50, p95, p99, p99.9, max); a spec on another kind is ignored.
///
/// The row template replaces `{label}` by the series' value of that label, `{family}` by the
/// family name (without the suffix given to [`with_family_suffix`](Self::with_family_suffix)),
/// and `{labels}` by the values of the labels the template does not name, each after a `/`.
/// Anything else is copied; an unknown label gives an empty value.
///
/// ```
/// use perf_instrument::{Opts, Registry, Report, TableSpec, Unit};
/// const JOBS: TableSpec = TableSpec::new("jobs", "{queue}/{job}");
/// let registry = Registry::new();
/// let family = registry
///     .register_histogram(
///         Opts::new("job_duration_seconds", "Job durations.")
///             .unit(Unit::Seconds)
///             .labels(["queue", "job"])
///             .report_table(JOBS),
///     )
///     .unwrap();
/// family.with_label_values(&["mail", "send"]).record(1_000);
/// let rows = Report::from_registry(&registry).table("jobs").unwrap().to_vec();
/// assert_eq!(rows[0].name, "mail/send");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableSpec {
    title: &'static str,
    row: &'static str,
    rank: u32,
    family_suffix: &'static str,
}

impl TableSpec {
    /// A table titled `title` whose rows are named by the template `row`, ranked
    /// [`DEFAULT_TABLE_RANK`].
    ///
    /// ```
    /// let spec = perf_instrument::TableSpec::new("queues", "{queue}");
    /// assert_eq!((spec.title(), spec.row_template()), ("queues", "{queue}"));
    /// ```
    #[must_use]
    pub const fn new(title: &'static str, row: &'static str) -> Self {
        Self {
            title,
            row,
            rank: DEFAULT_TABLE_RANK,
            family_suffix: "",
        }
    }

    /// The table's place: lower ranks come first (the crate's own tables use 100–1,000).
    ///
    /// ```
    /// let spec = perf_instrument::TableSpec::new("jobs", "{job}").with_rank(5);
    /// assert_eq!(spec.rank(), 5);
    /// ```
    #[must_use]
    pub const fn with_rank(mut self, rank: u32) -> Self {
        self.rank = rank;
        self
    }

    /// A suffix taken off the family name where the template says `{family}` (for families
    /// whose name the caller chooses, such as a `LongTaskTimer`'s).
    ///
    /// ```
    /// let spec = perf_instrument::TableSpec::new("tasks", "{family}")
    ///     .with_family_suffix("_duration_seconds");
    /// assert_eq!(spec.row_name("backup_duration_seconds", &[]), "backup");
    /// ```
    #[must_use]
    pub const fn with_family_suffix(mut self, suffix: &'static str) -> Self {
        self.family_suffix = suffix;
        self
    }

    /// The table's title.
    ///
    /// ```
    /// assert_eq!(perf_instrument::TableSpec::new("jobs", "{job}").title(), "jobs");
    /// ```
    #[must_use]
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// The row template.
    ///
    /// ```
    /// assert_eq!(perf_instrument::TableSpec::new("jobs", "{job}").row_template(), "{job}");
    /// ```
    #[must_use]
    pub fn row_template(&self) -> &'static str {
        self.row
    }

    /// The table's rank.
    ///
    /// ```
    /// use perf_instrument::{TableSpec, DEFAULT_TABLE_RANK};
    /// assert_eq!(TableSpec::new("jobs", "{job}").rank(), DEFAULT_TABLE_RANK);
    /// ```
    #[must_use]
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// The name of the row of a series of family `family` with `labels` (name, value pairs).
    ///
    /// ```
    /// use perf_instrument::TableSpec;
    /// let spec = TableSpec::new("functions", "{module}::{function}");
    /// let name = spec.row_name("function_duration_seconds", &[("function", "parse"), ("module", "app")]);
    /// assert_eq!(name, "app::parse");
    /// let rest = TableSpec::new("jobs", "{queue}{labels}");
    /// assert_eq!(rest.row_name("j", &[("queue", "q"), ("kind", "k")]), "q/k");
    /// ```
    #[must_use]
    pub fn row_name(&self, family: &str, labels: &[(&str, &str)]) -> String {
        let value = |name: &str| {
            labels
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, v)| v)
        };
        let mut out = String::new();
        let mut rest = self.row;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            out.push_str(&rest[..open]);
            match &rest[open + 1..close] {
                "family" => out.push_str(family.strip_suffix(self.family_suffix).unwrap_or(family)),
                "labels" => {
                    for (name, v) in labels {
                        if !self.row.contains(&format!("{{{name}}}")) {
                            let _ = write!(out, "/{v}");
                        }
                    }
                }
                name => out.push_str(value(name)),
            }
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Whether and how the report tables a family; a family left out says why.
///
/// ```
/// use perf_instrument::{Tabling, TableSpec};
/// let t = Tabling::Table(TableSpec::new("queues", "{queue}"));
/// assert_eq!(t.spec().map(|s| s.title()), Some("queues"));
/// assert!(Tabling::NotTabled("a counter").spec().is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tabling {
    /// Rows in this table.
    Table(TableSpec),
    /// Not in any table, for the reason given.
    NotTabled(&'static str),
}

impl Tabling {
    /// The table spec, if tabled.
    ///
    /// ```
    /// assert!(perf_instrument::Tabling::NotTabled("why").spec().is_none());
    /// ```
    #[must_use]
    pub fn spec(&self) -> Option<&TableSpec> {
        match self {
            Self::Table(spec) => Some(spec),
            Self::NotTabled(_) => None,
        }
    }
}

/// One metric family as an instrument declares it: registered from it
/// ([`opts`](Self::opts)), tabled by the report from it, listed in the documentation from it.
///
/// A family whose name the caller chooses (a `LongTaskTimer`'s) declares the part after the
/// caller's prefix ([`caller_prefix`](Self::caller_prefix)); one whose label names the caller
/// may extend (`#[timed(labels(..))]`) declares the fixed ones
/// ([`caller_labels`](Self::caller_labels)).
///
/// ```
/// use perf_instrument::{FamilyDef, MetricKind, Registry, TableSpec, Unit};
/// const JOB_DURATION: FamilyDef = FamilyDef::histogram("job_duration_seconds", "Job durations.")
///     .unit(Unit::Seconds)
///     .labels(&["job"])
///     .table(TableSpec::new("jobs", "{job}"));
/// let registry = Registry::new();
/// let family = registry.register_histogram(JOB_DURATION.opts()).unwrap();
/// assert_eq!(family.descriptor().kind(), JOB_DURATION.kind());
/// assert_eq!(family.descriptor().report_table(), JOB_DURATION.tabling().spec());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FamilyDef {
    name: &'static str,
    help: &'static str,
    kind: MetricKind,
    unit: Unit,
    labels: &'static [&'static str],
    tabling: Tabling,
    caller_prefix: bool,
    caller_labels: bool,
}

impl FamilyDef {
    const fn new(kind: MetricKind, name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            kind,
            unit: Unit::Count,
            labels: &[],
            tabling: Tabling::NotTabled(""),
            caller_prefix: false,
            caller_labels: false,
        }
    }

    /// A counter family (named without `_total`, which exposition adds).
    ///
    /// ```
    /// let def = perf_instrument::FamilyDef::counter("jobs", "Jobs.");
    /// assert_eq!(def.kind(), perf_instrument::MetricKind::Counter);
    /// ```
    #[must_use]
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self::new(MetricKind::Counter, name, help)
    }

    /// A gauge family.
    ///
    /// ```
    /// let def = perf_instrument::FamilyDef::gauge("depth", "Depth.");
    /// assert_eq!(def.kind(), perf_instrument::MetricKind::Gauge);
    /// ```
    #[must_use]
    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        Self::new(MetricKind::Gauge, name, help)
    }

    /// A histogram family.
    ///
    /// ```
    /// let def = perf_instrument::FamilyDef::histogram("size", "Size.");
    /// assert_eq!(def.kind(), perf_instrument::MetricKind::Histogram);
    /// ```
    #[must_use]
    pub const fn histogram(name: &'static str, help: &'static str) -> Self {
        Self::new(MetricKind::Histogram, name, help)
    }

    /// The unit (default [`Unit::Count`]).
    ///
    /// ```
    /// use perf_instrument::{FamilyDef, Unit};
    /// assert_eq!(FamilyDef::histogram("w_seconds", "W.").unit(Unit::Seconds).unit_of(), Unit::Seconds);
    /// ```
    #[must_use]
    pub const fn unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }

    /// The label names.
    ///
    /// ```
    /// let def = perf_instrument::FamilyDef::gauge("depth", "D.").labels(&["queue"]);
    /// assert_eq!(def.label_names(), ["queue"]);
    /// ```
    #[must_use]
    pub const fn labels(mut self, labels: &'static [&'static str]) -> Self {
        self.labels = labels;
        self
    }

    /// The report tables this family (a histogram) in `spec`.
    ///
    /// ```
    /// use perf_instrument::{FamilyDef, TableSpec};
    /// let def = FamilyDef::histogram("size", "S.").table(TableSpec::new("sizes", "{kind}"));
    /// assert_eq!(def.tabling().spec().map(|s| s.title()), Some("sizes"));
    /// ```
    #[must_use]
    pub const fn table(mut self, spec: TableSpec) -> Self {
        self.tabling = Tabling::Table(spec);
        self
    }

    /// The report does not table this family, for `reason`.
    ///
    /// ```
    /// use perf_instrument::{FamilyDef, Tabling};
    /// let def = FamilyDef::counter("jobs", "J.").not_tabled("a counter");
    /// assert_eq!(def.tabling(), Tabling::NotTabled("a counter"));
    /// ```
    #[must_use]
    pub const fn not_tabled(mut self, reason: &'static str) -> Self {
        self.tabling = Tabling::NotTabled(reason);
        self
    }

    /// The registered name is the caller's prefix, `_`, then [`name`](Self::name); the help is
    /// the caller's, a space, then [`help`](Self::help).
    ///
    /// ```
    /// let def = perf_instrument::FamilyDef::gauge("active_tasks", "Tasks running now.").caller_prefix();
    /// assert!(def.has_caller_prefix());
    /// let opts = def.prefixed_opts("backup", "Backups.");
    /// assert_eq!(opts.name(), "backup_active_tasks");
    /// ```
    #[must_use]
    pub const fn caller_prefix(mut self) -> Self {
        self.caller_prefix = true;
        self
    }

    /// The caller may add label names after [`label_names`](Self::label_names).
    ///
    /// ```
    /// let def = perf_instrument::FamilyDef::gauge("f", "F.").labels(&["function"]).caller_labels();
    /// assert!(def.has_caller_labels());
    /// ```
    #[must_use]
    pub const fn caller_labels(mut self) -> Self {
        self.caller_labels = true;
        self
    }

    /// The family name (for a counter, without `_total`; with a caller prefix, the part after
    /// it).
    ///
    /// ```
    /// assert_eq!(perf_instrument::FamilyDef::counter("jobs", "J.").name(), "jobs");
    /// ```
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The help text (with a caller prefix, the part after the caller's).
    ///
    /// ```
    /// assert_eq!(perf_instrument::FamilyDef::counter("jobs", "Jobs.").help(), "Jobs.");
    /// ```
    #[must_use]
    pub const fn help(&self) -> &'static str {
        self.help
    }

    /// The kind.
    ///
    /// ```
    /// use perf_instrument::{FamilyDef, MetricKind};
    /// assert_eq!(FamilyDef::gauge("g", "G.").kind(), MetricKind::Gauge);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> MetricKind {
        self.kind
    }

    /// The unit.
    ///
    /// ```
    /// use perf_instrument::{FamilyDef, Unit};
    /// assert_eq!(FamilyDef::gauge("g", "G.").unit_of(), Unit::Count);
    /// ```
    #[must_use]
    pub const fn unit_of(&self) -> Unit {
        self.unit
    }

    /// The label names (with [`caller_labels`](Self::caller_labels), the fixed ones).
    ///
    /// ```
    /// assert!(perf_instrument::FamilyDef::gauge("g", "G.").label_names().is_empty());
    /// ```
    #[must_use]
    pub const fn label_names(&self) -> &'static [&'static str] {
        self.labels
    }

    /// How the report tables the family.
    ///
    /// ```
    /// use perf_instrument::{FamilyDef, Tabling};
    /// assert_eq!(FamilyDef::gauge("g", "G.").not_tabled("a gauge").tabling(), Tabling::NotTabled("a gauge"));
    /// ```
    #[must_use]
    pub const fn tabling(&self) -> Tabling {
        self.tabling
    }

    /// Whether the caller prefixes the name.
    ///
    /// ```
    /// assert!(!perf_instrument::FamilyDef::gauge("g", "G.").has_caller_prefix());
    /// ```
    #[must_use]
    pub const fn has_caller_prefix(&self) -> bool {
        self.caller_prefix
    }

    /// Whether the caller may add label names.
    ///
    /// ```
    /// assert!(!perf_instrument::FamilyDef::gauge("g", "G.").has_caller_labels());
    /// ```
    #[must_use]
    pub const fn has_caller_labels(&self) -> bool {
        self.caller_labels
    }

    /// The options to register the family with (pass them to the `register_*` of its kind).
    ///
    /// ```
    /// use perf_instrument::{FamilyDef, Registry, Unit};
    /// const WAIT: FamilyDef = FamilyDef::histogram("wait_seconds", "Wait.").unit(Unit::Seconds).labels(&["queue"]);
    /// let registry = Registry::new();
    /// let family = registry.register_histogram(WAIT.opts()).unwrap();
    /// assert_eq!(family.descriptor().label_names(), ["queue"]);
    /// ```
    #[must_use]
    pub fn opts(&self) -> Opts {
        self.with_table(Opts::new(self.name, self.help))
    }

    /// The options for a family whose name and help the caller prefixes (see
    /// [`caller_prefix`](Self::caller_prefix)).
    ///
    /// ```
    /// use perf_instrument::{FamilyDef, Unit};
    /// const DURATION: FamilyDef =
    ///     FamilyDef::histogram("duration_seconds", "Duration.").unit(Unit::Seconds).caller_prefix();
    /// assert_eq!(DURATION.prefixed_opts("backup", "Backups.").name(), "backup_duration_seconds");
    /// ```
    #[must_use]
    pub fn prefixed_opts(&self, prefix: &str, help: &str) -> Opts {
        self.with_table(Opts::new(
            format!("{prefix}_{}", self.name),
            format!("{help} {}", self.help),
        ))
    }

    fn with_table(&self, opts: Opts) -> Opts {
        let opts = opts.unit(self.unit).labels(self.labels.iter().copied());
        match self.tabling {
            Tabling::Table(spec) => opts.report_table(spec),
            Tabling::NotTabled(_) => opts,
        }
    }
}
