//! Type errors inside a timed function, or in its options, point at the user's own tokens.
use perf_instrument::timed;

#[timed]
fn wrong_body() -> u32 {
    "not a number"
}

#[timed(error_if = Option::is_none)]
fn predicate_for_another_type() -> Result<u8, String> {
    Ok(1)
}

#[timed]
async fn wrong_async_body() -> Result<u8, String> {
    let value: u8 = "7".parse()?;
    Ok(value)
}

fn main() {}
