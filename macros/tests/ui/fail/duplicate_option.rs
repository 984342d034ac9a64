use perf_instrument::timed;

#[timed(name = "a", name = "b")]
fn twice() {}

#[timed(in_flight, in_flight)]
fn in_flight_twice() {}

#[timed(labels(a = "1"), labels(b = "2"))]
fn labels_twice() {}

#[timed(buckets = [0.1], buckets = [0.2])]
fn buckets_twice() {}

#[timed(error_if = Option::is_none, error_if = Option::is_some)]
fn error_if_twice() -> Option<u8> {
    None
}

#[timed(pipeline = "a", pipeline = "b", stage = "s")]
fn pipeline_twice() {}

#[timed(pipeline = "a", stage = "s", stage = "t")]
fn stage_twice() {}

#[timed(crate = perf_instrument, crate = perf_instrument)]
fn crate_twice() {}

fn main() {
    twice();
    in_flight_twice();
}
