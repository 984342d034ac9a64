use perf_instrument::timed;

#[timed(labels(function = "x"))]
fn reserved() {}

#[timed(labels(__meta = "x"))]
fn double_underscore() {}

#[timed(labels(tier = "gold", tier = "free"))]
fn repeated() {}

#[timed(labels(tier = 3))]
fn not_a_string() {}

#[timed(labels(tier))]
fn without_value() {}

#[timed(labels())]
fn empty() {}

#[timed(labels = "tier")]
fn not_a_list() {}

#[timed(labels(a::b = "x"))]
fn path_key() {}

fn main() {}
