//! Errors that stop a run before an `AdmissionResponse` exists. Their `Display` is the text
//! kwctl prints after `Error: ` where kwctl has an equivalent.

/// Everything that can go wrong outside of the guest's own answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request file could not be turned into an `AdmissionRequest`.
    #[error("{0}")]
    Request(String),
    /// Settings that are not a JSON object (after `null` became `{}`).
    #[error("Invalid settings in CRD, not an object")]
    SettingsNotAnObject,
    /// `validate_settings` answered `valid: false` (or failed, which kwctl reports the same way).
    #[error("Provided settings are not valid: {0}")]
    InvalidSettings(String),
    /// A file could not be read or parsed.
    #[error("{0}")]
    Input(String),
    /// The module could not be compiled, linked or initialised.
    #[error("{0}")]
    Load(String),
    /// A registry could not be reached or refused the push or pull.
    #[error("{0}")]
    Registry(String),
    /// Something kwctl can do that this host deliberately does not.
    #[error("not supported by kwhost: {0}")]
    Unsupported(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
