//! The expansion of `#[timed]`: a per-call-site `static`, two clock reads around the body, and
//! the outcome of the call.

use crate::args::Args;
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    AttrStyle, Attribute, GenericArgument, ItemFn, PathArguments, ReturnType, TraitItemFn, Type,
    TypeParamBound,
};

/// How the function hands back its result.
enum Shape {
    /// A plain function: timed around the body.
    Sync,
    /// `async fn`: timed from the first poll to completion.
    Async,
    /// A function returning `impl Future`: the returned future is timed from its first poll.
    ImplFuture,
    /// A function returning `Pin<Box<dyn Future>>` (as `async-trait` writes them): the future is
    /// timed from its first poll, in a second box.
    BoxedFuture,
}

/// Expands `#[timed(args)] item`.
pub(crate) fn expand(args: &Args, item: TokenStream) -> syn::Result<TokenStream> {
    let function = parse_function(item)?;
    check_signature(args, &function)?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = &function;
    let (inner_attrs, outer_attrs): (Vec<&Attribute>, Vec<&Attribute>) = attrs
        .iter()
        .partition(|a| matches!(a.style, AttrStyle::Inner(_)));

    let krate = match &args.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::perf_instrument),
    };
    let private = quote!(#krate::__private);
    let shape = shape(&function);

    let site = Ident::new("__perf_instrument_site", Span::mixed_site());
    let site_static = Ident::new("__PERF_INSTRUMENT_SITE", Span::mixed_site());
    let call = Ident::new("__perf_instrument_call", Span::mixed_site());
    let output = Ident::new("__perf_instrument_output", Span::mixed_site());
    let future = Ident::new("__perf_instrument_future", Span::mixed_site());

    let config = site_config(args, &function, &shape, &private);
    // The static lives in a block of its own: items are not hygienic, and one declared in the
    // function's scope would shadow an outer item of the same name that the body uses.
    let declare_site = quote! {
        let #site: &'static #private::Site = {
            static #site_static: #private::Site = #private::Site::new(#config);
            &#site_static
        };
    };

    let ret = annotation_type(&sig.output);
    let unit = returns_unit(&sig.output);
    let body = match shape {
        Shape::Sync if unit => quote! {
            let #call = #site.enter();
            #private::call_once::<(), _>(move || #block);
            #call.finish(#private::Outcome::Ok);
        },
        Shape::Sync => {
            let outcome = outcome(args, &private, &quote!(&#output));
            quote! {
                let #call = #site.enter();
                let #output = #private::call_once::<#ret, _>(move || #block);
                #call.finish(#outcome);
                #output
            }
        }
        Shape::Async => {
            let outcome = outcome(args, &private, &output.to_token_stream());
            quote! {
                #site
                    .time_future(
                        #private::typed_future::<#ret, _>(async move #block),
                        |#output| #outcome,
                    )
                    .await
            }
        }
        Shape::ImplFuture => {
            let outcome = outcome(args, &private, &output.to_token_stream());
            quote! {
                let #future = #private::call_once::<#ret, _>(move || #block);
                #site.time_future(#future, |#output| #outcome)
            }
        }
        Shape::BoxedFuture => {
            let outcome = outcome(args, &private, &output.to_token_stream());
            quote! {
                let #future = #private::call_once::<#ret, _>(move || #block);
                ::std::boxed::Box::pin(#site.time_future(#future, |#output| #outcome))
            }
        }
    };
    Ok(quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #declare_site
            #body
        }
    })
}

/// The item as a function with a body, or an error saying where `#[timed]` goes.
fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => Ok(function),
        Err(error) => match syn::parse2::<TraitItemFn>(item.clone()) {
            Ok(TraitItemFn {
                default: None,
                semi_token,
                sig,
                ..
            }) => Err(syn::Error::new(
                semi_token.map_or_else(|| sig.ident.span(), |s| s.span()),
                "`#[timed]` needs a function body: put it on the function's implementation \
                 (for a trait method, on the method in each `impl`)",
            )),
            Ok(_) => Err(error),
            Err(_) => Err(syn::Error::new(
                item.into_iter()
                    .next()
                    .map_or_else(Span::call_site, |t| t.span()),
                "`#[timed]` goes on a function: a free function, a method or a trait impl method",
            )),
        },
    }
}

fn check_signature(args: &Args, function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "`#[timed]` cannot time a `const fn`: reading the clock is not possible at compile \
             time; remove `const` or the attribute",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "`#[timed]` cannot time a variadic function",
        ));
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if let Type::Never(never) = &**ty {
            return Err(syn::Error::new(
                never.span(),
                "`#[timed]` cannot time a function that never returns (`-> !`): there is no end \
                 to measure",
            ));
        }
    }
    if let Some(predicate) = &args.error_if {
        if returns_unit(&sig.output) {
            return Err(syn::Error::new_spanned(
                predicate,
                "`error_if` needs a function that returns a value to judge; this one returns `()`",
            ));
        }
    }
    Ok(())
}

fn returns_unit(output: &ReturnType) -> bool {
    match output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()),
    }
}

fn shape(function: &ItemFn) -> Shape {
    if function.sig.asyncness.is_some() {
        return Shape::Async;
    }
    let ReturnType::Type(_, ty) = &function.sig.output else {
        return Shape::Sync;
    };
    match &**ty {
        Type::ImplTrait(bounds) if bounds_name_future(bounds.bounds.iter()) => Shape::ImplFuture,
        Type::Path(path) if is_pinned_boxed_future(path) => Shape::BoxedFuture,
        _ => Shape::Sync,
    }
}

fn bounds_name_future<'a>(mut bounds: impl Iterator<Item = &'a TypeParamBound>) -> bool {
    bounds.any(|b| match b {
        TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == "Future"),
        _ => false,
    })
}

/// `Pin<Box<dyn Future<...> + ...>>`, with any paths to `Pin` and `Box`.
fn is_pinned_boxed_future(path: &syn::TypePath) -> bool {
    let Some(pin) = path.path.segments.last() else {
        return false;
    };
    let Some(Type::Path(boxed)) = single_type_argument(pin, "Pin") else {
        return false;
    };
    let Some(boxed) = boxed.path.segments.last() else {
        return false;
    };
    matches!(
        single_type_argument(boxed, "Box"),
        Some(Type::TraitObject(object)) if bounds_name_future(object.bounds.iter())
    )
}

fn single_type_argument<'a>(segment: &'a syn::PathSegment, name: &str) -> Option<&'a Type> {
    if segment.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    let first = types.next()?;
    types.next().is_none().then_some(first)
}

/// The return type as a type argument inside the body: `impl Trait` (not allowed there)
/// becomes `_`, to be inferred.
fn annotation_type(output: &ReturnType) -> TokenStream {
    struct Infer;
    impl VisitMut for Infer {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(t) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](t.span()),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    match output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            Infer.visit_type_mut(&mut ty);
            ty.to_token_stream()
        }
    }
}

/// Whether the declared output is a `Result` (by the last path segment's name, so `io::Result`
/// and other aliases named `Result` count), or judged by `error_if`: the `error` series is then
/// created with the others, at zero.
fn fallible(args: &Args, function: &ItemFn) -> bool {
    if args.error_if.is_some() {
        return true;
    }
    let ReturnType::Type(_, ty) = &function.sig.output else {
        return false;
    };
    let named_result = |ty: &Type| match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        _ => false,
    };
    if named_result(ty) {
        return true;
    }
    // `impl Future<Output = Result<..>>`
    if let Type::ImplTrait(bounds) = &**ty {
        return bounds.bounds.iter().any(|b| match b {
            TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| {
                matches!(&s.arguments, PathArguments::AngleBracketed(a) if a.args.iter().any(|g| {
                    matches!(g, GenericArgument::AssocType(assoc) if assoc.ident == "Output" && named_result(&assoc.ty))
                }))
            }),
            _ => false,
        });
    }
    false
}

/// The expression computing the call's `Outcome` from `output_ref`, a reference to the output.
fn outcome(args: &Args, private: &TokenStream, output_ref: &TokenStream) -> TokenStream {
    match &args.error_if {
        // The output first, so its type is known and a predicate of another type is the
        // error, reported on the predicate's own tokens.
        Some(predicate) => quote!(#private::judge(#output_ref, #predicate)),
        None => quote! {{
            #[allow(unused_imports)]
            use #private::{OutcomeOfAny as _, OutcomeOfResult as _};
            (#output_ref).__perf_instrument_outcome()
        }},
    }
}

fn site_config(
    args: &Args,
    function: &ItemFn,
    shape: &Shape,
    private: &TokenStream,
) -> TokenStream {
    let function_name = match &args.name {
        Some(name) => name.value(),
        None => {
            let ident = function.sig.ident.to_string();
            ident.strip_prefix("r#").unwrap_or(&ident).to_string()
        }
    };
    let mut config = quote! {
        #private::SiteConfig::new(#function_name, ::core::module_path!())
    };
    if !args.labels.is_empty() {
        let pairs = args.labels.iter().map(|(k, v)| quote!((#k, #v)));
        config.extend(quote!(.labels(&[#(#pairs),*])));
    }
    if let Some(buckets) = &args.buckets {
        let bounds = buckets.iter().map(|b| Literal::f64_suffixed(*b));
        config.extend(quote!(.buckets(&[#(#bounds),*])));
    }
    if let (Some(pipeline), Some(stage)) = (&args.pipeline, &args.stage) {
        config.extend(quote!(.stage(#pipeline, #stage)));
    }
    if args.in_flight {
        config.extend(quote!(.in_flight()));
    }
    if let Some(registry) = &args.registry {
        config.extend(quote!(.registry(#registry)));
    }
    if !matches!(shape, Shape::Sync) {
        config.extend(quote!(.asynchronous()));
    }
    if fallible(args, function) {
        config.extend(quote!(.fallible()));
    }
    config
}
