use perf_instrument::timed;

#[timed]
const fn constant() -> u8 {
    1
}

#[timed]
fn never_returns() -> ! {
    loop {}
}

#[timed]
struct NotAFunction;

trait Store {
    #[timed]
    fn get(&self) -> u8;
}

fn main() {}
