use perf_instrument::timed;

#[timed(name = "a", name = "b")]
fn twice() {}

#[timed(in_flight, in_flight)]
fn in_flight_twice() {}

fn main() {
    twice();
    in_flight_twice();
}
