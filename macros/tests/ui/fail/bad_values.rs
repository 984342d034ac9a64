use perf_instrument::timed;

#[timed(name = checkout)]
fn unquoted_name() {}

#[timed(name = "")]
fn empty_name() {}

#[timed(name)]
fn name_without_value() {}

#[timed(in_flight = true)]
fn in_flight_with_value() {}

#[timed(crate = "perf_instrument")]
fn crate_as_string() {}

#[timed(crate)]
fn crate_without_path() {}

#[timed(buckets)]
fn buckets_without_values() {}

#[timed(error_if)]
fn error_if_without_predicate() -> Option<u8> {
    None
}

fn main() {}
