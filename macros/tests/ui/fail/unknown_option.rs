use perf_instrument::timed;

#[timed(nmae = "checkout")]
fn checkout() {}

#[timed(labels(tier = "gold"), in_flight, buckts = [1])]
fn refund() {}

fn main() {
    checkout();
    refund();
}
