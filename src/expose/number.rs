//! Number formatting for the text formats.
//!
//! Floats use one canonical form in both formats: the shortest representation that reads back
//! exactly, laid out as Python's `repr` does and switched to exponent form beyond six integer
//! digits as Go does — the form `prometheus_client` calls canonical (`floatToGoString`), so
//! `le="+Inf"`, `le="1.0"`, `le="6.103515625e-05"`, `le="1.048576e+06"`.

/// Appends `v` in canonical float form.
pub(crate) fn push_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    // ryu gives the shortest round-trip digits, in plain or exponent layout ("0.001",
    // "1795459935.4290679", "1e16", "-1.5e-5"); normalise to digits and a decimal exponent.
    let mut buffer = ryu::Buffer::new();
    let printed = buffer.format_finite(v);
    let negative = printed.starts_with('-');
    let (mantissa, exp10) = printed
        .trim_start_matches('-')
        .split_once('e')
        .map_or((printed.trim_start_matches('-'), 0), |(m, e)| {
            (m, e.parse().unwrap_or(0))
        });
    let int_len = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let mut digits = [0u8; 32];
    let mut n = 0;
    let mut leading_zeros = 0i32;
    for &c in mantissa.as_bytes().iter().filter(|c| c.is_ascii_digit()) {
        if n == 0 && c == b'0' {
            leading_zeros += 1;
        } else if n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let (digits, exp) = if n == 0 {
        (&b"0"[..], 0)
    } else {
        (&digits[..n], int_len - 1 - leading_zeros + exp10)
    };
    if negative {
        out.push(b'-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 6 && !negative {
            // Go's switch to exponent form beyond six integer digits.
            push_exponent_form(out, digits, exp);
        } else if exp >= 0 {
            let int_len = exp as usize + 1;
            let (int_part, frac_part) = digits.split_at(int_len.min(digits.len()));
            out.extend_from_slice(int_part);
            out.extend(std::iter::repeat_n(b'0', int_len - int_part.len()));
            out.push(b'.');
            out.extend_from_slice(if frac_part.is_empty() {
                b"0"
            } else {
                frac_part
            });
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
            out.extend_from_slice(digits);
        }
    } else {
        push_exponent_form(out, digits, exp);
    }
}

/// `d.ddde±XX` with trailing zeros of the mantissa dropped and at least two exponent digits.
fn push_exponent_form(out: &mut Vec<u8>, digits: &[u8], exp: i32) {
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.push(b'e');
    out.push(if exp < 0 { b'-' } else { b'+' });
    let magnitude = exp.unsigned_abs();
    if magnitude < 10 {
        out.push(b'0');
    }
    out.extend_from_slice(itoa::Buffer::new().format(magnitude).as_bytes());
}

/// Appends an integer.
pub(crate) fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> String {
        let mut out = Vec::new();
        push_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_match_prometheus_client_canonical_form() {
        // Expected strings: the shortest round-trip digits laid out as Python's `repr` does
        // (`1.0`, `0.0001`, `6.103515625e-05`, `1e+16`), except that positive values with seven
        // to sixteen integer digits take Go's exponent form, as `strconv.FormatFloat(v, 'g', -1,
        // 64)` writes it (`1e+06`, `1.2345675e+06`, `1e+15`). prometheus_client's floatToGoString
        // gives the same strings except from 1e10 to below 1e16, where it writes three exponent
        // digits (`1e+015`); Go's two-digit form is the one used here.
        let cases: [(f64, &str); 28] = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.5, "0.5"),
            (1.5, "1.5"),
            (0.0001220703125, "0.0001220703125"),
            (6.103515625e-05, "6.103515625e-05"),
            (1048576.0, "1.048576e+06"),
            (1e6, "1e+06"),
            (123456.0, "123456.0"),
            (1234567.5, "1.2345675e+06"),
            (1e15, "1e+15"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e21, "1e+21"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (0.001, "0.001"),
            (2.71, "2.71"),
            (-2.5, "-2.5"),
            (-1e-7, "-1e-07"),
            (9.313225746154785e-10, "9.313225746154785e-10"),
            (1.4142135612666606, "1.4142135612666606"),
            (1.2345678901234567e19, "1.2345678901234567e+19"),
            (100.0, "100.0"),
            (64.0, "64.0"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
        ];
        for (v, want) in cases {
            assert_eq!(float(v), want, "{v:e}");
        }
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(-1234567.5), "-1234567.5");
    }

    #[test]
    fn floats_read_back_exactly() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_finite() {
                assert_eq!(float(v).parse::<f64>().unwrap(), v, "{v:e}");
            }
        }
    }
}
