//! The `#[timed]` attribute of [perf-instrument](https://docs.rs/perf-instrument).
//!
//! Use it through the core crate, which re-exports it (feature `macros`, on by default):
//! `use perf_instrument::timed;`. The expansion calls into the core crate's hidden
//! `__private` module, so the two crates always come in matching versions.

mod args;
mod expand;

use proc_macro::TokenStream;

/// Times a function: its duration, its outcome and (optionally) how many calls are running.
///
/// ```
/// use perf_instrument::timed;
///
/// #[timed]
/// fn parse(input: &str) -> Result<u64, std::num::ParseIntError> {
///     input.trim().parse()
/// }
///
/// # fn main() {
/// assert_eq!(parse(" 42 "), Ok(42));
/// assert!(parse("x").is_err());
/// let text = String::from_utf8(perf_instrument::render_as(
///     perf_instrument::Registry::global(),
///     perf_instrument::Format::PrometheusText,
/// )).unwrap();
/// assert!(text.contains(r#"function_calls_total{function="parse",module="rust_out",outcome="error"} 1"#));
/// # }
/// ```
///
/// Every call records into the process-wide registry ([`Registry::global`]):
///
/// * `function_duration_seconds{function,module}`: a histogram of call durations (every
///   outcome, so its `_count` is the sum of the calls below);
/// * `function_calls_total{function,module,outcome}` with `outcome` one of
///   * `ok`: the function returned (for a `Result`, an `Ok`);
///   * `error`: it returned an `Err` (or a value `error_if` judged an error);
///   * `cancelled`: its future was dropped before it finished;
///   * `panicked`: it panicked (the panic goes on unwinding: nothing is caught);
/// * with `in_flight`, `function_calls_in_flight{function,module}`: calls running now, exact on
///   early return, error, cancellation and panic.
///
/// `function` is the function's name, `module` its `module_path!()`.
///
/// # Sync and async
///
/// A plain function is timed from entry to return. An `async fn`, or a function returning
/// `impl Future` (or `Pin<Box<dyn Future>>`, as `async-trait` writes methods), is timed on the
/// wall clock **from the future's first poll to its completion**, awaits included: what a caller
/// waits for. A future dropped before it completes counts as `cancelled` (with the time until the
/// drop); one dropped before its first poll never ran and is not counted. For a function
/// returning a future, the synchronous code that builds the future is not timed. A `Result`
/// output is recognised by its declared type: a generic `T` that happens to be a `Result` counts
/// as `ok` (use `error_if`). Likewise a future is recognised by the return type as written: one
/// returned through a type alias (such as `futures::future::BoxFuture<'_, T>`) is timed as a
/// plain function, which measures only building the future; write the type out
/// (`Pin<Box<dyn Future<Output = T> + Send + '_>>`) or make the function an `async fn`.
///
/// # Options
///
/// | option | effect |
/// | --- | --- |
/// | `name = "checkout"` | the `function` label value (default: the function's name) |
/// | `in_flight` | also keep `function_calls_in_flight` |
/// | `labels(tier = "gold", ...)` | constant labels added to the families (see below) |
/// | `buckets = [0.001, 0.01, 0.1]` | the classic `le` bounds of `function_duration_seconds`, in seconds |
/// | `error_if = path::to::predicate` | a `fn(&Output) -> bool`: `true` counts the call as `error` |
/// | `pipeline = "orders", stage = "enrich"` | record the duration into `pipeline_stage_duration_seconds{pipeline,stage}` (the family of [`Pipeline`]) instead of `function_duration_seconds`; the calls are still counted in `function_calls_total`. A stage that a `Pipeline` declares is timed by the pipeline: such a function is refused (detached and counted, as below), and a `Pipeline` declaring a stage a function already times fails to build |
/// | `registry = path::to::fn` | register in the registry a `fn() -> &'static Registry` returns (a `static` behind a `LazyLock`, say), instead of [`Registry::global`] |
/// | `crate = path` | where the core crate is, if not at `::perf_instrument` (a re-export) |
///
/// `labels` and `buckets` describe a *family*, which every `#[timed]` function shares: give all
/// of them the same label keys and buckets (for example `labels(service = "api")` everywhere).
/// A function whose keys or buckets differ from those the family was registered with first does
/// not record into it: it records into a detached recorder that is not exported, logs a warning
/// that says so, and counts `perf_instrument_integration_errors_total{integration="timed",
/// reason="registration"}`. Nothing panics. `buckets` are moved up to the nearest bound of the
/// histogram layout, as [`Buckets::from_values`] does.
///
/// Bad options are compile errors on the option's own tokens, naming the valid options.
///
/// ```
/// use perf_instrument::timed;
///
/// struct Store;
///
/// impl Store {
///     #[timed(name = "store_get", in_flight, buckets = [0.0001, 0.001, 0.01], error_if = Option::is_none)]
///     fn get(&self, key: &str) -> Option<String> {
///         (key == "a").then(|| "1".to_string())
///     }
///
///     #[timed(pipeline = "orders", stage = "persist")]
///     async fn persist(&self, order: u64) -> std::io::Result<()> {
///         let _ = order;
///         Ok(())
///     }
/// }
/// # fn main() {
/// assert!(Store.get("b").is_none()); // counted as an error
/// # let _ = Store.persist(1);
/// # }
/// ```
///
/// # What it expands to
///
/// For
///
/// ```ignore
/// #[timed]
/// fn parse(input: &str) -> Result<u64, ParseIntError> {
///     input.trim().parse()
/// }
/// ```
///
/// the expansion is (identifiers starting with `__perf_instrument` are hygienic or prefixed, so
/// they cannot clash with the function's own):
///
/// ```ignore
/// fn parse(input: &str) -> Result<u64, ParseIntError> {
///     // One per call site; its handles are resolved on the first call, against
///     // `Registry::global()`.
///     // (The static sits in a block of its own, so it cannot shadow an item the body uses.)
///     let site: &'static ::perf_instrument::__private::Site = {
///         static SITE: ::perf_instrument::__private::Site =
///             ::perf_instrument::__private::Site::new(
///                 ::perf_instrument::__private::SiteConfig::new("parse", ::core::module_path!())
///                     .fallible(),
///             );
///         &SITE
///     };
///     // First clock read (and the in-flight increment, with `in_flight`).
///     let call = site.enter();
///     // The body runs in a closure, so `return` and `?` end the body, not the timing.
///     let output = ::perf_instrument::__private::call_once::<Result<u64, ParseIntError>, _>(
///         move || { input.trim().parse() },
///     );
///     // Second clock read, one histogram record, one counter increment. If the body panics,
///     // `call` is dropped while unwinding and records `panicked` instead.
///     call.finish(output_outcome /* ok, or error for an `Err` */);
///     output
/// }
/// ```
///
/// An `async fn` keeps its signature and becomes
///
/// ```ignore
/// async fn fetch(id: u64) -> Result<Order, Error> {
///     let site: &'static Site = {
///         static SITE: Site = Site::new(SiteConfig::new("fetch", module_path!())
///             .asynchronous()
///             .fallible());
///         &SITE
///     };
///     site.time_future(typed_future::<Result<Order, Error>, _>(async move { /* body */ }),
///                      |output| /* outcome of `output` */)
///         .await
/// }
/// ```
///
/// where `time_future` reads the clock on the first poll, watches every poll for a panic, and
/// records `cancelled` if it is dropped before the body completes. After the first call, the hot
/// path is two clock reads, one histogram record and one counter increment (about 30 ns on the
/// benchmark machine: see `docs/BENCHMARKS.md`); no lookup, lock or allocation.
///
/// [`Registry::global`]: https://docs.rs/perf-instrument/latest/perf_instrument/struct.Registry.html#method.global
/// [`Pipeline`]: https://docs.rs/perf-instrument/latest/perf_instrument/struct.Pipeline.html
/// [`Buckets::from_values`]: https://docs.rs/perf-instrument/latest/perf_instrument/struct.Buckets.html#method.from_values
#[proc_macro_attribute]
pub fn timed(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = match args::Args::parse(attr.into()) {
        Ok(args) => args,
        Err(error) => return with_item(error, item),
    };
    match expand::expand(&args, item.clone().into()) {
        Ok(tokens) => tokens.into(),
        Err(error) => with_item(error, item),
    }
}

/// The error, followed by the item unchanged: the function stays defined, so a bad option
/// does not also cause "cannot find function" errors wherever it is called.
fn with_item(error: syn::Error, item: TokenStream) -> TokenStream {
    let mut out: TokenStream = error.to_compile_error().into();
    out.extend(item);
    out
}
