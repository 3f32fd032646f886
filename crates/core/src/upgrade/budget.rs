//! `partition` and `maxUnavailable` with Kruise's arithmetic (§4.6, §10.3).

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
                // §10.3: Kruise parses the percentage as a float.
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
pub(crate) fn max_unavailable(m: Option<&IntOrString>, total: usize) -> i64 {
    match m {
        None => 1,
        Some(IntOrString::Int(n)) => i64::from(*n),
        Some(IntOrString::String(s)) => {
            atoi_percent(s).map_or(0, |n| ceil_percent(n as f64, total))
        }
    }
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
}
