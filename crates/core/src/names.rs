//! Kubernetes name and key rules (apimachinery's `validation` package), as messages that say what is allowed.

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const QUALIFIED_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters: container, volume and port-less names.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= DNS1123_LABEL_MAX
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be a DNS-1123 label (at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit), got {s:?}"
        ))
    }
}

pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= DNS1123_SUBDOMAIN_MAX
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| is_alnum_lower(c) || c == '-')
                && part.starts_with(is_alnum_lower)
                && part.ends_with(is_alnum_lower)
        });
    if ok {
        Ok(())
    } else {
        Err(format!("must be a DNS-1123 subdomain, got {s:?}"))
    }
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= QUALIFIED_NAME_MAX
        && s.chars()
            .all(|c| is_alnum(c) || matches!(c, '-' | '_' | '.'))
        && s.starts_with(is_alnum)
        && s.ends_with(is_alnum)
}

/// A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63 characters
/// of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric.
pub fn qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && dns1123_subdomain(p).is_err()
    {
        return Err(format!(
            "prefix of {s:?} must be a DNS-1123 subdomain (e.g. example.com)"
        ));
    }
    if name_part(name) {
        Ok(())
    } else {
        Err(format!(
            "must be a qualified name ([prefix/]name, name at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric), got {s:?}"
        ))
    }
}

pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() || (s.len() <= LABEL_VALUE_MAX && name_part(s)) {
        Ok(())
    } else {
        Err(format!(
            "must be a label value (empty, or at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric), got {s:?}"
        ))
    }
}

/// Environment variable names: Kubernetes accepts any printable ASCII except '=' (relaxed validation, 1.30+).
pub fn env_var_name(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.chars().all(|c| (' '..='~').contains(&c) && c != '=') {
        Ok(())
    } else {
        Err(format!("must be printable ASCII without '=', got {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys() {
        assert!(dns1123_label("filebeat").is_ok());
        assert!(dns1123_label("Filebeat").is_err());
        assert!(dns1123_label("-a").is_err());
        assert!(dns1123_label(&"a".repeat(64)).is_err());
        assert!(qualified_name("kruise.io/inject-filebeat").is_ok());
        assert!(qualified_name("app").is_ok());
        assert!(qualified_name("Bad_Prefix/x").is_err());
        assert!(qualified_name("x/").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("true").is_ok());
        assert!(label_value("a b").is_err());
        assert!(env_var_name("POD_NAMESPACE").is_ok());
        assert!(env_var_name("A=B").is_err());
    }
}
