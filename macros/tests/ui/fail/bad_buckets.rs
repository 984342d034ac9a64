use perf_instrument::timed;

#[timed(buckets = 0.5)]
fn not_a_list() {}

#[timed(buckets = [])]
fn empty() {}

#[timed(buckets = [0.5, 0.1])]
fn descending() {}

#[timed(buckets = [0.1, 0.1])]
fn repeated() {}

#[timed(buckets = [0.0, 1.0])]
fn zero() {}

#[timed(buckets = [LIMIT])]
fn not_a_literal() {}

const LIMIT: f64 = 1.0;

fn main() {}
