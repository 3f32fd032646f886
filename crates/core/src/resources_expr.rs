//! (temporary stub of the agreed API; the full port of Kruise's calculator replaces it)
pub enum TargetMode {
    Sum,
    Max,
}
pub struct ResourceExprs<'a> {
    pub limits_cpu: Option<&'a str>,
    pub limits_memory: Option<&'a str>,
    pub requests_cpu: Option<&'a str>,
    pub requests_memory: Option<&'a str>,
}
pub fn validate_expr(_expr: &str) -> Result<(), String> {
    Ok(())
}
pub fn compute_resources(
    _mode: TargetMode,
    _exprs: &ResourceExprs<'_>,
    _targets: &[&serde_json::Value],
) -> Result<serde_json::Value, String> {
    Err("stub".into())
}
