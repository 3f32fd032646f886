//! `partition` and `maxUnavailable` with Kruise's arithmetic (each function names the Kruise function
//! it mirrors), and the warning for a budget that lets every matched Pod go at once.

use std::fmt;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Go's `int(math.Ceil(float64(p) * float64(total) / 100))`, saturating instead of wrapping.
fn ceil_percent(p: f64, total: usize) -> i64 {
    let v = (p * total as f64 / 100.0).ceil();
    if v.is_nan() { 0 } else { v as i64 }
}

/// `strconv.Atoi` of the part before `%`; `None` when there is no `%` or no integer.
fn atoi_percent(s: &str) -> Option<i64> {
    s.strip_suffix('%')?.parse::<i64>().ok()
}

/// Kruise's `CalculatePartitionReplicas`: the number of matched Pods kept on the old version.
///
/// A percentage rounds up; when that keeps every Pod, there is more than one and the value is not
/// exactly `"100%"`, one Pod is upgraded anyway; the result is clamped to `[0, total]`. A value that
/// does not parse gives 0 (Kruise ignores the error; validation rejects such settings).
pub(crate) fn partition(p: Option<&IntOrString>, total: usize) -> usize {
    let Some(p) = p else { return 0 };
    let value = match p {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(s) => {
            let pct = atoi_percent(s)
                .map(|n| n as f64)
                // A fractional percentage is scaled too (`GetScaledValueFromIntOrPercent` in Kruise's
                // `CalculatePartitionReplicas`).
                .or_else(|| {
                    s.strip_suffix('%')
                        .and_then(|n| n.trim().parse::<f64>().ok())
                });
            let Some(pct) = pct else { return 0 };
            let mut v = ceil_percent(pct, total);
            if total > 1 && v == total as i64 && s != "100%" {
                v = total as i64 - 1;
            }
            v
        }
    };
    value.clamp(0, total as i64) as usize
}

/// `GetValueFromIntOrPercent(maxUnavailable, total, roundUp=true)`: a percentage rounds up (since
/// Kruise #1834; floor made small percentages 0 and blocked rollouts, #1812/#1832). Unparsable: 0.
pub fn max_unavailable(m: Option<&IntOrString>, total: usize) -> i64 {
    match m {
        None => 1,
        Some(IntOrString::Int(n)) => i64::from(*n),
        Some(IntOrString::String(s)) => {
            atoi_percent(s).map_or(0, |n| ceil_percent(n as f64, total))
        }
    }
}

/// A `maxUnavailable` that lets every matched Pod be unavailable at once.
///
/// Kruise accepts it (and so does validation here, for pasted specs), and it does what it says: a
/// rollout takes every matched Pod down together. That is almost never what was meant, so the
/// reconciler says so (Event, metric, `plan`) instead of refusing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BudgetWarning {
    /// A percentage over 100%: every matched Pod, however many there are.
    OverHundredPercent { value: String, matched: usize },
    /// The budget resolves to at least the number of matched Pods, and there is more than one (a
    /// budget of 1 over a single Pod is the default, not a mistake).
    EveryMatchedPod {
        value: String,
        resolved: i64,
        matched: usize,
    },
}

impl BudgetWarning {
    /// The setting as written (`"150%"`, `10`): what a changed warning is compared on, so that a
    /// matched count moving under the same setting is not news.
    pub fn setting(&self) -> &str {
        match self {
            BudgetWarning::OverHundredPercent { value, .. }
            | BudgetWarning::EveryMatchedPod { value, .. } => value,
        }
    }
}

impl fmt::Display for BudgetWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetWarning::OverHundredPercent { value, matched } => write!(
                f,
                "updateStrategy.maxUnavailable {value} is over 100%: every matched Pod (now {matched}) \
                 may be upgraded, and so be unavailable, at once"
            ),
            BudgetWarning::EveryMatchedPod {
                value,
                resolved,
                matched,
            } => write!(
                f,
                "updateStrategy.maxUnavailable {value} allows {resolved} unavailable Pods and the set \
                 matches {matched}: every matched Pod may be upgraded, and so be unavailable, at once"
            ),
        }
    }
}

/// Whether `max_unavailable` (as in the settings; `None` is the default, 1) lets every one of
/// `matched` Pods go at once: a percentage over 100%, or a value that resolves (with Kruise's
/// arithmetic, [`max_unavailable`]) to `matched` or more when more than one Pod is matched.
pub fn budget_warning(
    max_unavailable: Option<&IntOrString>,
    matched: usize,
) -> Option<BudgetWarning> {
    let m = max_unavailable?;
    let value = match m {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => format!("{s:?}"),
    };
    if let IntOrString::String(s) = m
        && atoi_percent(s).is_some_and(|p| p > 100)
    {
        return Some(BudgetWarning::OverHundredPercent { value, matched });
    }
    let resolved = self::max_unavailable(Some(m), matched);
    (matched > 1 && resolved >= matched as i64).then_some(BudgetWarning::EveryMatchedPod {
        value,
        resolved,
        matched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    #[test]
    fn partition_arithmetic() {
        assert_eq!(partition(None, 10), 0);
        assert_eq!(partition(Some(&IntOrString::Int(3)), 10), 3);
        assert_eq!(partition(Some(&IntOrString::Int(30)), 10), 10, "clamped");
        assert_eq!(partition(Some(&IntOrString::Int(-3)), 10), 0, "clamped");
        assert_eq!(partition(Some(&s("50%")), 100), 50);
        assert_eq!(partition(Some(&s("1%")), 10), 1, "rounds up");
        assert_eq!(
            partition(Some(&s("99%")), 10),
            9,
            "all but one, unless exactly 100%"
        );
        assert_eq!(partition(Some(&s("100%")), 10), 10);
        assert_eq!(partition(Some(&s("99%")), 1), 1, "a single Pod is kept");
        assert_eq!(partition(Some(&s("12.5%")), 8), 1);
        assert_eq!(partition(Some(&s("ten")), 8), 0);
    }

    #[test]
    fn max_unavailable_arithmetic() {
        assert_eq!(max_unavailable(None, 10), 1);
        assert_eq!(max_unavailable(Some(&IntOrString::Int(0)), 10), 0);
        assert_eq!(max_unavailable(Some(&s("10%")), 100), 10);
        assert_eq!(
            max_unavailable(Some(&s("1%")), 10),
            1,
            "#1812: rounds up, not to 0"
        );
        assert_eq!(max_unavailable(Some(&s("25%")), 10), 3);
        assert_eq!(max_unavailable(Some(&s("0%")), 10), 0);
        assert_eq!(max_unavailable(Some(&s("x%")), 10), 0);
    }
    #[test]
    fn a_budget_that_lets_every_matched_pod_go_is_flagged() {
        let over = budget_warning(Some(&s("150%")), 10).expect("150% is flagged");
        assert_eq!(
            over,
            BudgetWarning::OverHundredPercent {
                value: "\"150%\"".into(),
                matched: 10
            }
        );
        assert!(over.to_string().contains("over 100%"), "{over}");
        assert!(
            budget_warning(Some(&s("101%")), 0).is_some(),
            "over 100% is flagged whatever the count"
        );
        let all = budget_warning(Some(&s("100%")), 10).expect("100% of 10");
        assert!(
            matches!(
                all,
                BudgetWarning::EveryMatchedPod {
                    resolved: 10,
                    matched: 10,
                    ..
                }
            ),
            "{all:?}"
        );
        assert!(
            budget_warning(Some(&IntOrString::Int(10)), 10).is_some(),
            "10 of 10"
        );
        assert!(
            budget_warning(Some(&IntOrString::Int(12)), 10).is_some(),
            "12 of 10"
        );
        assert!(
            budget_warning(Some(&s("95%")), 10).is_some(),
            "95% of 10 rounds up to 10"
        );
        assert_eq!(all.setting(), "\"100%\"");
    }

    #[test]
    fn a_budget_that_keeps_a_pod_is_not_flagged() {
        assert_eq!(budget_warning(None, 10), None, "the default, 1");
        assert_eq!(budget_warning(Some(&IntOrString::Int(9)), 10), None);
        assert_eq!(budget_warning(Some(&s("85%")), 10), None, "ceil(8.5) = 9");
        assert_eq!(
            budget_warning(Some(&IntOrString::Int(1)), 1),
            None,
            "one Pod, budget one: the default on a one-Pod set"
        );
        assert_eq!(budget_warning(Some(&s("100%")), 1), None);
        assert_eq!(budget_warning(Some(&s("100%")), 0), None);
        assert_eq!(budget_warning(Some(&IntOrString::Int(0)), 0), None);
        assert_eq!(budget_warning(Some(&s("x%")), 10), None, "unparsable: 0");
    }
}
