//! The arguments of `#[timed(...)]`: parsed, checked, and every error reported on the user's
//! own tokens.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ExprLit, Lit, LitStr, Path, Token};

/// What every "unknown option" error lists.
pub(crate) const VALID_OPTIONS: &str = "valid options: `name = \"...\"`, `in_flight`, \
     `labels(key = \"value\", ...)`, `buckets = [seconds, ...]`, `error_if = path`, \
     `pipeline = \"...\"` with `stage = \"...\"`, `registry = path::to::fn`, `crate = path`";

/// Label names the families already use (or Prometheus reserves).
const RESERVED_LABELS: &[&str] = &["function", "module", "outcome", "le", "quantile"];

/// The checked arguments.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) in_flight: bool,
    pub(crate) labels: Vec<(LitStr, LitStr)>,
    pub(crate) buckets: Option<Vec<f64>>,
    pub(crate) error_if: Option<Expr>,
    pub(crate) pipeline: Option<LitStr>,
    pub(crate) stage: Option<LitStr>,
    pub(crate) registry: Option<Expr>,
    pub(crate) krate: Option<Path>,
}

/// Where each option was given, for errors about combinations.
#[derive(Default)]
struct Seen {
    name: Option<Span>,
    in_flight: Option<Span>,
    labels: Option<Span>,
    buckets: Option<Span>,
    error_if: Option<Span>,
    pipeline: Option<Span>,
    stage: Option<Span>,
    registry: Option<Span>,
    krate: Option<Span>,
}

impl Args {
    /// Parses and checks the tokens inside `#[timed(...)]`.
    pub(crate) fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut seen = Seen::default();
        let parser = syn::meta::parser(|meta| args.option(&meta, &mut seen));
        syn::parse::Parser::parse2(parser, tokens)?;
        args.check_combinations(&seen)?;
        Ok(args)
    }
}

fn once(slot: &mut Option<Span>, meta: &ParseNestedMeta<'_>, option: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("duplicate `#[timed]` option `{option}`")));
    }
    *slot = Some(meta.path.span());
    Ok(())
}

impl Args {
    fn option(&mut self, meta: &ParseNestedMeta<'_>, seen: &mut Seen) -> syn::Result<()> {
        let path = &meta.path;
        if path.is_ident("name") {
            once(&mut seen.name, meta, "name")?;
            let name = string_value(meta, "name", "the `function` label value")?;
            if name.value().is_empty() {
                return Err(syn::Error::new(name.span(), "`name` must not be empty"));
            }
            self.name = Some(name);
        } else if path.is_ident("in_flight") {
            once(&mut seen.in_flight, meta, "in_flight")?;
            if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                return Err(meta.error("`in_flight` takes no value: write `in_flight`"));
            }
            self.in_flight = true;
        } else if path.is_ident("labels") {
            once(&mut seen.labels, meta, "labels")?;
            if !meta.input.peek(syn::token::Paren) {
                return Err(meta.error("`labels` takes a list: `labels(key = \"value\", ...)`"));
            }
            let fork = meta.input.fork();
            let content;
            syn::parenthesized!(content in fork);
            if content.is_empty() {
                return Err(syn::Error::new(
                    path.span(),
                    "`labels(...)` is empty: give at least one `key = \"value\"`, or leave it out",
                ));
            }
            meta.parse_nested_meta(|label| self.label(&label))?;
        } else if path.is_ident("buckets") {
            once(&mut seen.buckets, meta, "buckets")?;
            self.buckets = Some(buckets(meta)?);
        } else if path.is_ident("error_if") {
            once(&mut seen.error_if, meta, "error_if")?;
            let value = meta.value().map_err(|_| {
                meta.error("`error_if` takes a predicate: `error_if = path::to::fn` (called with `&output`)")
            })?;
            self.error_if = Some(value.parse()?);
        } else if path.is_ident("pipeline") {
            once(&mut seen.pipeline, meta, "pipeline")?;
            self.pipeline = Some(non_empty(
                "pipeline",
                string_value(meta, "pipeline", "the pipeline name")?,
            )?);
        } else if path.is_ident("stage") {
            once(&mut seen.stage, meta, "stage")?;
            self.stage = Some(non_empty(
                "stage",
                string_value(meta, "stage", "the stage name")?,
            )?);
        } else if path.is_ident("registry") {
            once(&mut seen.registry, meta, "registry")?;
            let value = meta.value().map_err(|_| {
                meta.error(
                    "`registry` takes a function: `registry = path::to::fn` (a `fn() -> &'static Registry`)",
                )
            })?;
            self.registry = Some(value.parse()?);
        } else if path.is_ident("crate") {
            once(&mut seen.krate, meta, "crate")?;
            let value = meta.value().map_err(|_| {
                meta.error("`crate` takes a path: `crate = my_reexport::perf_instrument`")
            })?;
            if value.peek(LitStr) {
                let lit: LitStr = value.parse()?;
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "`crate` takes a path, not a string: `crate = {}`",
                        lit.value()
                    ),
                ));
            }
            self.krate = Some(value.call(Path::parse_mod_style)?);
        } else {
            let shown = path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            return Err(meta.error(format!(
                "unknown `#[timed]` option `{shown}`; {VALID_OPTIONS}"
            )));
        }
        Ok(())
    }

    fn label(&mut self, label: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(key) = label.path.get_ident() else {
            return Err(label.error("a label name is a single identifier: `key = \"value\"`"));
        };
        let key_name = key.to_string();
        let key_name = key_name.strip_prefix("r#").unwrap_or(&key_name);
        if let Some(reason) = invalid_label_name(key_name) {
            return Err(syn::Error::new(
                key.span(),
                format!("invalid label name `{key_name}`: {reason}"),
            ));
        }
        if self.labels.iter().any(|(k, _)| k.value() == key_name) {
            return Err(syn::Error::new(
                key.span(),
                format!("duplicate label `{key_name}`"),
            ));
        }
        let value = label.value().map_err(|_| {
            label.error(format!(
                "label `{key_name}` needs a value: `{key_name} = \"value\"`"
            ))
        })?;
        let value: Expr = value.parse()?;
        let Expr::Lit(ExprLit {
            lit: Lit::Str(value),
            ..
        }) = value
        else {
            return Err(syn::Error::new_spanned(
                value,
                format!("the value of label `{key_name}` must be a string literal"),
            ));
        };
        self.labels.push((LitStr::new(key_name, key.span()), value));
        Ok(())
    }

    fn check_combinations(&self, seen: &Seen) -> syn::Result<()> {
        let mut errors: Option<syn::Error> = None;
        let mut push = |span: Span, message: &str| {
            let error = syn::Error::new(span, message);
            match &mut errors {
                Some(all) => all.combine(error),
                None => errors = Some(error),
            }
        };
        match (seen.pipeline, seen.stage) {
            (Some(_), None) => push(
                seen.pipeline.unwrap_or_else(Span::call_site),
                "`pipeline` needs `stage`: `#[timed(pipeline = \"orders\", stage = \"enrich\")]`",
            ),
            (None, Some(_)) => push(
                seen.stage.unwrap_or_else(Span::call_site),
                "`stage` needs `pipeline`: `#[timed(pipeline = \"orders\", stage = \"enrich\")]`",
            ),
            _ => {}
        }
        if seen.stage.is_some() {
            if let Some(span) = seen.buckets {
                push(
                    span,
                    "`buckets` cannot be combined with `stage`: stage durations go to \
                     `pipeline_stage_duration_seconds`, whose buckets the pipeline sets",
                );
            }
            if let Some(span) = seen.labels {
                push(
                    span,
                    "`labels` cannot be combined with `stage`: \
                     `pipeline_stage_duration_seconds` has the labels `pipeline` and `stage` only",
                );
            }
        }
        match errors {
            Some(errors) => Err(errors),
            None => Ok(()),
        }
    }
}

fn string_value(meta: &ParseNestedMeta<'_>, option: &str, what: &str) -> syn::Result<LitStr> {
    let value = meta.value().map_err(|_| {
        meta.error(format!(
            "`{option}` takes a string: `{option} = \"...\"` ({what})"
        ))
    })?;
    let expr: Expr = value.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{option}` takes a string literal: `{option} = \"...\"` ({what})"),
        )),
    }
}

fn non_empty(option: &str, s: LitStr) -> syn::Result<LitStr> {
    if s.value().is_empty() {
        Err(syn::Error::new(
            s.span(),
            format!("`{option}` must not be empty"),
        ))
    } else {
        Ok(s)
    }
}

/// Why `name` is not a usable label name, if it is not.
fn invalid_label_name(name: &str) -> Option<String> {
    if RESERVED_LABELS.contains(&name) {
        return Some(format!(
            "`{name}` is already a label of the `#[timed]` families or reserved by Prometheus; \
             choose another name"
        ));
    }
    if name.starts_with("__") {
        return Some("names starting with `__` are reserved by Prometheus".to_string());
    }
    let mut chars = name.chars();
    let head_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !head_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some("use ASCII letters, digits and `_`, not starting with a digit".to_string());
    }
    None
}

fn buckets(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<f64>> {
    let value = meta.value().map_err(|_| {
        meta.error(
            "`buckets` takes a list of upper bounds in seconds: `buckets = [0.001, 0.01, 0.1]`",
        )
    })?;
    let array: ExprArray = value.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "`buckets` takes a list of upper bounds in seconds: `buckets = [0.001, 0.01, 0.1]`",
        )
    })?;
    if array.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            &array,
            "`buckets` is empty: give at least one upper bound in seconds, or leave it out",
        ));
    }
    let elems: &Punctuated<Expr, Token![,]> = &array.elems;
    let mut out = Vec::with_capacity(elems.len());
    for elem in elems {
        let value = match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Float(f), ..
            }) => f.base10_parse::<f64>()?,
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => i.base10_parse::<u32>().map(f64::from)?,
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "a bucket bound is a number literal in seconds, such as `0.005` or `1`",
                ))
            }
        };
        if !(value.is_finite() && value > 0.0) {
            return Err(syn::Error::new_spanned(
                elem,
                "a bucket bound must be a positive number of seconds",
            ));
        }
        if out.last().is_some_and(|last| *last >= value) {
            return Err(syn::Error::new_spanned(
                elem,
                "bucket bounds must be in ascending order, without repeats",
            ));
        }
        out.push(value);
    }
    Ok(out)
}
