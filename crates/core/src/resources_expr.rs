//! Kruise's SidecarSet `resourcesPolicy`: a sidecar's resources computed from the Pod's target
//! containers when the Pod is created (docs/injection.md#resourcespolicy; the expressions:
//! docs/settings-and-validation.md#resourcespolicy-expressions).
//!
//! Ported from Kruise v1.9 (`pkg/util/calculator` and `pkg/webhook/pod/mutating/
//! sidecarset_resources.go`), keeping the behaviour users can observe, oddities included:
//!
//! * Expressions mix two kinds of values: plain numbers (`f64`; `50%` is 0.5) and Kubernetes
//!   quantities (`100m`, `2Gi`). `+`/`-` with a quantity on either side convert the number to
//!   `number × 1000` millis and add exactly; `*`/`/` scale a quantity by a number through
//!   `float64(MilliValue()) × n`, truncated back to whole millis; quantity × quantity and
//!   anything ÷ quantity are errors. `max`/`min` take exactly two arguments.
//! * The lexer works on bytes the way Go's does (Latin-1 letters and spaces, a NUL byte ends the
//!   input), a number followed by an unknown unit or an incomplete exponent silently becomes 0
//!   (`5ki`, `2E`, `1e`), and there is no unary plus.
//! * The variable is `memory` if the text contains the word `memory` (case-sensitive), else
//!   `cpu`, whichever field the expression sits in; names are then matched case-insensitively.
//! * A negative result is an error; a plain-number result becomes millicores when the variable
//!   is `cpu` and whole bytes when it is `memory`.
//! * Float-to-int conversions behave as Go's do on amd64 (out of range gives -2^63), so an
//!   overflow mid-expression usually surfaces as a negative result.

use serde_json::{Map, Value};

use crate::quantity::{Format, MILLI, Quantity, go_f64_to_i64};

/// How the target containers' resources are combined (`targetContainersMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetMode {
    Sum,
    Max,
}

/// The four `resourcesExpr` expressions; `None` or `""` means "not set".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceExprs<'a> {
    pub limits_cpu: Option<&'a str>,
    pub limits_memory: Option<&'a str>,
    pub requests_cpu: Option<&'a str>,
    pub requests_memory: Option<&'a str>,
}

/// Which resource an expression field is for; the SidecarSet webhook validates each field with
/// only that resource's variable defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprResource {
    Cpu,
    Memory,
}

impl ExprResource {
    fn variable(self) -> &'static str {
        match self {
            ExprResource::Cpu => "cpu",
            ExprResource::Memory => "memory",
        }
    }
}

/// Validates one `resourcesExpr` field as Kruise's SidecarSet webhook does: an empty expression
/// passes; otherwise it must evaluate, with the field's variable (`cpu` for the `cpu` fields,
/// `memory` for the `memory` fields) bound to the plain number 1, to a non-negative value.
///
/// So `cpu - 2` is rejected (1 − 2 < 0) while `cpu - 100m` passes, and `cpu` inside a `memory`
/// field is an undefined variable.
pub fn validate_expr_for(expr: &str, resource: ExprResource) -> Result<(), String> {
    if expr.is_empty() {
        return Ok(());
    }
    calculate(expr, &[(resource.variable(), Val::Num(1.0))])
        .map(|_| ())
        .map_err(|e| format!("invalid expression: {e}"))
}

/// The variable injection binds, as Kruise's `calculateResourceFromExpression`: `memory` if the
/// text has that word, else `cpu`, whatever field the expression is in (validation binds the field's
/// own, [`validate_expr_for`]).
fn injection_variable(expr: &str) -> ExprResource {
    if contains_word(expr.as_bytes(), b"memory") {
        ExprResource::Memory
    } else {
        ExprResource::Cpu
    }
}

/// Evaluates one expression at injection, with the variable bound to `aggregated`, and returns
/// the quantity Kruise would put in the sidecar.
pub fn evaluate_expr(expr: &str, aggregated: &Quantity) -> Result<Quantity, String> {
    let resource = injection_variable(expr);
    let vars = [(resource.variable(), Val::Qty(aggregated.clone()))];
    match calculate(expr, &vars)? {
        Val::Qty(q) => Ok(q),
        Val::Num(n) => {
            // Kruise converts without a range check; Go then emits a negative quantity that the
            // API server rejects, so refusing here ends the same way with a clearer message.
            let (scaled, scale) = match resource {
                ExprResource::Cpu => (n * 1000.0, MILLI),
                ExprResource::Memory => (n, 0),
            };
            match go_f64_to_i64(scaled) {
                i64::MIN => Err(format!("result {n} is out of range")),
                v => Ok(Quantity::new_scaled(v, scale)),
            }
        }
    }
}

/// Computes the sidecar's `resources` from the target containers' `resources` objects (each may
/// be `null` or lack keys). Returns only the computed entries, e.g.
/// `{"limits":{"cpu":"300m"},"requests":{"memory":"60Mi"}}`; empty maps are left out, so the
/// result can be `{}`. The caller replaces the sidecar's `resources` with it.
///
/// A limit is unlimited (and its expression skipped) when any target lacks it; a missing request
/// counts as zero. The first failing expression, in the order limits.cpu, limits.memory,
/// requests.cpu, requests.memory, is reported.
pub fn compute_resources(
    mode: TargetMode,
    exprs: &ResourceExprs<'_>,
    targets: &[&Value],
) -> Result<Value, String> {
    if targets.is_empty() {
        return Err("resourcesPolicy: no target container matched".to_string());
    }
    let agg = aggregate(mode, targets)?;
    let zero = Quantity::zero(Format::DecimalSI);

    let mut limits = Map::new();
    let mut requests = Map::new();
    let fields = [
        (
            "limits.cpu",
            exprs.limits_cpu,
            agg.limits_cpu.as_ref(),
            "cpu",
        ),
        (
            "limits.memory",
            exprs.limits_memory,
            agg.limits_memory.as_ref(),
            "memory",
        ),
        (
            "requests.cpu",
            exprs.requests_cpu,
            Some(agg.requests_cpu.as_ref().unwrap_or(&zero)),
            "cpu",
        ),
        (
            "requests.memory",
            exprs.requests_memory,
            Some(agg.requests_memory.as_ref().unwrap_or(&zero)),
            "memory",
        ),
    ];
    for (field, expr, aggregated, key) in fields {
        let (Some(expr), Some(aggregated)) = (expr.filter(|e| !e.is_empty()), aggregated) else {
            continue;
        };
        let q = evaluate_expr(expr, aggregated)
            .map_err(|e| format!("{field} expression {expr:?}: {e}"))?;
        let out = if field.starts_with("limits") {
            &mut limits
        } else {
            &mut requests
        };
        out.insert(key.to_string(), Value::String(q.to_go_string()));
    }

    let mut resources = Map::new();
    if !limits.is_empty() {
        resources.insert("limits".to_string(), Value::Object(limits));
    }
    if !requests.is_empty() {
        resources.insert("requests".to_string(), Value::Object(requests));
    }
    Ok(Value::Object(resources))
}

// ---------------------------------------------------------------------------------------------
// Aggregation over the target containers.

#[derive(Debug, Default)]
struct Aggregate {
    /// `None`: some target has no such limit, so the result is unlimited.
    limits_cpu: Option<Quantity>,
    limits_memory: Option<Quantity>,
    /// `None`: zero (no target requests it, or the requests sum to zero).
    requests_cpu: Option<Quantity>,
    requests_memory: Option<Quantity>,
}

fn aggregate(mode: TargetMode, targets: &[&Value]) -> Result<Aggregate, String> {
    let mut per_target = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        per_target.push([
            read_quantity(target, i, "limits", "cpu")?,
            read_quantity(target, i, "limits", "memory")?,
            read_quantity(target, i, "requests", "cpu")?,
            read_quantity(target, i, "requests", "memory")?,
        ]);
    }
    let column = |k: usize| {
        per_target
            .iter()
            .map(move |t| t.get(k).and_then(Option::as_ref))
    };
    let too_large = |e: crate::quantity::QuantityError| format!("resourcesPolicy: {e}");
    Ok(match mode {
        TargetMode::Sum => Aggregate {
            limits_cpu: sum_limit(column(0)).map_err(too_large)?,
            limits_memory: sum_limit(column(1)).map_err(too_large)?,
            requests_cpu: sum_request(column(2)).map_err(too_large)?,
            requests_memory: sum_request(column(3)).map_err(too_large)?,
        },
        TargetMode::Max => Aggregate {
            limits_cpu: max_limit(column(0)),
            limits_memory: max_limit(column(1)),
            requests_cpu: max_request(column(2)),
            requests_memory: max_request(column(3)),
        },
    })
}

/// Kruise starts from `NewQuantity(0, DecimalSI)` and `Add`s, so the first non-zero term lends
/// the result its format.
fn sum_limit<'q>(
    values: impl Iterator<Item = Option<&'q Quantity>>,
) -> Result<Option<Quantity>, crate::quantity::QuantityError> {
    let mut total = Quantity::zero(Format::DecimalSI);
    for v in values {
        match v {
            Some(q) => total.add(q)?,
            None => return Ok(None),
        }
    }
    Ok(Some(total))
}

fn sum_request<'q>(
    values: impl Iterator<Item = Option<&'q Quantity>>,
) -> Result<Option<Quantity>, crate::quantity::QuantityError> {
    let mut total = Quantity::zero(Format::DecimalSI);
    for q in values.flatten() {
        total.add(q)?;
    }
    Ok((!total.is_zero()).then_some(total))
}

/// The first of the largest values is kept as is (its format and remembered text too).
fn max_limit<'q>(mut values: impl Iterator<Item = Option<&'q Quantity>>) -> Option<Quantity> {
    let mut best: Option<&Quantity> = None;
    for v in values.by_ref() {
        let q = v?;
        if best.is_none_or(|b| q > b) {
            best = Some(q);
        }
    }
    best.cloned()
}

fn max_request<'q>(values: impl Iterator<Item = Option<&'q Quantity>>) -> Option<Quantity> {
    let mut best: Option<&Quantity> = None;
    for q in values.flatten() {
        if best.is_none_or(|b| q > b) {
            best = Some(q);
        }
    }
    best.cloned()
}

fn read_quantity(
    resources: &Value,
    index: usize,
    section: &str,
    name: &str,
) -> Result<Option<Quantity>, String> {
    let path = || format!("target container {index}: resources.{section}.{name}");
    let resources = match resources {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        _ => {
            return Err(format!(
                "target container {index}: resources is not an object"
            ));
        }
    };
    let list = match resources.get(section) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(format!(
                "target container {index}: resources.{section} is not an object"
            ));
        }
    };
    let text = match list.get(name) {
        None => return Ok(None),
        // Go decodes a JSON null into a zero quantity that is still present in the map.
        Some(Value::Null) => return Ok(Some(Quantity::zero(Format::DecimalSI))),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(format!("{}: not a quantity", path())),
    };
    Quantity::from_json_str(&text)
        .map(Some)
        .map_err(|e| format!("{}: invalid quantity {text:?}: {e}", path()))
}

// ---------------------------------------------------------------------------------------------
// The calculator: Kruise's goyacc grammar
//
//   expr   := expr ('+'|'-') expr | term                  (left-associative)
//   term   := term ('*'|'/') term | factor                (left-associative)
//   factor := NUMBER | QUANTITY | IDENT | '(' expr ')' | '-' factor
//           | IDENT '(' expr ')' | IDENT '(' expr ',' expr ')'
//
// parsed here by recursive descent, which accepts the same strings and groups them the same way.

/// Deeper nesting is refused; Go's parser has no limit but nothing real comes close.
const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone)]
enum Val {
    Num(f64),
    Qty(Quantity),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok<'a> {
    Number(&'a [u8]),
    Quantity(&'a [u8]),
    Ident(&'a [u8]),
    Punct(u8),
    /// A byte the grammar has no use for: always a syntax error.
    Other(u8),
    End,
}

/// `unicode.IsSpace` of a byte taken as a Latin-1 rune, as Go's lexer does.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// `unicode.IsLetter` of a byte taken as a Latin-1 rune.
fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic()
        || matches!(b, 0xaa | 0xb5 | 0xba | 0xc0..=0xd6 | 0xd8..=0xf6 | 0xf8..=0xff)
}

struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// Go's lexer reads a NUL byte as the end of input.
    fn peek(&self) -> u8 {
        self.input.get(self.pos).copied().unwrap_or(0)
    }

    fn slice(&self, start: usize) -> &'a [u8] {
        self.input.get(start..self.pos).unwrap_or_default()
    }

    fn next_token(&mut self) -> (usize, Tok<'a>) {
        while self.peek() != 0 && is_space(self.peek()) {
            self.pos += 1;
        }
        let start = self.pos;
        let c = self.peek();
        if c == 0 {
            return (start, Tok::End);
        }
        let tok = match c {
            b'+' | b'-' | b'*' | b'/' | b'(' | b')' | b',' => {
                self.pos += 1;
                Tok::Punct(c)
            }
            b'.' | b'0'..=b'9' => {
                self.read_number();
                let text = self.slice(start);
                if is_quantity_token(text) {
                    Tok::Quantity(text)
                } else {
                    Tok::Number(text)
                }
            }
            _ if is_letter(c) => {
                while self.peek() != 0
                    && (is_letter(self.peek())
                        || self.peek().is_ascii_digit()
                        || self.peek() == b'_')
                {
                    self.pos += 1;
                }
                Tok::Ident(self.slice(start))
            }
            _ => {
                self.pos += 1;
                Tok::Other(c)
            }
        };
        (start, tok)
    }

    /// Digits with at most one `.`, an optional exponent (`e`/`E`, optional sign right after it),
    /// then either a `%` or a run of letters (a unit).
    fn read_number(&mut self) {
        let (mut seen_dot, mut seen_e, mut expect_exponent) = (false, false, false);
        loop {
            let c = self.peek();
            match c {
                0 => break,
                b'0'..=b'9' => expect_exponent = false,
                b'.' if !seen_dot && !seen_e => seen_dot = true,
                b'e' | b'E' if !seen_e => {
                    seen_e = true;
                    expect_exponent = true;
                }
                // A second exponent marker ends the number rather than starting a unit.
                b'e' | b'E' => break,
                b'+' | b'-' if expect_exponent => expect_exponent = false,
                b'%' => {
                    self.pos += 1;
                    break;
                }
                _ if is_letter(c) && !expect_exponent => {
                    while is_letter(self.peek()) {
                        self.pos += 1;
                    }
                    break;
                }
                _ => break,
            }
            self.pos += 1;
        }
    }
}

/// Kruise's `isQuantity`: a numeric prefix followed by exactly one of its accepted units.
fn is_quantity_token(text: &[u8]) -> bool {
    let Some(num_end) = text
        .iter()
        .position(|&c| !(c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')))
    else {
        return false;
    };
    num_end > 0
        && matches!(
            text.get(num_end..).unwrap_or_default(),
            b"m" | b"k" | b"M" | b"G" | b"T" | b"P" | b"Ki" | b"Mi" | b"Gi" | b"Ti" | b"Pi"
        )
}

/// Kruise's `parseNumber`: `strconv.ParseFloat`, `%` divides by 100. Kruise ignores the error,
/// so anything unparsable is 0, and so is an overflowing percentage (ParseFloat reports a range
/// error there); an overflowing plain number stays ±Inf.
fn parse_number(text: &[u8]) -> f64 {
    let parse = |t: &[u8]| {
        std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
    };
    match text.strip_suffix(b"%") {
        Some(num) => parse(num)
            .filter(|v| v.is_finite())
            .map_or(0.0, |v| v / 100.0),
        None => parse(text).unwrap_or(0.0),
    }
}

struct Parser<'a, 'v> {
    lexer: Lexer<'a>,
    tok: Tok<'a>,
    at: usize,
    depth: usize,
    vars: &'v [(&'v str, Val)],
}

fn describe(tok: Tok<'_>) -> String {
    match tok {
        Tok::Number(t) | Tok::Quantity(t) | Tok::Ident(t) => {
            format!("{:?}", String::from_utf8_lossy(t))
        }
        Tok::Punct(c) | Tok::Other(c) if c.is_ascii() => format!("{:?}", char::from(c)),
        Tok::Punct(c) | Tok::Other(c) => format!("byte 0x{c:02x}"),
        Tok::End => "end of expression".to_string(),
    }
}

/// Evaluates while parsing, as the goyacc parser does, so that long chains of operators never
/// build a deep tree; only nesting recurses, and that is bounded by [`MAX_DEPTH`].
impl<'a, 'v> Parser<'a, 'v> {
    fn new(input: &'a [u8], vars: &'v [(&'v str, Val)]) -> Self {
        let mut lexer = Lexer { input, pos: 0 };
        let (at, tok) = lexer.next_token();
        Self {
            lexer,
            tok,
            at,
            depth: 0,
            vars,
        }
    }

    fn advance(&mut self) {
        let (at, tok) = self.lexer.next_token();
        self.at = at;
        self.tok = tok;
    }

    fn unexpected<T>(&self) -> Result<T, String> {
        Err(format!(
            "syntax error at offset {}: unexpected {}",
            self.at,
            describe(self.tok)
        ))
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.tok == Tok::Punct(c) {
            self.advance();
            Ok(())
        } else {
            self.unexpected()
        }
    }

    fn parse(mut self) -> Result<Val, String> {
        let v = self.expr()?;
        if self.tok != Tok::End {
            return self.unexpected();
        }
        Ok(v)
    }

    fn expr(&mut self) -> Result<Val, String> {
        let mut lhs = self.term()?;
        while let Tok::Punct(op @ (b'+' | b'-')) = self.tok {
            self.advance();
            let rhs = self.term()?;
            lhs = add(lhs, rhs, op == b'-')?;
        }
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Val, String> {
        let mut lhs = self.factor()?;
        while let Tok::Punct(op @ (b'*' | b'/')) = self.tok {
            self.advance();
            let rhs = self.factor()?;
            lhs = if op == b'*' {
                mul(lhs, rhs)?
            } else {
                div(lhs, rhs)?
            };
        }
        Ok(lhs)
    }

    fn factor(&mut self) -> Result<Val, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            ));
        }
        let result = self.factor_inner();
        self.depth -= 1;
        result
    }

    fn factor_inner(&mut self) -> Result<Val, String> {
        match self.tok {
            Tok::Number(t) => {
                self.advance();
                Ok(Val::Num(parse_number(t)))
            }
            Tok::Quantity(t) => {
                self.advance();
                let text = shown(t);
                Quantity::parse(&text)
                    .map(Val::Qty)
                    .map_err(|err| format!("invalid quantity {text:?}: {err}"))
            }
            Tok::Ident(name) => {
                self.advance();
                if self.tok != Tok::Punct(b'(') {
                    return self.variable(name);
                }
                self.advance();
                let mut args = vec![self.expr()?];
                if self.tok == Tok::Punct(b',') {
                    self.advance();
                    args.push(self.expr()?);
                }
                self.expect(b')')?;
                call(name, args)
            }
            Tok::Punct(b'(') => {
                self.advance();
                let v = self.expr()?;
                self.expect(b')')?;
                Ok(v)
            }
            Tok::Punct(b'-') => {
                self.advance();
                Ok(match self.factor()? {
                    Val::Num(n) => Val::Num(-n),
                    Val::Qty(mut q) => {
                        q.neg();
                        Val::Qty(q)
                    }
                })
            }
            _ => self.unexpected(),
        }
    }

    fn variable(&self, name: &[u8]) -> Result<Val, String> {
        let lower = lower_name(name);
        self.vars
            .iter()
            .find(|(n, _)| lower.as_deref() == Some(*n))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undefined variable: {}", shown(name)))
    }
}

/// Kruise's `Calculator.Parse` with the given variables; the result is non-negative.
fn calculate(expr: &str, vars: &[(&str, Val)]) -> Result<Val, String> {
    let result = Parser::new(expr.as_bytes(), vars).parse()?;
    match &result {
        Val::Num(n) if *n < 0.0 => Err(format!("result is negative ({n})")),
        Val::Qty(q) if q.sign() < 0 => Err(format!("result is negative ({q})")),
        _ => Ok(result),
    }
}

/// Go lower-cases names with `strings.ToLower`; only ASCII can lower-case to a known name.
fn lower_name(name: &[u8]) -> Option<String> {
    name.is_ascii()
        .then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
}

fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Kruise's `callFunc`: only `max` and `min`, each with exactly two arguments.
fn call(name: &[u8], args: Vec<Val>) -> Result<Val, String> {
    let want_max = match lower_name(name).as_deref() {
        Some("max") => true,
        Some("min") => false,
        _ => return Err(format!("unknown function: {}", shown(name))),
    };
    match <[Val; 2]>::try_from(args) {
        Ok([a, b]) => Ok(max_min(a, b, want_max)),
        Err(args) => Err(format!(
            "{} function requires exactly 2 arguments, got {}",
            if want_max { "max" } else { "min" },
            args.len()
        )),
    }
}

/// Kruise's `toQuantity` for a number: `NewMilliQuantity(int64(n*1000), DecimalSI)`.
fn number_to_quantity(n: f64) -> Quantity {
    Quantity::new_milli(go_f64_to_i64(n * 1000.0), Format::DecimalSI)
}

fn into_quantity(v: Val) -> Quantity {
    match v {
        Val::Qty(q) => q,
        Val::Num(n) => number_to_quantity(n),
    }
}

fn add(l: Val, r: Val, subtract: bool) -> Result<Val, String> {
    if let (Val::Num(a), Val::Num(b)) = (&l, &r) {
        return Ok(Val::Num(if subtract { a - b } else { a + b }));
    }
    let mut result = into_quantity(l);
    let mut rhs = into_quantity(r);
    if subtract {
        rhs.neg();
    }
    result
        .add(&rhs)
        .map_err(|e| format!("cannot add quantities: {e}"))?;
    Ok(Val::Qty(result))
}

/// Scales a quantity the way Kruise does: through its MilliValue as a float, truncated.
fn scaled(q: Quantity, f: impl Fn(f64) -> f64) -> Val {
    let mut result = q.clone();
    result.set_milli(go_f64_to_i64(f(q.go_milli_value() as f64)));
    Val::Qty(result)
}

fn mul(l: Val, r: Val) -> Result<Val, String> {
    match (l, r) {
        (Val::Qty(_), Val::Qty(_)) => Err("multiplication of two quantities".to_string()),
        (Val::Qty(q), Val::Num(n)) | (Val::Num(n), Val::Qty(q)) => Ok(scaled(q, |m| m * n)),
        (Val::Num(a), Val::Num(b)) => Ok(Val::Num(a * b)),
    }
}

fn div(l: Val, r: Val) -> Result<Val, String> {
    match (l, r) {
        (_, Val::Qty(_)) => Err("division by quantity".to_string()),
        // Like Go's `== 0`, this also matches -0.0.
        (_, Val::Num(0.0)) => Err("division by zero".to_string()),
        (Val::Qty(q), Val::Num(n)) => Ok(scaled(q, |m| m / n)),
        (Val::Num(a), Val::Num(b)) => Ok(Val::Num(a / b)),
    }
}

/// Kruise's `maxFunc`/`minFunc`: ties go to the left argument; a number facing a quantity is
/// compared (and returned) as `NewMilliQuantity(int64(n*1000), DecimalSI)`.
fn max_min(a: Val, b: Val, want_max: bool) -> Val {
    let keep_left = |ord: std::cmp::Ordering| {
        if want_max { ord.is_ge() } else { ord.is_le() }
    };
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => {
            // Written as Go compares, so that NaN picks the right-hand side.
            let left = if want_max { x >= y } else { x <= y };
            Val::Num(if left { x } else { y })
        }
        (a, b) => {
            let (qa, qb) = (into_quantity(a), into_quantity(b));
            if keep_left(qa.cmp(&qb)) {
                Val::Qty(qa)
            } else {
                Val::Qty(qb)
            }
        }
    }
}

/// Go's `regexp.MustCompile(`\bmemory\b`).MatchString`, with ASCII word characters.
fn contains_word(text: &[u8], word: &[u8]) -> bool {
    let is_word = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    text.windows(word.len()).enumerate().any(|(i, w)| {
        w == word
            && !is_word(i.checked_sub(1).and_then(|j| text.get(j)))
            && !is_word(text.get(i + word.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn qty(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Kruise's `Value.String()`: `%g` for numbers (the cases used here print alike), the
    /// quantity's serialization otherwise.
    fn render(v: &Val) -> String {
        match v {
            Val::Num(n) => format!("{n}"),
            Val::Qty(q) => q.to_go_string(),
        }
    }

    fn calc(expr: &str) -> Result<String, String> {
        calculate(expr, &[]).map(|v| render(&v))
    }

    fn calc_with(expr: &str, vars: &[(&str, &str)]) -> Result<String, String> {
        let vars: Vec<(&str, Val)> = vars.iter().map(|(n, v)| (*n, Val::Qty(qty(v)))).collect();
        calculate(expr, &vars).map(|v| render(&v))
    }

    fn ok_table(table: &[(&str, &str)]) {
        for (expr, want) in table {
            assert_eq!(calc(expr), Ok(want.to_string()), "{expr:?}");
        }
    }

    fn err_table(table: &[(&str, &str)]) {
        for (expr, want) in table {
            assert_eq!(calc(expr), Err(want.to_string()), "{expr:?}");
        }
    }

    // ---- Kruise pkg/util/calculator/calculator_test.go ----

    #[test]
    fn kruise_parse_number() {
        assert_eq!(parse_number(b"42"), 42.0);
        assert_eq!(parse_number(b"3.25"), 3.25);
        assert_eq!(parse_number(b"50%"), 0.5);
        assert_eq!(parse_number(b"100.5%"), 1.005);
        // Kruise drops ParseFloat's error: an unparsable number is 0.
        assert_eq!(parse_number(b"invalid"), 0.0);
    }

    #[test]
    fn kruise_basic_arithmetic() {
        ok_table(&[
            ("2 + 3", "5"),
            ("10 - 4", "6"),
            ("3 * 4", "12"),
            ("15 / 3", "5"),
            ("(2 + 3) * 4", "20"),
            ("50%", "0.5"),
            ("100% * 2", "2"),
            ("max(10, 20)", "20"),
            ("min(10, 20)", "10"),
        ]);
        err_table(&[
            ("10 / 0", "division by zero"),
            ("unknown(1, 2)", "unknown function: unknown"),
        ]);
    }

    #[test]
    fn kruise_quantity_operations() {
        ok_table(&[
            ("40m + 20m", "60m"),
            ("100Mi - 50Mi", "50Mi"),
            ("2 * 40m", "80m"),
            ("100m / 2", "50m"),
            ("max(40m, 20)", "20"),
            ("min(40m, 20m)", "20m"),
        ]);
        assert_eq!(
            calc("40m * 2m"),
            Err("multiplication of two quantities".to_string())
        );
        assert_eq!(calc("2 / 40m"), Err("division by quantity".to_string()));
    }

    #[test]
    fn kruise_variables_and_proposal_stories() {
        assert_eq!(calc_with("cpu", &[("cpu", "100m")]), Ok("100m".into()));
        assert_eq!(calc_with("cpu * 2", &[("cpu", "50m")]), Ok("100m".into()));
        assert_eq!(
            calc_with("max(cpu, 200m)", &[("cpu", "100m")]),
            Ok("200m".into())
        );
        assert_eq!(
            calc_with("undefined_var", &[]),
            Err("undefined variable: undefined_var".into())
        );
        assert_eq!(
            calc_with("memory + 100Mi", &[("memory", "200Mi")]),
            Ok("300Mi".into())
        );
        assert_eq!(
            calc_with("max(cpu * 50%, 50m)", &[("cpu", "200m")]),
            Ok("100m".into())
        );
        let two = [("cpu1", "200m"), ("cpu2", "400m")];
        assert_eq!(calc_with("(cpu1 + cpu2) * 50%", &two), Ok("300m".into()));
        assert_eq!(calc_with("max(cpu1, cpu2) * 50%", &two), Ok("200m".into()));
        assert_eq!(
            calc_with("cpu - 100m", &[("cpu", "50m")]),
            Err("result is negative (-50m)".into())
        );
    }

    #[test]
    fn kruise_negative_values() {
        err_table(&[
            ("-10", "result is negative (-10)"),
            ("-100m", "result is negative (-100m)"),
            ("10 - 20", "result is negative (-10)"),
            ("50m - 100m", "result is negative (-50m)"),
        ]);
        ok_table(&[("20 - 10", "10"), ("10 - 10", "0")]);
    }

    #[test]
    fn kruise_edge_cases() {
        err_table(&[
            ("", "syntax error at offset 0: unexpected end of expression"),
            (
                "   ",
                "syntax error at offset 3: unexpected end of expression",
            ),
            ("2 + @", "syntax error at offset 4: unexpected '@'"),
            (
                "(2 + 3",
                "syntax error at offset 6: unexpected end of expression",
            ),
            ("()", "syntax error at offset 1: unexpected ')'"),
        ]);
        ok_table(&[
            ("max(min(10, 20), 15)", "15"),
            ("1e3 + 500", "1500"),
            ("1.5e2 * 2", "300"),
            ("999999999999999999 + 1", "1000000000000000000"),
        ]);
        // A float sum (Go's %g would print 3.0000000000000003e-18): compare the number itself.
        let tiny = calculate("0.000000000000000001 + 0.000000000000000002", &[]);
        assert!(
            matches!(tiny, Ok(Val::Num(n)) if n == 1e-18 + 2e-18),
            "{tiny:?}"
        );
    }

    #[test]
    fn kruise_parser_edge_cases() {
        ok_table(&[
            ("2+3+4/2", "7"),
            ("2   +   3", "5"),
            ("2\t+\t3", "5"),
            ("2\n+\n3", "5"),
            ("  2  \t  +  \n  3  ", "5"),
            ("max(  10  ,  20  )", "20"),
            ("( 2 + 3 ) * 4", "20"),
        ]);
    }

    #[test]
    fn kruise_quantity_edge_cases() {
        ok_table(&[
            ("0m + 0m", "0"),
            ("1000Gi + 500Gi", "1500Gi"),
            ("1.5Gi * 2", "3Gi"),
            ("1Gi + 100Mi", "1124Mi"),
            ("max(100m, 100m)", "100m"),
            ("min(100m, 100m)", "100m"),
        ]);
    }

    #[test]
    fn kruise_function_argument_errors() {
        err_table(&[
            ("max()", "syntax error at offset 4: unexpected ')'"),
            (
                "max(10)",
                "max function requires exactly 2 arguments, got 1",
            ),
            (
                "max(10, 20, 30)",
                "syntax error at offset 10: unexpected ','",
            ),
            ("max(10, 20 / 0)", "division by zero"),
            ("max(10, unknown(20, 30))", "unknown function: unknown"),
        ]);
        assert_eq!(calc("MIN(1, 2)"), Ok("1".into()));
    }

    #[test]
    fn kruise_complex_nested_expressions() {
        ok_table(&[
            ("max(min(max(10, 20), 15), 25)", "25"),
            ("(100m + 50m) * 2 - 50m", "250m"),
            ("max(100m * 50%, 30m)", "50m"),
            ("max(10 + 5, 20 - 5) * 2", "30"),
            ("max(100m, min(200m, 150m)) + 50m", "200m"),
        ]);
    }

    #[test]
    fn kruise_lexer_bug_fixes() {
        ok_table(&[
            ("10+-5", "5"),
            ("10--5", "15"),
            ("10 + -5", "5"),
            ("10 - -5", "15"),
            ("20+-10+5", "15"),
            ("100m+50m", "150m"),
            ("1e3", "1000"),
            ("1E3", "1000"),
            ("1e+3", "1000"),
            ("1e-3", "0.001"),
            ("1E+3", "1000"),
            ("1E-3", "0.001"),
            ("1.5e2", "150"),
            ("2.5E+1", "25"),
            ("100m", "100m"),
            ("1k", "1k"),
            ("100M", "100M"),
            ("1G", "1G"),
            ("1T", "1T"),
            ("1P", "1P"),
            ("1Ki", "1Ki"),
            ("100Mi", "100Mi"),
            ("1Gi", "1Gi"),
            ("1Ti", "1Ti"),
            ("1Pi", "1Pi"),
            ("1e3 + 2e2", "1200"),
            ("1e3+-200", "800"),
            ("100m + 50m", "150m"),
            ("200m * 50%", "100m"),
        ]);
    }

    #[test]
    fn kruise_scientific_notation_edge_cases() {
        // An incomplete exponent is a number strconv cannot parse, which Kruise reads as 0.
        ok_table(&[("1e", "0"), ("1e+", "0")]);
        err_table(&[("1e3e2", "syntax error at offset 3: unexpected \"e2\"")]);
        ok_table(&[("max(1e3, 2e2)", "1000"), ("max(1e3, 100m)", "1k")]);
    }

    // ---- Behaviour read from the source rather than from Kruise's tests ----

    #[test]
    fn lexer_quirks() {
        ok_table(&[
            // Unknown units and stray exponents are numbers strconv rejects: 0.
            ("5ki", "0"),
            ("2E", "0"),
            ("1 + 5mi", "1"),
            (".", "0"),
            // The token's text is kept when Go deems it canonical, odd as it may look.
            ("5.m", "5.m"),
            (".5", "0.5"),
            ("1.", "1"),
            // A NUL byte ends the input.
            ("1 + 2\0 garbage (", "3"),
            // Go's lexer treats NBSP/NEL bytes as spaces and Latin-1 letters as letters.
            ("1\u{a0}", "0"),
        ]);
        err_table(&[
            ("2Ei", "syntax error at offset 2: unexpected \"i\""),
            ("3%%", "syntax error at offset 2: unexpected '%'"),
            ("1.5.3", "syntax error at offset 3: unexpected \".3\""),
            ("100%m", "syntax error at offset 4: unexpected \"m\""),
            ("1e5.5", "syntax error at offset 3: unexpected \".5\""),
            ("+1", "syntax error at offset 0: unexpected '+'"),
            ("1 2", "syntax error at offset 2: unexpected \"2\""),
            ("cpu(1, 2)", "unknown function: cpu"),
            ("max", "undefined variable: max"),
            ("2Ki%", "syntax error at offset 3: unexpected '%'"),
            (
                "1e3m",
                "invalid quantity \"1e3m\": quantities must match the regular expression \
                 '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ),
            ("2 @ 3", "syntax error at offset 2: unexpected '@'"),
        ]);
    }

    #[test]
    fn arithmetic_quirks() {
        ok_table(&[
            // Unary minus binds to a factor: (-2)*3, and may be repeated.
            ("-2 * -3", "6"),
            ("--2", "2"),
            ("- -100m", "100m"),
            // Number ± quantity: the number counts as that many units (kept to millis).
            ("1.5 + 100m", "1600m"),
            ("0.0004 + 1m", "1m"),
            // Scaling truncates to whole millis through MilliValue (which rounds up first).
            ("1m * 0.5", "0"),
            ("0.1m * 1", "1m"),
            ("1Gi / 3", "357913941333m"),
            ("1Gi * 0.5", "512Mi"),
            // Ties go left; NaN picks the right-hand side.
            ("max(1Ki, 1024)", "1Ki"),
            ("max(1024, 1Ki)", "1024"),
            ("min(1000m, 1)", "1"),
            ("max(1e400 - 1e400, 7)", "7"),
            ("min(3, 1e400 - 1e400)", "NaN"),
        ]);
        err_table(&[
            ("1 / -0", "division by zero"),
            ("1m / 0", "division by zero"),
            // An overflowing scale becomes -2^63 millis (Go on amd64): negative, unless rescued.
            ("1Gi * 1e30", "result is negative (-9223372036854775808m)"),
        ]);
        assert_eq!(calc("max(1Gi * 1e30, 1)"), Ok("1".into()));
        // 1e400 overflows to +Inf as a plain number, but is 0 as a percentage.
        assert_eq!(calc("1e400"), Ok("inf".into()));
        assert_eq!(calc("1e400%"), Ok("0".into()));
        // Deep nesting is refused instead of exhausting the stack.
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert_eq!(
            calc(&deep),
            Err("expression nested more than 100 levels deep".into())
        );
        assert_eq!(calc(&format!("{}1", "-".repeat(50))), Ok("1".into()));
        let long = vec!["1"; 100_000].join("+");
        assert_eq!(calc(&long), Ok("100000".into()));
    }

    #[test]
    fn word_detection() {
        assert!(contains_word(b"memory*2", b"memory"));
        assert!(contains_word(b"max(memory, 1Gi)", b"memory"));
        assert!(!contains_word(b"memory_x", b"memory"));
        assert!(!contains_word(b"MEMORY", b"memory"));
        assert!(!contains_word(b"xmemory", b"memory"));
        assert!(contains_word("é memory".as_bytes(), b"memory"));
        assert!(!contains_word(b"mem", b"memory"));
    }

    #[test]
    fn validation_binds_the_field_variable_to_one() {
        use ExprResource::{Cpu, Memory};
        let refused = |why: &str| Err(format!("invalid expression: {why}"));
        for (expr, res, want) in [
            ("", Cpu, Ok(())),
            ("cpu*50%", Cpu, Ok(())),
            ("max(cpu*50%, 50m)", Cpu, Ok(())),
            ("cpu - 100m", Cpu, Ok(())),
            // 1 - 2 < 0 with the dummy value.
            ("cpu - 2", Cpu, refused("result is negative (-1)")),
            ("memory*2", Memory, Ok(())),
            ("MEMORY*2", Memory, Ok(())),
            ("cpu*2", Memory, refused("undefined variable: cpu")),
            ("memory*2", Cpu, refused("undefined variable: memory")),
            ("200Mi", Memory, Ok(())),
            (
                "memory*0.5 - 1Gi",
                Memory,
                refused("result is negative (-1073741823500m)"),
            ),
            ("10 / (cpu - 1)", Cpu, refused("division by zero")),
            (
                "   ",
                Cpu,
                refused("syntax error at offset 3: unexpected end of expression"),
            ),
            (
                "cpu *",
                Cpu,
                refused("syntax error at offset 5: unexpected end of expression"),
            ),
            (
                "min(max(max(max(0.5,0.5*cpu),cpu-1.0),cpu-1.0),3.0)",
                Cpu,
                Ok(()),
            ),
        ] {
            assert_eq!(validate_expr_for(expr, res), want, "{expr:?} for {res:?}");
        }
        assert_eq!(
            validate_expr_for("cpu*2", Memory),
            refused("undefined variable: cpu")
        );
    }

    #[test]
    fn injection_variable_and_number_results() {
        // A plain number is millicores for cpu, whole bytes for memory.
        assert_eq!(
            evaluate_expr("0.5", &qty("1")).map(|q| q.to_go_string()),
            Ok("500m".into())
        );
        // Only text after a NUL can name the memory variable without using it: whole bytes.
        assert_eq!(
            evaluate_expr("1.5\0memory", &qty("1Gi")).map(|q| q.to_go_string()),
            Ok("1".into())
        );
        assert_eq!(
            evaluate_expr("1073741824 + 0 * memory", &qty("1Gi")).map(|q| q.to_go_string()),
            Ok("1073741824".into())
        );
        assert_eq!(
            evaluate_expr("max(memory, 1024)", &qty("0")).map(|q| q.to_go_string()),
            Ok("1024".into())
        );
        assert_eq!(
            evaluate_expr("memory*0 + 0.5", &qty("1Gi")).map(|q| q.to_go_string()),
            Ok("500m".into())
        );
        // The variable is chosen from the text, so a memory field without the word uses cpu.
        assert_eq!(
            evaluate_expr("0.5", &qty("1Gi")).map(|q| q.to_go_string()),
            Ok("500m".into())
        );
        // "MEMORY" does not select the memory variable, and cpu is then not "MEMORY".
        assert_eq!(
            evaluate_expr("MEMORY*2", &qty("1Gi")),
            Err("undefined variable: MEMORY".into())
        );
        // Non-finite or huge plain results are refused (Go would emit -9223372036854775808m).
        assert_eq!(
            evaluate_expr("1e400 - 1e400", &qty("1")),
            Err("result NaN is out of range".into())
        );
        assert_eq!(
            evaluate_expr("1e20", &qty("1")),
            Err("result 100000000000000000000 is out of range".into())
        );
        // The variable keeps the target's text when returned unchanged.
        assert_eq!(
            evaluate_expr("cpu", &qty("+1")).map(|q| q.to_go_string()),
            Ok("+1".into())
        );
        assert_eq!(
            evaluate_expr("cpu*1", &qty("+1")).map(|q| q.to_go_string()),
            Ok("1".into())
        );
        // Kruise's documented piecewise-linear example.
        let doc = "min(max(max(max(0.5,0.5*cpu),cpu-1.0),cpu-1.0),3.0)";
        for (cpu, want) in [
            ("0", "500m"),
            ("1", "500m"),
            ("1500m", "750m"),
            ("2", "1"),
            ("3", "2"),
            ("4", "3"),
            ("5", "3"),
            ("8", "3"),
        ] {
            assert_eq!(
                evaluate_expr(doc, &qty(cpu)).map(|q| q.to_go_string()),
                Ok(want.into()),
                "cpu={cpu}"
            );
        }
    }

    // ---- Kruise pkg/webhook/pod/mutating/sidecarset_resources_test.go ----

    fn res(limits: &[(&str, &str)], requests: &[(&str, &str)]) -> Value {
        let map = |kv: &[(&str, &str)]| {
            Value::Object(kv.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
        };
        let mut r = Map::new();
        if !limits.is_empty() {
            r.insert("limits".into(), map(limits));
        }
        if !requests.is_empty() {
            r.insert("requests".into(), map(requests));
        }
        Value::Object(r)
    }

    fn exprs<'a>(lc: &'a str, lm: &'a str, rc: &'a str, rm: &'a str) -> ResourceExprs<'a> {
        let some = |s: &'a str| (!s.is_empty()).then_some(s);
        ResourceExprs {
            limits_cpu: some(lc),
            limits_memory: some(lm),
            requests_cpu: some(rc),
            requests_memory: some(rm),
        }
    }

    #[test]
    fn kruise_apply_resources_policy() {
        let app = |lc, lm, rc, rm| {
            res(
                &[("cpu", lc), ("memory", lm)],
                &[("cpu", rc), ("memory", rm)],
            )
        };
        let two = [
            app("200m", "200Mi", "50m", "100Mi"),
            app("400m", "400Mi", "100m", "200Mi"),
        ];
        let refs: Vec<&Value> = two.iter().collect();

        // sum mode with percentage
        let got = compute_resources(
            TargetMode::Sum,
            &exprs("cpu*50%", "200Mi", "cpu*50%", "100Mi"),
            &refs,
        );
        assert_eq!(
            got,
            Ok(
                json!({"limits": {"cpu": "300m", "memory": "200Mi"}, "requests": {"cpu": "75m", "memory": "100Mi"}})
            )
        );
        // max mode
        let e = exprs("max(cpu*50%, 50m)", "200Mi", "max(cpu*50%, 50m)", "100Mi");
        assert_eq!(
            compute_resources(TargetMode::Max, &e, &refs),
            Ok(
                json!({"limits": {"cpu": "200m", "memory": "200Mi"}, "requests": {"cpu": "50m", "memory": "100Mi"}})
            )
        );
        // regex picked only the first container
        assert_eq!(
            compute_resources(TargetMode::Sum, &e, &refs[..1]),
            Ok(
                json!({"limits": {"cpu": "100m", "memory": "200Mi"}, "requests": {"cpu": "50m", "memory": "100Mi"}})
            )
        );
        // no target
        assert_eq!(
            compute_resources(TargetMode::Sum, &exprs("cpu*50%", "", "", ""), &[]),
            Err("resourcesPolicy: no target container matched".into())
        );

        let pct = exprs("cpu*50%", "memory*30%", "cpu*30%", "memory*20%");
        // sum mode, one container without a CPU limit: the CPU limit stays unlimited
        let t = [
            res(
                &[("cpu", "200m"), ("memory", "200Mi")],
                &[("cpu", "100m"), ("memory", "100Mi")],
            ),
            res(
                &[("memory", "400Mi")],
                &[("cpu", "50m"), ("memory", "200Mi")],
            ),
        ];
        assert_eq!(
            compute_resources(TargetMode::Sum, &pct, &t.iter().collect::<Vec<_>>()),
            Ok(
                json!({"limits": {"memory": "180Mi"}, "requests": {"cpu": "45m", "memory": "60Mi"}})
            )
        );
        // max mode, one container without a memory limit or request
        let t = [
            res(
                &[("cpu", "200m"), ("memory", "200Mi")],
                &[("cpu", "100m"), ("memory", "100Mi")],
            ),
            res(&[("cpu", "400m")], &[("cpu", "200m")]),
        ];
        assert_eq!(
            compute_resources(
                TargetMode::Max,
                &exprs("cpu*40%", "memory*30%", "cpu*25%", "memory*20%"),
                &t.iter().collect::<Vec<_>>()
            ),
            Ok(json!({"limits": {"cpu": "160m"}, "requests": {"cpu": "50m", "memory": "20Mi"}}))
        );
        // sum mode, a container without requests counts as zero
        let t = [
            res(
                &[("cpu", "200m"), ("memory", "200Mi")],
                &[("cpu", "100m"), ("memory", "100Mi")],
            ),
            res(&[("cpu", "400m"), ("memory", "400Mi")], &[]),
        ];
        assert_eq!(
            compute_resources(TargetMode::Sum, &pct, &t.iter().collect::<Vec<_>>()),
            Ok(
                json!({"limits": {"cpu": "300m", "memory": "180Mi"}, "requests": {"cpu": "30m", "memory": "20Mi"}})
            )
        );
        // native sidecar init container + container
        let t = [
            app("400m", "800Mi", "200m", "400Mi"),
            app("600m", "1200Mi", "300m", "600Mi"),
        ];
        let e = exprs(
            "max(cpu*30%, 50m)",
            "max(memory*25%, 100Mi)",
            "cpu*20%",
            "memory*15%",
        );
        assert_eq!(
            compute_resources(TargetMode::Sum, &e, &t.iter().collect::<Vec<_>>()),
            Ok(
                json!({"limits": {"cpu": "300m", "memory": "500Mi"}, "requests": {"cpu": "100m", "memory": "150Mi"}})
            )
        );
    }

    fn agg_strings(a: &Aggregate) -> [Option<String>; 4] {
        [
            &a.limits_cpu,
            &a.limits_memory,
            &a.requests_cpu,
            &a.requests_memory,
        ]
        .map(|q| q.as_ref().map(Quantity::to_go_string))
    }

    #[test]
    fn kruise_aggregate_by_sum_and_max() {
        let s = |v: &str| Some(v.to_string());
        let full = [
            res(
                &[("cpu", "200m"), ("memory", "200Mi")],
                &[("cpu", "50m"), ("memory", "100Mi")],
            ),
            res(
                &[("cpu", "400m"), ("memory", "400Mi")],
                &[("cpu", "100m"), ("memory", "200Mi")],
            ),
        ];
        let refs: Vec<&Value> = full.iter().collect();
        let sum = aggregate(TargetMode::Sum, &refs).expect("valid");
        assert_eq!(
            agg_strings(&sum),
            [s("600m"), s("600Mi"), s("150m"), s("300Mi")]
        );
        let max = aggregate(TargetMode::Max, &refs).expect("valid");
        assert_eq!(
            agg_strings(&max),
            [s("400m"), s("400Mi"), s("100m"), s("200Mi")]
        );

        let no_cpu_limit = [
            res(
                &[("cpu", "200m"), ("memory", "200Mi")],
                &[("cpu", "50m"), ("memory", "100Mi")],
            ),
            res(
                &[("memory", "400Mi")],
                &[("cpu", "100m"), ("memory", "200Mi")],
            ),
        ];
        let refs: Vec<&Value> = no_cpu_limit.iter().collect();
        let sum = aggregate(TargetMode::Sum, &refs).expect("valid");
        assert_eq!(agg_strings(&sum), [None, s("600Mi"), s("150m"), s("300Mi")]);
        let max = aggregate(TargetMode::Max, &refs).expect("valid");
        assert_eq!(agg_strings(&max), [None, s("400Mi"), s("100m"), s("200Mi")]);

        let no_requests = [
            res(
                &[("cpu", "200m"), ("memory", "200Mi")],
                &[("cpu", "50m"), ("memory", "100Mi")],
            ),
            res(&[("cpu", "100m"), ("memory", "150Mi")], &[]),
        ];
        let refs: Vec<&Value> = no_requests.iter().collect();
        let sum = aggregate(TargetMode::Sum, &refs).expect("valid");
        assert_eq!(
            agg_strings(&sum),
            [s("300m"), s("350Mi"), s("50m"), s("100Mi")]
        );
        let max = aggregate(TargetMode::Max, &refs).expect("valid");
        assert_eq!(
            agg_strings(&max),
            [s("200m"), s("200Mi"), s("50m"), s("100Mi")]
        );
    }

    #[test]
    fn aggregation_details() {
        // Sums take the format of the first non-zero term and lose remembered text.
        let t = [
            res(&[("memory", "0")], &[]),
            res(&[("memory", "1Gi")], &[]),
            res(&[("memory", "500M")], &[]),
        ];
        let sum = aggregate(TargetMode::Sum, &t.iter().collect::<Vec<_>>()).expect("valid");
        assert_eq!(
            sum.limits_memory.map(|q| q.to_go_string()),
            Some("1573741824".to_string())
        );
        // Max keeps the first of equal values as written.
        let t = [res(&[("cpu", "1")], &[]), res(&[("cpu", "1000m")], &[])];
        let max = aggregate(TargetMode::Max, &t.iter().collect::<Vec<_>>()).expect("valid");
        assert_eq!(
            max.limits_cpu.map(|q| q.to_go_string()),
            Some("1".to_string())
        );
        // Requests summing to zero count as absent, which evaluates the same.
        let t = [res(&[], &[("cpu", "0")])];
        let sum = aggregate(TargetMode::Sum, &t.iter().collect::<Vec<_>>()).expect("valid");
        assert_eq!(sum.requests_cpu, None);
        // Null, missing and number-valued entries.
        let t = [
            json!(null),
            json!({"limits": null, "requests": {"cpu": 2, "memory": null}}),
        ];
        let max = aggregate(TargetMode::Max, &t.iter().collect::<Vec<_>>()).expect("valid");
        assert_eq!(
            agg_strings(&max),
            [None, None, Some("2".into()), Some("0".into())]
        );
    }

    #[test]
    fn compute_resources_errors_and_shapes() {
        let t = [res(&[("cpu", "100m")], &[("cpu", "100m")])];
        let refs: Vec<&Value> = t.iter().collect();
        assert_eq!(
            compute_resources(TargetMode::Sum, &exprs("cpu*-2", "", "", ""), &refs),
            Err("limits.cpu expression \"cpu*-2\": result is negative (-200m)".into())
        );
        assert_eq!(
            compute_resources(TargetMode::Sum, &exprs("", "", "cpu / 0", ""), &refs),
            Err("requests.cpu expression \"cpu / 0\": division by zero".into())
        );
        assert_eq!(
            compute_resources(TargetMode::Sum, &exprs("(cpu", "", "", ""), &refs),
            Err("limits.cpu expression \"(cpu\": syntax error at offset 4: \
                 unexpected end of expression"
                .into())
        );
        // Unlimited memory limit: its expression is skipped even though it would fail.
        assert_eq!(
            compute_resources(TargetMode::Sum, &exprs("", "garbage((", "", ""), &refs),
            Ok(json!({}))
        );
        // Nothing set.
        assert_eq!(
            compute_resources(TargetMode::Max, &ResourceExprs::default(), &refs),
            Ok(json!({}))
        );
        // Empty strings are "not set".
        assert_eq!(
            compute_resources(TargetMode::Max, &exprs("", "", "", "memory + 64Mi"), &refs),
            Ok(json!({"requests": {"memory": "64Mi"}}))
        );
        // Bad input data.
        for (bad, want) in [
            (
                json!({"limits": {"cpu": "lots"}}),
                "target container 0: resources.limits.cpu: invalid quantity \"lots\": quantities \
                 must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ),
            (json!("x"), "target container 0: resources is not an object"),
            (
                json!({"limits": []}),
                "target container 0: resources.limits is not an object",
            ),
            (
                json!({"limits": {"cpu": true}}),
                "target container 0: resources.limits.cpu: not a quantity",
            ),
        ] {
            assert_eq!(
                compute_resources(TargetMode::Sum, &exprs("cpu", "", "", ""), &[&bad]),
                Err(want.to_string()),
                "{bad}"
            );
        }
        // Huge but valid quantities stay exact.
        let big = [
            res(&[("memory", "8Ei")], &[]),
            res(&[("memory", "8Ei")], &[]),
        ];
        assert_eq!(
            compute_resources(
                TargetMode::Sum,
                &exprs("", "memory", "", ""),
                &big.iter().collect::<Vec<_>>()
            ),
            Ok(json!({"limits": {"memory": "18446744073709551614"}}))
        );
    }
}
