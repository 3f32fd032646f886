//! Errors that name the field they are about.

use std::fmt;

/// One problem with one field of the settings, e.g.
/// `containers[1].podInjectPolicy: must be BeforeAppContainer or AfterAppContainer, got "Sometimes"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a settings document; validation never stops at the first one.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct SettingsErrors(pub Vec<FieldError>);

impl SettingsErrors {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }
}

impl fmt::Display for SettingsErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Joins a parent path and a child segment the way Kubernetes field paths read:
/// `containers[0]` + `name` = `containers[0].name`, `containers` + `[0]` = `containers[0]`.
pub fn join_path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else if child.is_empty() {
        parent.to_string()
    } else if child.starts_with('[') {
        format!("{parent}{child}")
    } else {
        format!("{parent}.{child}")
    }
}

/// Why injection refused a Pod (Kruise's webhook answers 500 for these and the Pod is not created).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The incoming Pod has a value this policy cannot interpret; names the Pod field.
    #[error("pod {field}: {message}")]
    Pod { field: String, message: String },
    /// A setting could not be applied to this Pod; names the Pod field and the setting.
    #[error("pod {field}: {message} (setting {setting})")]
    Setting {
        field: String,
        setting: String,
        message: String,
    },
    /// `injectionStrategy.revision` cannot be honoured for this Pod (its revision is missing or
    /// unreadable); names the setting.
    #[error("{setting}: {message}")]
    Revision { setting: String, message: String },
}
