//! Claim conditions: leaf tests on one claim, combined with all/any/not.
//!
//! One leaf evaluator ([`Operator::test`]) serves both the request path
//! ([`Condition::truth`], short-circuiting, no allocation) and the explain form
//! ([`Condition::trace`], the whole tree with results), so the CLI can never disagree
//! with the filter.
//!
//! Conditions are typed. A leaf whose claim is present with a type its test does not apply
//! to (`"true"` or `1` for `equals: true`, a number for `prefix`) is neither true nor false
//! but [`Truth::WrongType`], and stays so under `not`: `{"not": {"claim": "contractor",
//! "equals": true}}` must not pass a contractor whose IdP writes `"true"`. `all` and `any`
//! combine the three values as Kleene's logic does (a false member decides `all`, a true one
//! `any`; otherwise a wrong type wins), so a wrong type refuses only when the answer depends
//! on it. An absent (or `null`) claim is no type error: it is false for every test but
//! `exists: false`.
//!
//! `equals_peer` compares a string claim with a value of the request's peer (its URI SAN,
//! or a variable of the rule's URI SAN template): it needs a [`PeerContext`], which the
//! `*_in` forms take. Without a peer value to compare with it is false, as for an absent
//! claim.

use super::peer::{PeerContext, PeerExpr};
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

/// The claims whose string form is space-delimited by specification: OAuth `scope`
/// (RFC 6749 §3.3, RFC 9068 §2.2.3) and `scp`, the name Entra ID and Okta give it. Every
/// other string claim is one value unless a condition says `space_delimited: true`.
pub const SPACE_DELIMITED_CLAIMS: [&str; 2] = ["scope", "scp"];

/// A compiled claim condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Claim { path: ClaimPath, op: Operator },
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

/// What a condition says about a claims set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    Holds,
    Fails,
    /// A claim the answer depends on has a type its test does not apply to.
    WrongType,
}

impl Truth {
    fn negate(self) -> Truth {
        match self {
            Truth::Holds => Truth::Fails,
            Truth::Fails => Truth::Holds,
            Truth::WrongType => Truth::WrongType,
        }
    }

    /// `all`: false if any member is, else a wrong type if any member has one.
    fn all(items: impl Iterator<Item = Truth>) -> Truth {
        let mut result = Truth::Holds;
        for truth in items {
            match truth {
                Truth::Fails => return Truth::Fails,
                Truth::WrongType => result = Truth::WrongType,
                Truth::Holds => {}
            }
        }
        result
    }

    /// `any`: true if any member is, else a wrong type if any member has one.
    fn any(items: impl Iterator<Item = Truth>) -> Truth {
        let mut result = Truth::Fails;
        for truth in items {
            match truth {
                Truth::Holds => return Truth::Holds,
                Truth::WrongType => result = Truth::WrongType,
                Truth::Fails => {}
            }
        }
        result
    }
}

/// A JSON scalar literal from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Number(Number),
    String(String),
}

/// How the `contains` family reads a string claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringClaim {
    /// One value, as if a one-element array: `"admin"` contains `admin`, `"not-really
    /// admin"` does not.
    Value,
    /// Space-delimited words (RFC 6749 §3.3 `scope`).
    Words,
}

/// One test on a claim value.
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    /// Scalar equality; numbers compare by value (`1` equals `1.0`), never across types.
    Equals(Scalar),
    OneOf(Vec<Scalar>),
    /// An array element equals it, or a string claim does (as one value or, for
    /// [`StringClaim::Words`], one of its words).
    Contains(Scalar, StringClaim),
    ContainsAll(Vec<Scalar>, StringClaim),
    ContainsAny(Vec<Scalar>, StringClaim),
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
    /// A string claim equals the peer expression (see [`PeerExpr`]).
    EqualsPeer(PeerExpr),
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
    /// `equals`/`one_of`: the claim's type is none of the literals' types.
    NotOfLiteralType,
    /// `equals_peer`: the peer value it names is absent (no client certificate, no URI SAN,
    /// or one the rule's template does not match).
    PeerAbsent,
}

impl LeafNote {
    /// Whether the claim has a type the test does not apply to.
    pub fn is_wrong_type(self) -> bool {
        matches!(
            self,
            LeafNote::NotAString
                | LeafNote::NotANumber
                | LeafNote::NotAListOrString
                | LeafNote::NotOfLiteralType
        )
    }

    fn truth(self, result: bool) -> Truth {
        match (self.is_wrong_type(), result) {
            (true, _) => Truth::WrongType,
            (false, true) => Truth::Holds,
            (false, false) => Truth::Fails,
        }
    }
}

/// Conditions that did not hold: what the client could do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionFailure {
    /// False. The scopes named by failing `scope`/`scp` conditions, for
    /// `WWW-Authenticate: scope=`.
    Unmet { required_scopes: Vec<String> },
    /// Neither true nor false: a claim had a type its test does not apply to.
    WrongType,
}

impl ConditionFailure {
    /// The scopes that would help (none for a wrong type).
    pub fn required_scopes(&self) -> &[String] {
        match self {
            ConditionFailure::Unmet { required_scopes } => required_scopes,
            ConditionFailure::WrongType => &[],
        }
    }
}

/// One node of an explain trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTrace {
    /// The condition as written, e.g. `scope contains_all ["orders:read"]`.
    pub condition: String,
    pub truth: Truth,
    /// For leaves: the claim value seen, or why the test could not apply.
    pub detail: Option<String>,
    pub children: Vec<ConditionTrace>,
}

impl ConditionTrace {
    /// Whether the node holds.
    pub fn holds(&self) -> bool {
        self.truth == Truth::Holds
    }
}

impl Condition {
    /// Whether the claims object (a `Value` or the token's claims `Map`) satisfies the
    /// condition; a wrong type does not.
    pub fn evaluate<C: ClaimsObject + ?Sized>(&self, claims: &C) -> bool {
        self.truth(claims) == Truth::Holds
    }

    /// The three-valued result (see the module documentation), without a peer.
    pub fn truth<C: ClaimsObject + ?Sized>(&self, claims: &C) -> Truth {
        self.truth_in(claims, &PeerContext::NONE)
    }

    /// The three-valued result for a request from this peer.
    pub fn truth_in<C: ClaimsObject + ?Sized>(&self, claims: &C, peer: &PeerContext<'_>) -> Truth {
        match self {
            Condition::Claim { path, op } => {
                let (result, note) = op.test_in(path.lookup_in(claims), peer);
                note.truth(result)
            }
            Condition::All(items) => Truth::all(items.iter().map(|c| c.truth_in(claims, peer))),
            Condition::Any(items) => Truth::any(items.iter().map(|c| c.truth_in(claims, peer))),
            Condition::Not(inner) => inner.truth_in(claims, peer).negate(),
        }
    }

    /// `Ok` when satisfied; otherwise why not, with the scopes that would help.
    pub fn check<C: ClaimsObject + ?Sized>(&self, claims: &C) -> Result<(), ConditionFailure> {
        self.check_in(claims, &PeerContext::NONE)
    }

    /// [`Condition::check`] for a request from this peer.
    pub fn check_in<C: ClaimsObject + ?Sized>(
        &self,
        claims: &C,
        peer: &PeerContext<'_>,
    ) -> Result<(), ConditionFailure> {
        match self.truth_in(claims, peer) {
            Truth::Holds => Ok(()),
            Truth::WrongType => Err(ConditionFailure::WrongType),
            Truth::Fails => {
                let mut scopes = Vec::new();
                self.collect_scopes(claims, peer, &mut scopes);
                Err(ConditionFailure::Unmet {
                    required_scopes: scopes,
                })
            }
        }
    }

    /// Scopes named by the failing leaves under a failing node. Under `not`, a scope
    /// would hurt rather than help, so nothing is collected there.
    fn collect_scopes<C: ClaimsObject + ?Sized>(
        &self,
        claims: &C,
        peer: &PeerContext<'_>,
        out: &mut Vec<String>,
    ) {
        match self {
            Condition::Claim { path, op } => {
                if !(path.is_claim("scope") || path.is_claim("scp")) {
                    return;
                }
                let literals: &[Scalar] = match op {
                    Operator::Contains(s, _) | Operator::Equals(s) => std::slice::from_ref(s),
                    Operator::ContainsAll(list, _) | Operator::ContainsAny(list, _) => list,
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
                for item in items
                    .iter()
                    .filter(|c| c.truth_in(claims, peer) == Truth::Fails)
                {
                    item.collect_scopes(claims, peer, out);
                }
            }
            Condition::Not(_) => {}
        }
    }

    /// The whole tree with each node's result (no short-circuit), for explain.
    pub fn trace<C: ClaimsObject + ?Sized>(&self, claims: &C) -> ConditionTrace {
        self.trace_in(claims, &PeerContext::NONE)
    }

    /// [`Condition::trace`] for a request from this peer.
    pub fn trace_in<C: ClaimsObject + ?Sized>(
        &self,
        claims: &C,
        peer: &PeerContext<'_>,
    ) -> ConditionTrace {
        match self {
            Condition::Claim { path, op } => {
                let value = path.lookup_in(claims);
                let (result, note) = op.test_in(value, peer);
                let mut detail = match (note, value) {
                    (LeafNote::ClaimAbsent, _) | (_, None) => "claim is absent".to_owned(),
                    (LeafNote::NotAString, Some(v)) => {
                        format!("wrong type, not a string: {}", short(v))
                    }
                    (LeafNote::NotANumber, Some(v)) => {
                        format!("wrong type, not a number: {}", short(v))
                    }
                    (LeafNote::NotAListOrString, Some(v)) => {
                        format!("wrong type, not an array or string: {}", short(v))
                    }
                    (LeafNote::NotOfLiteralType, Some(v)) => {
                        format!("wrong type for the literal: {}", short(v))
                    }
                    (LeafNote::PeerAbsent, Some(v)) => {
                        format!("value: {}, peer value absent", short(v))
                    }
                    (LeafNote::Matched | LeafNote::NotMatched, Some(v)) => {
                        format!("value: {}", short(v))
                    }
                };
                if let Some(expected) = op_peer_value(op, peer) {
                    detail.push_str(", peer: ");
                    detail.push_str(&short(&Value::String(expected)));
                }
                ConditionTrace {
                    condition: format!("{path} {op}"),
                    truth: note.truth(result),
                    detail: Some(detail),
                    children: Vec::new(),
                }
            }
            Condition::All(items) | Condition::Any(items) => {
                let children: Vec<ConditionTrace> =
                    items.iter().map(|c| c.trace_in(claims, peer)).collect();
                let truths = children.iter().map(|c| c.truth);
                let (name, truth) = match self {
                    Condition::All(_) => ("all", Truth::all(truths)),
                    _ => ("any", Truth::any(truths)),
                };
                ConditionTrace {
                    condition: name.to_owned(),
                    truth,
                    detail: None,
                    children,
                }
            }
            Condition::Not(inner) => {
                let child = inner.trace_in(claims, peer);
                ConditionTrace {
                    condition: "not".to_owned(),
                    truth: child.truth.negate(),
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
        let mark = match self.truth {
            Truth::Holds => "pass",
            Truth::Fails => "fail",
            Truth::WrongType => "wrong type",
        };
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

/// The value an `equals_peer` leaf compares with, filled in for explain.
fn op_peer_value(op: &Operator, peer: &PeerContext<'_>) -> Option<String> {
    match op {
        Operator::EqualsPeer(expr) => expr.render(peer),
        _ => None,
    }
}

impl Operator {
    /// The one leaf evaluator for a request from this peer: result plus why.
    pub fn test_in(&self, value: Option<&Value>, peer: &PeerContext<'_>) -> (bool, LeafNote) {
        let Operator::EqualsPeer(expr) = self else {
            return self.test(value);
        };
        match value {
            None | Some(Value::Null) => (false, LeafNote::ClaimAbsent),
            Some(Value::String(claim)) => match expr.equals(claim, peer) {
                Some(true) => (true, LeafNote::Matched),
                Some(false) => (false, LeafNote::NotMatched),
                None => (false, LeafNote::PeerAbsent),
            },
            Some(_) => (false, LeafNote::NotAString),
        }
    }

    /// The one leaf evaluator without a peer: result plus why.
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
            Operator::Equals(literal) => equals_any(value, std::slice::from_ref(literal)),
            Operator::OneOf(list) => equals_any(value, list),
            Operator::Contains(literal, strings) => {
                contains(value, std::slice::from_ref(literal), true, *strings)
            }
            Operator::ContainsAll(list, strings) => contains(value, list, true, *strings),
            Operator::ContainsAny(list, strings) => contains(value, list, false, *strings),
            Operator::Prefix(p) => string_test(value, |s| s.starts_with(p.as_str())),
            Operator::Suffix(p) => string_test(value, |s| s.ends_with(p.as_str())),
            Operator::Regex(pattern) => string_test(value, |s| pattern.is_match(s)),
            Operator::Gt(n) => number_test(value, n, |o| o == Ordering::Greater),
            Operator::Gte(n) => number_test(value, n, |o| o != Ordering::Less),
            Operator::Lt(n) => number_test(value, n, |o| o == Ordering::Less),
            Operator::Lte(n) => number_test(value, n, |o| o != Ordering::Greater),
            Operator::EqualsPeer(_) => match value {
                Value::String(_) => (false, LeafNote::PeerAbsent),
                _ => (false, LeafNote::NotAString),
            },
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

/// `equals` / `one_of`: the claim equals one of the literals. A claim whose type is none of
/// theirs (`"true"` for `true`, an array for a string) is a wrong type, not a mismatch.
fn equals_any(value: &Value, literals: &[Scalar]) -> (bool, LeafNote) {
    if !literals.iter().any(|literal| same_type(literal, value)) {
        return (false, LeafNote::NotOfLiteralType);
    }
    let ok = literals.iter().any(|literal| scalar_eq(literal, value));
    (
        ok,
        if ok {
            LeafNote::Matched
        } else {
            LeafNote::NotMatched
        },
    )
}

fn same_type(literal: &Scalar, value: &Value) -> bool {
    matches!(
        (literal, value),
        (Scalar::Bool(_), Value::Bool(_))
            | (Scalar::Number(_), Value::Number(_))
            | (Scalar::String(_), Value::String(_))
    )
}

/// `all = true`: every literal is contained; otherwise at least one.
fn contains(
    value: &Value,
    literals: &[Scalar],
    all: bool,
    strings: StringClaim,
) -> (bool, LeafNote) {
    let has = |literal: &Scalar| match value {
        Value::Array(items) => items.iter().any(|item| scalar_eq(literal, item)),
        Value::String(s) => match (literal, strings) {
            (Scalar::String(word), StringClaim::Words) => {
                s.split_ascii_whitespace().any(|w| w == word)
            }
            (Scalar::String(one), StringClaim::Value) => s == one,
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
            Operator::Contains(s, _) => write!(f, "contains {s}"),
            Operator::ContainsAll(l, _) => {
                f.write_str("contains_all ")?;
                list(f, l)
            }
            Operator::ContainsAny(l, _) => {
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
            Operator::EqualsPeer(expr) => {
                write!(f, "equals_peer {}", Value::String(expr.source().to_owned()))
            }
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
    /// `contains` as the loader compiles it for a claim of this name.
    fn contains(path: &str, literal: Scalar) -> Operator {
        Operator::Contains(literal, strings_of(path))
    }
    fn strings_of(path: &str) -> StringClaim {
        if SPACE_DELIMITED_CLAIMS.contains(&path) {
            StringClaim::Words
        } else {
            StringClaim::Value
        }
    }

    fn claims() -> Value {
        json!({
            "sub": "alice",
            "scope": "orders:read  orders:write profile",
            "scp": ["a", "b"],
            "groups": ["admin", "dev"],
            "team": "not-really admin",
            "email_verified": true,
            "org": {"tier": 2, "ratio": 0.5, "big": 9007199254740993u64},
            "nothing": null,
            "count": 3
        })
    }

    #[test]
    fn every_operator_on_matching_and_failing_values() {
        // (path, operator, expected)
        let table: Vec<(&str, Operator, Truth)> = vec![
            ("sub", Operator::Equals(s("alice")), Truth::Holds),
            ("sub", Operator::Equals(s("bob")), Truth::Fails),
            (
                "email_verified",
                Operator::Equals(Scalar::Bool(true)),
                Truth::Holds,
            ),
            (
                "email_verified",
                Operator::Equals(s("true")),
                Truth::WrongType,
            ),
            (
                "org.tier",
                Operator::Equals(Scalar::Number(n(json!(2.0)))),
                Truth::Holds,
            ),
            ("org.tier", Operator::Equals(s("2")), Truth::WrongType),
            ("groups", Operator::Equals(s("admin")), Truth::WrongType),
            (
                "sub",
                Operator::OneOf(vec![s("bob"), s("alice")]),
                Truth::Holds,
            ),
            ("sub", Operator::OneOf(vec![s("bob")]), Truth::Fails),
            (
                "sub",
                Operator::OneOf(vec![Scalar::Bool(true), s("bob")]),
                Truth::Fails,
            ),
            ("count", Operator::OneOf(vec![s("3")]), Truth::WrongType),
            ("groups", contains("groups", s("admin")), Truth::Holds),
            ("groups", contains("groups", s("adm")), Truth::Fails),
            ("scope", contains("scope", s("orders:write")), Truth::Holds),
            ("scope", contains("scope", s("orders")), Truth::Fails),
            ("sub", contains("sub", s("ali")), Truth::Fails),
            ("sub", contains("sub", s("alice")), Truth::Holds),
            (
                "count",
                contains("count", Scalar::Number(n(json!(3)))),
                Truth::WrongType,
            ),
            (
                "scope",
                Operator::ContainsAll(vec![s("orders:read"), s("profile")], StringClaim::Words),
                Truth::Holds,
            ),
            (
                "scope",
                Operator::ContainsAll(vec![s("orders:read"), s("admin")], StringClaim::Words),
                Truth::Fails,
            ),
            (
                "scp",
                Operator::ContainsAll(vec![s("a"), s("b")], StringClaim::Words),
                Truth::Holds,
            ),
            (
                "scp",
                Operator::ContainsAny(vec![s("x"), s("b")], StringClaim::Words),
                Truth::Holds,
            ),
            (
                "scp",
                Operator::ContainsAny(vec![s("x"), s("y")], StringClaim::Words),
                Truth::Fails,
            ),
            ("sub", Operator::Prefix("ali".into()), Truth::Holds),
            ("sub", Operator::Prefix("bo".into()), Truth::Fails),
            ("sub", Operator::Suffix("ice".into()), Truth::Holds),
            ("sub", Operator::Suffix("x".into()), Truth::Fails),
            ("count", Operator::Prefix("3".into()), Truth::WrongType),
            (
                "sub",
                Operator::Regex(Pattern::new("a.*e").unwrap()),
                Truth::Holds,
            ),
            (
                "sub",
                Operator::Regex(Pattern::new("lic").unwrap()),
                Truth::Fails,
            ),
            ("sub", Operator::Exists(true), Truth::Holds),
            ("missing", Operator::Exists(true), Truth::Fails),
            ("nothing", Operator::Exists(true), Truth::Fails),
            ("missing", Operator::Exists(false), Truth::Holds),
            ("nothing", Operator::Exists(false), Truth::Holds),
            ("sub", Operator::Exists(false), Truth::Fails),
            ("org.tier", Operator::Gt(n(json!(1))), Truth::Holds),
            ("org.tier", Operator::Gt(n(json!(2))), Truth::Fails),
            ("org.tier", Operator::Gte(n(json!(2))), Truth::Holds),
            ("org.tier", Operator::Gte(n(json!(2.5))), Truth::Fails),
            ("org.tier", Operator::Lt(n(json!(2.5))), Truth::Holds),
            ("org.tier", Operator::Lt(n(json!(2))), Truth::Fails),
            ("org.tier", Operator::Lte(n(json!(2))), Truth::Holds),
            ("org.tier", Operator::Lte(n(json!(1.999))), Truth::Fails),
            ("org.ratio", Operator::Gt(n(json!(0.25))), Truth::Holds),
            ("org.ratio", Operator::Lt(n(json!(0))), Truth::Fails),
            ("sub", Operator::Gt(n(json!(0))), Truth::WrongType),
            ("missing", Operator::Lt(n(json!(10))), Truth::Fails),
            (
                "missing",
                Operator::Equals(Scalar::Bool(true)),
                Truth::Fails,
            ),
        ];
        for (path, op, want) in table {
            let text = format!("{path} {op}");
            let condition = leaf(path, op);
            assert_eq!(condition.truth(&claims()), want, "{text}");
            assert_eq!(
                condition.evaluate(&claims()),
                want == Truth::Holds,
                "{text}"
            );
        }
    }

    #[test]
    fn only_scope_and_scp_strings_are_read_as_words() {
        let c = claims();
        assert!(!leaf("team", contains("team", s("admin"))).evaluate(&c));
        assert!(leaf("team", contains("team", s("not-really admin"))).evaluate(&c));
        assert!(leaf("scope", contains("scope", s("profile"))).evaluate(&c));
    }

    #[test]
    fn a_condition_may_read_another_claim_as_words() {
        let words = Operator::Contains(s("admin"), StringClaim::Words);
        assert!(leaf("team", words).evaluate(&claims()));
    }

    #[test]
    fn a_condition_may_read_scope_as_one_value() {
        let one = Operator::Contains(s("profile"), StringClaim::Value);
        assert!(!leaf("scope", one).evaluate(&claims()));
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
    fn not_over_a_wrong_type_is_still_a_wrong_type() {
        let not_contractor = Condition::Not(Box::new(leaf(
            "contractor",
            Operator::Equals(Scalar::Bool(true)),
        )));
        for contractor in [json!("true"), json!(1), json!(["true"]), json!({"v": true})] {
            let c = json!({ "contractor": contractor });
            assert_eq!(not_contractor.truth(&c), Truth::WrongType, "{contractor}");
            assert_eq!(
                not_contractor.check(&c),
                Err(ConditionFailure::WrongType),
                "{contractor}"
            );
        }
        assert!(not_contractor.evaluate(&json!({ "contractor": false })));
        assert!(not_contractor.evaluate(&json!({})));
        assert!(!not_contractor.evaluate(&json!({ "contractor": true })));
    }

    #[test]
    fn a_wrong_type_decides_only_when_the_answer_depends_on_it() {
        let wrong = || leaf("sub", Operator::Gt(n(json!(0))));
        let yes = || leaf("sub", Operator::Exists(true));
        let no = || leaf("missing", Operator::Exists(true));
        let c = claims();
        let cases = [
            (Condition::All(vec![wrong(), no()]), Truth::Fails),
            (Condition::All(vec![wrong(), yes()]), Truth::WrongType),
            (Condition::Any(vec![wrong(), yes()]), Truth::Holds),
            (Condition::Any(vec![wrong(), no()]), Truth::WrongType),
            (
                Condition::Not(Box::new(Condition::Any(vec![wrong(), no()]))),
                Truth::WrongType,
            ),
            (
                Condition::Not(Box::new(Condition::All(vec![wrong(), no()]))),
                Truth::Holds,
            ),
        ];
        for (condition, want) in cases {
            assert_eq!(condition.truth(&c), want, "{condition:?}");
            assert_eq!(condition.trace(&c).truth, want, "{condition:?}");
        }
    }

    #[test]
    fn failing_scope_conditions_report_required_scopes() {
        let c = Condition::All(vec![
            leaf(
                "scope",
                Operator::ContainsAll(
                    vec![s("orders:read"), s("orders:admin")],
                    StringClaim::Words,
                ),
            ),
            leaf("scp", contains("scp", s("c"))),
            leaf("groups", contains("groups", s("ops"))),
            leaf("scope", contains("scope", s("profile"))),
        ]);
        assert_eq!(
            c.check(&claims()),
            Err(ConditionFailure::Unmet {
                required_scopes: vec!["orders:read".into(), "orders:admin".into(), "c".into()]
            })
        );
    }

    #[test]
    fn failing_non_scope_conditions_report_no_scopes() {
        let unmet = Err(ConditionFailure::Unmet {
            required_scopes: Vec::new(),
        });
        let c = leaf("groups", contains("groups", s("ops")));
        assert_eq!(c.check(&claims()), unmet);
        let c = Condition::Not(Box::new(leaf("scope", contains("scope", s("profile")))));
        assert_eq!(c.check(&claims()), unmet);
    }

    #[test]
    fn trace_agrees_with_evaluate_and_shows_every_node() {
        let c = Condition::All(vec![
            leaf("groups", contains("groups", s("admin"))),
            Condition::Any(vec![
                leaf("missing", Operator::Equals(s("x"))),
                leaf("sub", Operator::Prefix("x".into())),
            ]),
            Condition::Not(Box::new(leaf("sub", Operator::Gt(n(json!(1)))))),
        ]);
        let t = c.trace(&claims());
        assert_eq!(t.truth, c.truth(&claims()));
        assert_eq!(t.truth, Truth::Fails);
        assert_eq!(t.children.len(), 3);
        assert!(t.children[0].holds());
        assert_eq!(t.children[0].condition, "groups contains \"admin\"");
        let any = &t.children[1];
        assert_eq!(any.condition, "any");
        assert_eq!(any.children[0].detail.as_deref(), Some("claim is absent"));
        assert_eq!(any.children[1].detail.as_deref(), Some("value: \"alice\""));
        assert_eq!(
            t.children[2].children[0].detail.as_deref(),
            Some("wrong type, not a number: \"alice\"")
        );
        assert_eq!(t.children[2].truth, Truth::WrongType);
        assert_eq!(
            t.to_string(),
            "[fail] all\n\
             \x20 [pass] groups contains \"admin\" (value: [\"admin\",\"dev\"])\n\
             \x20 [fail] any\n\
             \x20   [fail] missing equals \"x\" (claim is absent)\n\
             \x20   [fail] sub prefix \"x\" (value: \"alice\")\n\
             \x20 [wrong type] not\n\
             \x20   [wrong type] sub gt 1 (wrong type, not a number: \"alice\")\n"
        );
    }
}
