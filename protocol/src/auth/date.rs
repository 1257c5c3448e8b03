//! Dates in delegation messages: `Date.prototype.toISOString()` formatting and
//! the two parsers (compat: the ECMAScript date-time string format `Date.parse`
//! accepts; strict: RFC 3339 date-times only).
//!
//! Hand-written rather than a date crate because the compat rules (date-only forms
//! are UTC, extended `±YYYYYY` years, `24:00`) are JavaScript's, not RFC 3339's.
//! Must not: consult the local time zone (a date-time without offset, local time in
//! V8, is read as UTC here — a documented difference; real clients always send `Z`).

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Formats Unix milliseconds exactly like `new Date(ms).toISOString()`
/// (`YYYY-MM-DDTHH:mm:ss.sssZ`; years outside 0..=9999 as `±YYYYYY`).
pub fn to_iso_string(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y < 0 {
        format!("-{:06}", -y)
    } else {
        format!("+{y:06}")
    };
    format!("{year}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// A tiny cursor over ASCII digits and punctuation.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        let mut v = 0i64;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        self.i = end;
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Largest instant a JavaScript `Date` can hold (±8.64e15 ms).
const JS_MAX_MS: i64 = 8_640_000_000_000_000;

/// `Date.parse` restricted to the ECMAScript date-time string format (ES2024 §21.4.1.32):
/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, optionally `THH:mm`, `:ss`, `.fraction`, then `Z` or
/// `±HH:mm`; `±YYYYYY` extended years. Date-only forms are UTC. V8's fallback parser
/// (RFC 1123, `MM/DD/YYYY`…) is not reproduced: such texts are reported unparseable.
pub fn parse_js_date(text: &str) -> Option<i64> {
    parse(text, false)
}

/// RFC 3339 date-time (`YYYY-MM-DDTHH:mm:ss[.f+](Z|±HH:mm)`): what every client emits.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    parse(text, true)
}

fn parse(text: &str, strict: bool) -> Option<i64> {
    let mut c = Cursor {
        b: text.as_bytes(),
        i: 0,
    };
    let year = match c.peek()? {
        b'+' | b'-' if !strict => {
            let neg = c.eat(b'-');
            if !neg {
                c.eat(b'+');
            }
            let y = c.digits(6)?;
            if neg && y == 0 {
                return None; // "-000000" is explicitly invalid in ECMAScript
            }
            if neg {
                -y
            } else {
                y
            }
        }
        _ => c.digits(4)?,
    };
    let (mut month, mut day) = (1u32, 1u32);
    let mut date_only = true;
    if c.eat(b'-') {
        month = u32::try_from(c.digits(2)?).ok()?;
        if c.eat(b'-') {
            day = u32::try_from(c.digits(2)?).ok()?;
        } else if strict {
            return None;
        }
    } else if strict {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms_of_day = 0i64;
    let mut offset_min = 0i64;
    if c.eat(b'T') || (strict && c.eat(b't')) {
        date_only = false;
        let h = c.digits(2)?;
        if !c.eat(b':') {
            return None;
        }
        let mi = c.digits(2)?;
        let mut s = 0;
        let mut frac_ms = 0;
        if c.eat(b':') {
            s = c.digits(2)?;
            if c.eat(b'.') {
                // Any number of fraction digits; only the first three matter.
                let mut n = 0;
                while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
                    if n < 3 {
                        frac_ms = frac_ms * 10 + i64::from(d - b'0');
                    }
                    n += 1;
                    c.i += 1;
                }
                if n == 0 {
                    return None;
                }
                for _ in n..3 {
                    frac_ms *= 10;
                }
            }
        } else if strict {
            return None;
        }
        let is_midnight_24 = h == 24 && mi == 0 && s == 0 && frac_ms == 0;
        if (h > 23 && !is_midnight_24) || mi > 59 || s > 59 || (strict && h > 23) {
            return None;
        }
        ms_of_day = ((h * 60 + mi) * 60 + s) * 1000 + frac_ms;
        match c.peek() {
            Some(b'Z') => {
                c.i += 1;
            }
            Some(b'z') if strict => {
                c.i += 1;
            }
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let oh = c.digits(2)?;
                if !c.eat(b':') {
                    return None;
                }
                let om = c.digits(2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                offset_min = (oh * 60 + om) * if sign == b'+' { 1 } else { -1 };
            }
            // No offset: local time in V8; UTC here (see the module note).
            _ if !strict => {}
            _ => return None,
        }
    } else if strict {
        return None;
    }
    let _ = date_only;
    if !c.done() {
        return None;
    }
    let ms = days_from_civil(year, month, day)
        .checked_mul(86_400_000)?
        .checked_add(ms_of_day)?
        .checked_sub(offset_min * 60_000)?;
    (ms.abs() <= JS_MAX_MS).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip() {
        assert_eq!(to_iso_string(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(to_iso_string(1_579_561_031_334), "2020-01-20T22:57:11.334Z");
        assert_eq!(
            parse_js_date("2020-01-20T22:57:11.334Z"),
            Some(1_579_561_031_334)
        );
        assert_eq!(
            parse_rfc3339("2020-01-20T22:57:11.334Z"),
            Some(1_579_561_031_334)
        );
        assert_eq!(
            to_iso_string(253_402_300_800_000),
            "+010000-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn js_forms() {
        assert_eq!(
            parse_js_date("2099-12-31"),
            parse_js_date("2099-12-31T00:00:00Z")
        );
        assert_eq!(parse_js_date("1970"), Some(0));
        assert_eq!(parse_js_date("1970-01-01T01:00+01:00"), Some(0));
        assert_eq!(parse_js_date("1970-01-01T24:00:00Z"), Some(86_400_000));
        assert_eq!(parse_js_date("tomorrow"), None);
        assert_eq!(parse_js_date(" 2099-12-31"), None);
        assert_eq!(parse_js_date("2099-02-30"), None);
        assert_eq!(parse_rfc3339("2099-12-31"), None);
        assert_eq!(parse_rfc3339("2099-12-31T00:00:00"), None);
        assert_eq!(
            parse_rfc3339("2099-12-31T00:00:00.123456+05:00").map(|ms| ms % 1000),
            Some(123)
        );
    }
}
