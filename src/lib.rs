//! Kubewarden policy adapter (waPC glue) over `sidecarset-core`.
