//! Claim conditions: leaf tests on one claim, combined with all/any/not.
//!
//! One leaf evaluator ([`Operator::test`]) serves both the request path
//! ([`Condition::evaluate`], short-circuiting, no allocation) and the explain form
//! ([`Condition::trace`], the whole tree with results), so the CLI can never disagree
//! with the filter.

use super::Pattern;
use crate::claims::{ClaimPath, ClaimsObject};
use serde_json::{Number, Value};
use std::cmp::Ordering;
use std::fmt;

/// The deepest nesting of all/any/not accepted; bounds recursion when evaluating
/// (real policies nest two or three levels).
pub const MAX_CONDITION_DEPTH: usize = 16;

/// Longest rendering of a claim value in an explain trace.
const MAX_TRACE_VALUE_LEN: usize = 120;

/// A compiled claim condition.
#[derive(Debug, Clone)]
pub enum Condition {
    Claim { path: ClaimPath, op: Operator },
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

/// A JSON scalar literal from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Number(Number),
    String(String),
}

/// One test on a claim value.
#[derive(Debug, Clone)]
pub enum Operator {
    /// Scalar equality; numbers compare by value (`1` equals `1.0`), never across types.
    Equals(Scalar),
    OneOf(Vec<Scalar>),
    /// An array element equals it, or (for a string literal) a space-delimited word of
    /// a string claim equals it (RFC 6749 §3.3 `scope`).
    Contains(Scalar),
    ContainsAll(Vec<Scalar>),
    ContainsAny(Vec<Scalar>),
    Prefix(String),
    Suffix(String),
    /// Full match of a string claim.
    Regex(Pattern),
    /// `true`: present and not null; `false`: absent or null.
    Exists(bool),
    Gt(Number),
    Gte(Number),
    Lt(Number),
    Lte(Number),
}

/// Why a leaf test came out as it did (for traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafNote {
    Matched,
    NotMatched,
    ClaimAbsent,
    NotAString,
    NotANumber,
    NotAListOrString,
}

/// A failed condition: what the client could do about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionFailure {
    /// Scopes named by failing `scope`/`scp` conditions, for `WWW-Authenticate: scope=`.
    pub required_scopes: Vec<String>,
}

/// One node of an explain trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTrace {
    /// The condition as written, e.g. `scope contains_all ["orders:read"]`.
    pub condition: String,
    pub result: bool,
    /// For leaves: the claim value seen, or why the test could not apply.
    pub detail: Option<String>,
    pub children: Vec<ConditionTrace>,
}

impl Condition {
    /// Does the claims object (a `Value` or the token's claims `Map`) satisfy the condition?
    pub fn evaluate<C: ClaimsObject + ?Sized>(&self, claims: &C) -> bool {
        match self {
            Condition::Claim { path, op } => op.test(path.lookup_in(claims)).0,
            Condition::All(items) => items.iter().all(|c| c.evaluate(claims)),
            Condition::Any(items) => items.iter().any(|c| c.evaluate(claims)),
            Condition::Not(inner) => !inner.evaluate(claims),
        }
    }

    /// `Ok` when satisfied; otherwise the failure with the scopes that would help.
    pub fn check<C: ClaimsObject + ?Sized>(&self, claims: &C) -> Result<(), ConditionFailure> {
        if self.evaluate(claims) {
            return Ok(());
        }
        let mut scopes = Vec::new();
        self.collect_scopes(claims, &mut scopes);
        Err(ConditionFailure {
            required_scopes: scopes,
        })
    }

    /// Scopes named by the failing leaves under a failing node. Under `not`, a scope
    /// would hurt rather than help, so nothing is collected there.
    fn collect_scopes<C: ClaimsObject + ?Sized>(&self, claims: &C, out: &mut Vec<String>) {
        match self {
            Condition::Claim { path, op } => {
                if !(path.is_claim("scope") || path.is_claim("scp")) {
                    return;
                }
                let literals: &[Scalar] = match op {
                    Operator::Contains(s) | Operator::Equals(s) => std::slice::from_ref(s),
                    Operator::ContainsAll(list) | Operator::ContainsAny(list) => list,
                    _ => &[],
                };
                for literal in literals {
                    if let Scalar::String(scope) = literal {
                        if !out.contains(scope) {
                            out.push(scope.clone());
                        }
                    }
                }
            }
            Condition::All(items) | Condition::Any(items) => {
                for item in items.iter().filter(|c| !c.evaluate(claims)) {
                    item.collect_scopes(claims, out);
                }
            }
            Condition::Not(_) => {}
        }
    }

    /// The whole tree with each node's result (no short-circuit), for explain.
    pub fn trace<C: ClaimsObject + ?Sized>(&self, claims: &C) -> ConditionTrace {
        match self {
            Condition::Claim { path, op } => {
                let value = path.lookup_in(claims);
                let (result, note) = op.test(value);
                let detail = match (note, value) {
                    (LeafNote::ClaimAbsent, _) | (_, None) => "claim is absent".to_owned(),
                    (LeafNote::NotAString, Some(v)) => format!("not a string: {}", short(v)),
                    (LeafNote::NotANumber, Some(v)) => format!("not a number: {}", short(v)),
                    (LeafNote::NotAListOrString, Some(v)) => {
                        format!("not an array or string: {}", short(v))
                    }
                    (LeafNote::Matched | LeafNote::NotMatched, Some(v)) => {
                        format!("value: {}", short(v))
                    }
                };
                ConditionTrace {
                    condition: format!("{path} {op}"),
                    result,
                    detail: Some(detail),
                    children: Vec::new(),
                }
            }
            Condition::All(items) | Condition::Any(items) => {
                let children: Vec<ConditionTrace> = items.iter().map(|c| c.trace(claims)).collect();
                let (name, result) = match self {
                    Condition::All(_) => ("all", children.iter().all(|c| c.result)),
                    _ => ("any", children.iter().any(|c| c.result)),
                };
                ConditionTrace {
                    condition: name.to_owned(),
                    result,
                    detail: None,
                    children,
                }
            }
            Condition::Not(inner) => {
                let child = inner.trace(claims);
                ConditionTrace {
                    condition: "not".to_owned(),
                    result: !child.result,
                    detail: None,
                    children: vec![child],
                }
            }
        }
    }
}

/// An indented tree, one node a line: `[pass]`/`[fail]`, the condition, the detail.
impl fmt::Display for ConditionTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_indented(f, 0)
    }
}

impl ConditionTrace {
    fn write_indented(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let mark = if self.result { "pass" } else { "fail" };
        write!(
            f,
            "{:indent$}[{mark}] {}",
            "",
            self.condition,
            indent = depth * 2
        )?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        writeln!(f)?;
        for child in &self.children {
            child.write_indented(f, depth + 1)?;
        }
        Ok(())
    }
}

fn short(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > MAX_TRACE_VALUE_LEN {
        let mut cut = MAX_TRACE_VALUE_LEN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

impl Operator {
    /// The one leaf evaluator: result plus why.
    pub fn test(&self, value: Option<&Value>) -> (bool, LeafNote) {
        let value = match value {
            None | Some(Value::Null) => {
                let result = matches!(self, Operator::Exists(false));
                return (result, LeafNote::ClaimAbsent);
            }
            Some(value) => value,
        };
        let verdict = |b: bool| {
            (
                b,
                if b {
                    LeafNote::Matched
                } else {
                    LeafNote::NotMatched
                },
            )
        };
        match self {
            Operator::Exists(want) => verdict(*want),
            Operator::Equals(literal) => verdict(scalar_eq(literal, value)),
            Operator::OneOf(list) => verdict(list.iter().any(|l| scalar_eq(l, value))),
            Operator::Contains(literal) => contains(value, std::slice::from_ref(literal), true),
            Operator::ContainsAll(list) => contains(value, list, true),
            Operator::ContainsAny(list) => contains(value, list, false),
            Operator::Prefix(p) => string_test(value, |s| s.starts_with(p.as_str())),
            Operator::Suffix(p) => string_test(value, |s| s.ends_with(p.as_str())),
            Operator::Regex(pattern) => string_test(value, |s| pattern.is_match(s)),
            Operator::Gt(n) => number_test(value, n, |o| o == Ordering::Greater),
            Operator::Gte(n) => number_test(value, n, |o| o != Ordering::Less),
            Operator::Lt(n) => number_test(value, n, |o| o == Ordering::Less),
            Operator::Lte(n) => number_test(value, n, |o| o != Ordering::Greater),
        }
    }
}

fn string_test(value: &Value, test: impl Fn(&str) -> bool) -> (bool, LeafNote) {
    match value.as_str() {
        Some(s) if test(s) => (true, LeafNote::Matched),
        Some(_) => (false, LeafNote::NotMatched),
        None => (false, LeafNote::NotAString),
    }
}

fn number_test(
    value: &Value,
    literal: &Number,
    test: impl Fn(Ordering) -> bool,
) -> (bool, LeafNote) {
    match value {
        Value::Number(n) => {
            let ok = compare_numbers(n, literal).is_some_and(test);
            (
                ok,
                if ok {
                    LeafNote::Matched
                } else {
                    LeafNote::NotMatched
                },
            )
        }
        _ => (false, LeafNote::NotANumber),
    }
}

/// `all = true`: every literal is contained; otherwise at least one.
fn contains(value: &Value, literals: &[Scalar], all: bool) -> (bool, LeafNote) {
    let has = |literal: &Scalar| match value {
        Value::Array(items) => items.iter().any(|item| scalar_eq(literal, item)),
        Value::String(s) => match literal {
            Scalar::String(word) => s.split_ascii_whitespace().any(|w| w == word),
            _ => false,
        },
        _ => false,
    };
    if !matches!(value, Value::Array(_) | Value::String(_)) {
        return (false, LeafNote::NotAListOrString);
    }
    let ok = if all {
        literals.iter().all(has)
    } else {
        literals.iter().any(has)
    };
    (
        ok,
        if ok {
            LeafNote::Matched
        } else {
            LeafNote::NotMatched
        },
    )
}

fn scalar_eq(literal: &Scalar, value: &Value) -> bool {
    match (literal, value) {
        (Scalar::Bool(a), Value::Bool(b)) => a == b,
        (Scalar::String(a), Value::String(b)) => a == b,
        (Scalar::Number(a), Value::Number(b)) => compare_numbers(b, a) == Some(Ordering::Equal),
        _ => false,
    }
}

/// Compares two JSON numbers exactly: integers as integers (no rounding above 2^53),
/// an integer against a float through the float's integer part, floats as floats.
pub fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    match (as_integer(a), as_integer(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        (Some(x), None) => compare_int_float(x, b.as_f64()?),
        (None, Some(y)) => compare_int_float(y, a.as_f64()?).map(Ordering::reverse),
        (None, None) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn as_integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// `i` against `f` without converting `i` to f64 (which rounds above 2^53).
fn compare_int_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // Every i128 we hold fits in ±2^64; floats beyond that are simply larger/smaller.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0; // 2^64
    if f >= LIMIT {
        return Some(Ordering::Less);
    }
    if f <= -LIMIT {
        return Some(Ordering::Greater);
    }
    let floor = f.floor();
    // In range, so the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let floor_int = floor as i128;
    match i.cmp(&floor_int) {
        Ordering::Equal if f > floor => Some(Ordering::Less),
        other => Some(other),
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Number(n) => write!(f, "{n}"),
            Scalar::String(s) => write!(f, "{}", Value::String(s.clone())),
        }
    }
}

fn list(f: &mut fmt::Formatter<'_>, items: &[Scalar]) -> fmt::Result {
    f.write_str("[")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str("]")
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operator::Equals(s) => write!(f, "equals {s}"),
            Operator::OneOf(l) => {
                f.write_str("one_of ")?;
                list(f, l)
            }
            Operator::Contains(s) => write!(f, "contains {s}"),
            Operator::ContainsAll(l) => {
                f.write_str("contains_all ")?;
                list(f, l)
            }
            Operator::ContainsAny(l) => {
                f.write_str("contains_any ")?;
                list(f, l)
            }
            Operator::Prefix(p) => write!(f, "prefix {}", Value::String(p.clone())),
            Operator::Suffix(p) => write!(f, "suffix {}", Value::String(p.clone())),
            Operator::Regex(p) => write!(f, "regex {}", Value::String(p.source().to_owned())),
            Operator::Exists(b) => write!(f, "exists {b}"),
            Operator::Gt(n) => write!(f, "gt {n}"),
            Operator::Gte(n) => write!(f, "gte {n}"),
            Operator::Lt(n) => write!(f, "lt {n}"),
            Operator::Lte(n) => write!(f, "lte {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leaf(path: &str, op: Operator) -> Condition {
        Condition::Claim {
            path: ClaimPath::parse(path).unwrap(),
            op,
        }
    }
    fn s(v: &str) -> Scalar {
        Scalar::String(v.into())
    }
    fn n(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            other => panic!("not a number: {other}"),
        }
    }

    fn claims() -> Value {
        json!({
            "sub": "alice",
            "scope": "orders:read  orders:write profile",
            "scp": ["a", "b"],
            "groups": ["admin", "dev"],
            "email_verified": true,
            "org": {"tier": 2, "ratio": 0.5, "big": 9007199254740993u64},
            "nothing": null,
            "count": 3
        })
    }

    #[test]
    fn every_operator_on_matching_and_failing_values() {
        // (path, operator, expected)
        let table: Vec<(&str, Operator, bool)> = vec![
            ("sub", Operator::Equals(s("alice")), true),
            ("sub", Operator::Equals(s("bob")), false),
            ("email_verified", Operator::Equals(Scalar::Bool(true)), true),
            ("email_verified", Operator::Equals(s("true")), false),
            (
                "org.tier",
                Operator::Equals(Scalar::Number(n(json!(2.0)))),
                true,
            ),
            ("org.tier", Operator::Equals(s("2")), false),
            ("groups", Operator::Equals(s("admin")), false),
            ("sub", Operator::OneOf(vec![s("bob"), s("alice")]), true),
            ("sub", Operator::OneOf(vec![s("bob")]), false),
            ("groups", Operator::Contains(s("admin")), true),
            ("groups", Operator::Contains(s("adm")), false),
            ("scope", Operator::Contains(s("orders:write")), true),
            ("scope", Operator::Contains(s("orders")), false),
            ("sub", Operator::Contains(s("ali")), false),
            (
                "count",
                Operator::Contains(Scalar::Number(n(json!(3)))),
                false,
            ),
            (
                "scope",
                Operator::ContainsAll(vec![s("orders:read"), s("profile")]),
                true,
            ),
            (
                "scope",
                Operator::ContainsAll(vec![s("orders:read"), s("admin")]),
                false,
            ),
            ("scp", Operator::ContainsAll(vec![s("a"), s("b")]), true),
            ("scp", Operator::ContainsAny(vec![s("x"), s("b")]), true),
            ("scp", Operator::ContainsAny(vec![s("x"), s("y")]), false),
            ("sub", Operator::Prefix("ali".into()), true),
            ("sub", Operator::Prefix("bo".into()), false),
            ("sub", Operator::Suffix("ice".into()), true),
            ("sub", Operator::Suffix("x".into()), false),
            ("count", Operator::Prefix("3".into()), false),
            ("sub", Operator::Regex(Pattern::new("a.*e").unwrap()), true),
            ("sub", Operator::Regex(Pattern::new("lic").unwrap()), false),
            ("sub", Operator::Exists(true), true),
            ("missing", Operator::Exists(true), false),
            ("nothing", Operator::Exists(true), false),
            ("missing", Operator::Exists(false), true),
            ("nothing", Operator::Exists(false), true),
            ("sub", Operator::Exists(false), false),
            ("org.tier", Operator::Gt(n(json!(1))), true),
            ("org.tier", Operator::Gt(n(json!(2))), false),
            ("org.tier", Operator::Gte(n(json!(2))), true),
            ("org.tier", Operator::Gte(n(json!(2.5))), false),
            ("org.tier", Operator::Lt(n(json!(2.5))), true),
            ("org.tier", Operator::Lt(n(json!(2))), false),
            ("org.tier", Operator::Lte(n(json!(2))), true),
            ("org.tier", Operator::Lte(n(json!(1.999))), false),
            ("org.ratio", Operator::Gt(n(json!(0.25))), true),
            ("org.ratio", Operator::Lt(n(json!(0))), false),
            ("sub", Operator::Gt(n(json!(0))), false),
            ("missing", Operator::Lt(n(json!(10))), false),
        ];
        for (path, op, want) in table {
            let text = format!("{path} {op}");
            assert_eq!(leaf(path, op).evaluate(&claims()), want, "{text}");
        }
    }

    #[test]
    fn large_integers_compare_exactly() {
        let c = claims();
        let big = 9007199254740993u64; // 2^53 + 1: not representable as f64
        assert!(leaf("org.big", Operator::Equals(Scalar::Number(big.into()))).evaluate(&c));
        assert!(!leaf(
            "org.big",
            Operator::Equals(Scalar::Number((big - 1).into()))
        )
        .evaluate(&c));
        assert!(leaf("org.big", Operator::Gt(n(json!(9007199254740992.0)))).evaluate(&c));
    }

    #[test]
    fn integer_against_float_uses_the_fraction() {
        let cases = [
            (json!(2), json!(2.0), Ordering::Equal),
            (json!(2), json!(1.5), Ordering::Greater),
            (json!(2), json!(2.5), Ordering::Less),
            (json!(-2), json!(-1.5), Ordering::Less),
            (json!(-2), json!(-2.5), Ordering::Greater),
            (json!(u64::MAX), json!(1e300), Ordering::Less),
            (json!(i64::MIN), json!(-1e300), Ordering::Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(
                compare_numbers(&n(a.clone()), &n(b.clone())),
                Some(want),
                "{a} vs {b}"
            );
            assert_eq!(
                compare_numbers(&n(b.clone()), &n(a.clone())),
                Some(want.reverse()),
                "{b} vs {a}"
            );
        }
    }

    #[test]
    fn combinators_follow_boolean_logic() {
        let yes = || leaf("sub", Operator::Exists(true));
        let no = || leaf("missing", Operator::Exists(true));
        let c = claims();
        assert!(Condition::All(vec![yes(), yes()]).evaluate(&c));
        assert!(!Condition::All(vec![yes(), no()]).evaluate(&c));
        assert!(Condition::Any(vec![no(), yes()]).evaluate(&c));
        assert!(!Condition::Any(vec![no(), no()]).evaluate(&c));
        assert!(Condition::Not(Box::new(no())).evaluate(&c));
        assert!(!Condition::Not(Box::new(yes())).evaluate(&c));
    }

    #[test]
    fn not_on_an_absent_claim_is_true() {
        let c = Condition::Not(Box::new(leaf("missing", Operator::Prefix("svc-".into()))));
        assert!(c.evaluate(&claims()));
    }

    #[test]
    fn failing_scope_conditions_report_required_scopes() {
        let c = Condition::All(vec![
            leaf(
                "scope",
                Operator::ContainsAll(vec![s("orders:read"), s("orders:admin")]),
            ),
            leaf("scp", Operator::Contains(s("c"))),
            leaf("groups", Operator::Contains(s("ops"))),
            leaf("scope", Operator::Contains(s("profile"))),
        ]);
        assert_eq!(
            c.check(&claims()),
            Err(ConditionFailure {
                required_scopes: vec!["orders:read".into(), "orders:admin".into(), "c".into()]
            })
        );
    }

    #[test]
    fn failing_non_scope_conditions_report_no_scopes() {
        let c = leaf("groups", Operator::Contains(s("ops")));
        assert_eq!(c.check(&claims()), Err(ConditionFailure::default()));
        let c = Condition::Not(Box::new(leaf("scope", Operator::Contains(s("profile")))));
        assert_eq!(c.check(&claims()), Err(ConditionFailure::default()));
    }

    #[test]
    fn trace_agrees_with_evaluate_and_shows_every_node() {
        let c = Condition::All(vec![
            leaf("groups", Operator::Contains(s("admin"))),
            Condition::Any(vec![
                leaf("missing", Operator::Equals(s("x"))),
                leaf("sub", Operator::Prefix("x".into())),
            ]),
            Condition::Not(Box::new(leaf("sub", Operator::Gt(n(json!(1)))))),
        ]);
        let t = c.trace(&claims());
        assert_eq!(t.result, c.evaluate(&claims()));
        assert!(!t.result);
        assert_eq!(t.children.len(), 3);
        assert!(t.children[0].result);
        assert_eq!(t.children[0].condition, "groups contains \"admin\"");
        let any = &t.children[1];
        assert_eq!(any.condition, "any");
        assert_eq!(any.children[0].detail.as_deref(), Some("claim is absent"));
        assert_eq!(any.children[1].detail.as_deref(), Some("value: \"alice\""));
        assert_eq!(
            t.children[2].children[0].detail.as_deref(),
            Some("not a number: \"alice\"")
        );
        assert!(t.children[2].result);
        assert_eq!(
            t.to_string(),
            "[fail] all\n\
             \x20 [pass] groups contains \"admin\" (value: [\"admin\",\"dev\"])\n\
             \x20 [fail] any\n\
             \x20   [fail] missing equals \"x\" (claim is absent)\n\
             \x20   [fail] sub prefix \"x\" (value: \"alice\")\n\
             \x20 [pass] not\n\
             \x20   [fail] sub gt 1 (not a number: \"alice\")\n"
        );
    }
}
