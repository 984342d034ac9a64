use perf_instrument::timed;

#[timed(stage = "enrich")]
fn stage_alone() {}

#[timed(pipeline = "orders")]
fn pipeline_alone() {}

#[timed(pipeline = "orders", stage = "enrich", buckets = [1], labels(a = "b"))]
fn stage_with_family_options() {}

#[timed(pipeline = "", stage = "enrich")]
fn empty_pipeline() {}

#[timed(pipeline = "orders", stage = "")]
fn empty_stage() {}

#[timed(error_if = Option::is_none)]
fn error_if_without_output() {}

fn main() {}
