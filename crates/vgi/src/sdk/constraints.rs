//! Value constraints on a function argument.

use arrow_array::ArrayRef;

use super::scalar;
use crate::error::{Error, Result};

/// Restrictions a non-NULL argument value must satisfy. NULL always passes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    /// Allowed values, compared as text (strings as-is, numbers and booleans
    /// in their usual decimal form). Empty = anything.
    pub choices: Vec<String>,
    /// Inclusive lower bound on a numeric value.
    pub ge: Option<f64>,
    /// Inclusive upper bound on a numeric value.
    pub le: Option<f64>,
    /// Exclusive lower bound on a numeric value.
    pub gt: Option<f64>,
    /// Exclusive upper bound on a numeric value.
    pub lt: Option<f64>,
    /// A glob the whole string value must match: `*` matches any run of
    /// characters (possibly empty), `?` exactly one character, everything else
    /// itself. There are no character classes and no escapes.
    pub pattern: Option<String>,
}

impl Constraints {
    /// Restrict to one of `choices`.
    pub fn with_choices<S: Into<String>>(mut self, choices: impl IntoIterator<Item = S>) -> Self {
        self.choices = choices.into_iter().map(Into::into).collect();
        self
    }

    /// Require `value >= bound`.
    pub fn with_ge(mut self, bound: f64) -> Self {
        self.ge = Some(bound);
        self
    }

    /// Require `value <= bound`.
    pub fn with_le(mut self, bound: f64) -> Self {
        self.le = Some(bound);
        self
    }

    /// Require `value > bound`.
    pub fn with_gt(mut self, bound: f64) -> Self {
        self.gt = Some(bound);
        self
    }

    /// Require `value < bound`.
    pub fn with_lt(mut self, bound: f64) -> Self {
        self.lt = Some(bound);
        self
    }

    /// Require the string value to match the glob `pattern` (see [`Constraints::pattern`]).
    pub fn with_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }

    /// True when nothing is constrained.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Check the value at index 0 of `value`; the error names `arg_name` and what was expected.
    pub fn check(&self, arg_name: &str, value: &ArrayRef) -> Result<()> {
        if scalar::is_null(value.as_ref()) {
            return Ok(());
        }
        let fail = |expected: String, got: String| {
            Err(Error::InvalidArgument(format!(
                "argument '{arg_name}' must be {expected}, got {got}"
            )))
        };
        let type_name = || format!("a value of type {}", value.data_type());
        if !self.choices.is_empty() {
            let expected = format!("one of {}", quoted_list(&self.choices));
            match scalar::as_text(value.as_ref()) {
                Some(text) if self.choices.contains(&text) => {}
                Some(text) => return fail(expected, format!("'{text}'")),
                None => return fail(expected, type_name()),
            }
        }
        let bounds = [
            (self.ge, ">=", (|v, b| v >= b) as fn(f64, f64) -> bool),
            (self.le, "<=", |v, b| v <= b),
            (self.gt, ">", |v, b| v > b),
            (self.lt, "<", |v, b| v < b),
        ];
        for (bound, op, holds) in bounds {
            let Some(bound) = bound else { continue };
            match scalar::as_f64(value.as_ref()) {
                Some(v) if holds(v, bound) => {}
                Some(v) => return fail(format!("{op} {bound}"), v.to_string()),
                None => return fail(format!("a number {op} {bound}"), type_name()),
            }
        }
        if let Some(pattern) = &self.pattern {
            let expected = format!("a string matching '{pattern}'");
            match scalar::as_str(value.as_ref()) {
                Some(s) if glob_match(pattern, s) => {}
                Some(s) => return fail(expected, format!("'{s}'")),
                None => return fail(expected, type_name()),
            }
        }
        Ok(())
    }
}

fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|c| format!("'{c}'")).collect();
    quoted.join(", ")
}

/// Whole-string glob match with `*` (any run) and `?` (one character).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{BooleanArray, Float64Array, Int32Array, StringArray};
    use std::sync::Arc;

    fn s(v: &str) -> ArrayRef {
        Arc::new(StringArray::from(vec![v]))
    }

    fn i(v: Option<i32>) -> ArrayRef {
        Arc::new(Int32Array::from(vec![v]))
    }

    #[test]
    fn glob() {
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("a*c", "ac"));
        assert!(glob_match("?b*", "ab"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*a*b", "xxaxxab"));
        assert!(!glob_match("a*c", "abd"));
        assert!(!glob_match("?", ""));
        assert!(!glob_match("abc", "abcd"));
        assert!(glob_match("é?", "éé"));
    }

    #[test]
    fn choices() {
        let c = Constraints::default().with_choices(["fast", "slow", "3"]);
        assert!(c.check("mode", &s("fast")).is_ok());
        assert!(c.check("mode", &i(Some(3))).is_ok());
        assert!(c.check("mode", &i(None)).is_ok());
        let msg = c.check("mode", &s("medium")).unwrap_err().to_string();
        assert!(
            msg.contains("'mode'") && msg.contains("'fast', 'slow'"),
            "{msg}"
        );
        assert!(msg.contains("'medium'"), "{msg}");
        let bool_arg: ArrayRef = Arc::new(BooleanArray::from(vec![true]));
        assert!(c.check("mode", &bool_arg).is_err());
    }

    #[test]
    fn bounds() {
        let c = Constraints::default().with_ge(1.0).with_lt(10.0);
        assert!(c.check("n", &i(Some(1))).is_ok());
        assert!(c.check("n", &i(Some(9))).is_ok());
        let msg = c.check("n", &i(Some(0))).unwrap_err().to_string();
        assert!(
            msg.contains("'n'") && msg.contains(">= 1") && msg.contains("got 0"),
            "{msg}"
        );
        let msg = c.check("n", &i(Some(10))).unwrap_err().to_string();
        assert!(msg.contains("< 10"), "{msg}");
        let nan: ArrayRef = Arc::new(Float64Array::from(vec![f64::NAN]));
        assert!(c.check("n", &nan).is_err());
        let msg = c.check("n", &s("x")).unwrap_err().to_string();
        assert!(msg.contains("a number") && msg.contains("Utf8"), "{msg}");
        let open = Constraints::default().with_gt(0.0).with_le(1.0);
        assert!(open.check("p", &i(Some(0))).is_err());
        assert!(open.check("p", &i(Some(1))).is_ok());
    }

    #[test]
    fn pattern() {
        let c = Constraints::default().with_pattern("col_*");
        assert!(c.check("c", &s("col_a")).is_ok());
        let msg = c.check("c", &s("row_a")).unwrap_err().to_string();
        assert!(msg.contains("'c'") && msg.contains("'col_*'"), "{msg}");
        assert!(c.check("c", &i(Some(1))).is_err());
        assert!(Constraints::default().is_empty() && !c.is_empty());
    }
}
