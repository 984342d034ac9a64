//! Methods: `&self`, `&mut self` returning a borrow, `self`, trait impls, trait default methods,
//! generic impls, associated functions.
#![deny(warnings, clippy::all, clippy::pedantic)]

use perf_instrument::timed;

#[derive(Default)]
struct Account {
    balance: i64,
    history: Vec<i64>,
}

impl Account {
    #[timed]
    fn new(balance: i64) -> Self {
        Self {
            balance,
            history: Vec::new(),
        }
    }

    #[timed]
    fn balance(&self) -> i64 {
        self.balance
    }

    #[timed]
    fn history_mut(&mut self) -> &mut Vec<i64> {
        &mut self.history
    }

    #[timed]
    fn withdraw(&mut self, amount: i64) -> Result<i64, String> {
        if amount > self.balance {
            return Err(format!("{amount} is more than {}", self.balance));
        }
        self.balance -= amount;
        self.history.push(-amount);
        Ok(self.balance)
    }

    #[timed]
    fn close(self) -> Vec<i64> {
        self.history
    }
}

trait Describe {
    fn describe(&self) -> String;

    #[timed]
    fn shout(&self) -> String {
        self.describe().to_uppercase()
    }
}

impl Describe for Account {
    #[timed]
    fn describe(&self) -> String {
        format!("balance {}", self.balance)
    }
}

struct Wrapper<T>(T);

impl<T: Clone + std::fmt::Debug> Wrapper<T> {
    #[timed]
    fn get(&self) -> T {
        self.0.clone()
    }
}

pub fn main() {
    let mut account = Account::new(10);
    assert_eq!(account.balance(), 10);
    account.history_mut().push(10);
    assert_eq!(account.withdraw(4), Ok(6));
    assert!(account.withdraw(100).is_err());
    assert_eq!(account.describe(), "balance 6");
    assert_eq!(account.shout(), "BALANCE 6");
    assert_eq!(account.close(), vec![10, -4]);
    assert_eq!(Wrapper(3).get(), 3);
    assert_eq!(Wrapper("x").get(), "x");
    let _ = Account::default();

    let text = String::from_utf8(perf_instrument::render_as(
        perf_instrument::Registry::global(),
        perf_instrument::Format::PrometheusText,
    ))
    .expect("UTF-8");
    let calls = |function: &str, outcome: &str| {
        let needle = format!("function_calls_total{{function=\"{function}\",");
        text.lines()
            .find(|l| l.starts_with(&needle) && l.contains(&format!("outcome=\"{outcome}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |v| v.parse::<u64>().expect("a count"))
    };
    for (function, outcome, count) in [
        ("withdraw", "ok", 1),
        ("withdraw", "error", 1),
        ("describe", "ok", 2),
        ("shout", "ok", 1),
        ("get", "ok", 2),
        ("history_mut", "ok", 1),
    ] {
        assert_eq!(calls(function, outcome), count, "{function} {outcome}");
    }
}
