//! Image references the way Kruise compares them to decide that an upgrade completed
//! (docs/upgrade-planning.md#image-comparison).
//!
//! Kruise parses both sides with `reference.Parse` (no normalisation: `busybox@sha256:…` and
//! `docker.io/library/busybox@sha256:…` differ) and calls an image a digest image when the parse
//! succeeds with a digest. go-digest only accepts sha256/sha384/sha512 with lowercase hex of the right
//! length, so anything else is not a digest image and falls back to the in-place-update record.

use crate::image::{self, ImageRef};

fn parse_checked(reference: &str) -> Option<ImageRef<'_>> {
    let r = image::parse(reference);
    let bad_name = r.repository.is_empty()
        || r.repository
            .chars()
            .any(|c| c.is_ascii_uppercase() || c.is_whitespace());
    if bad_name || r.tag == Some("") {
        return None;
    }
    match r.digest {
        Some(d) if !valid_digest(d) => None,
        _ => Some(r),
    }
}

fn valid_digest(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let want = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == want
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Kruise's `util.IsImageDigest`.
pub(crate) fn is_digest(reference: &str) -> bool {
    // No `@`, no digest: most images are tags, and this runs for every tracked container of every
    // Pod a round classifies.
    reference.contains('@') && parse_checked(reference).is_some_and(|r| r.digest.is_some())
}

/// Kruise's `util.IsContainerImageEqual`: repository and digest when both are digests, else
/// repository and tag.
pub(crate) fn image_equal(a: &str, b: &str) -> bool {
    let (Some(ra), Some(rb)) = (parse_checked(a), parse_checked(b)) else {
        return false;
    };
    if ra.digest.is_some() && rb.digest.is_some() {
        ra.repository == rb.repository && ra.digest == rb.digest
    } else {
        ra.repository == rb.repository && ra.tag == rb.tag
    }
}

/// Whether a Pod container whose spec says `pod_image` runs the settings' `wanted` image: the same
/// string, or `wanted` pinned to a digest by a mutating policy (signature verification rewrites
/// `repo:tag` into `repo:tag@sha256:…` at admission, on create and on our own update). Kruise compares
/// the strings, so it would "upgrade" a pinned Pod back to the unpinned reference on every round.
pub(crate) fn runs(pod_image: &str, wanted: &str) -> bool {
    if pod_image == wanted {
        return true;
    }
    match pod_image.rsplit_once('@') {
        Some((name, digest)) => name == wanted && !wanted.contains('@') && valid_digest(digest),
        None => false,
    }
}

/// Kruise's `GetPodContainerImageIDs`: `docker-pullable://repo@sha256:…` loses its scheme (the text
/// between the first and the second `://`).
pub(crate) fn strip_scheme(image_id: &str) -> &str {
    match image_id.split("://").nth(1) {
        Some(rest) => rest,
        None => image_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:a9286defaba7b3a519d585ba0e37d0b2cbee74ebfe590960b0b1d6a5e97d1e1d";

    #[test]
    fn digest_images() {
        assert!(is_digest(&format!("docker.io/busybox@{D}")));
        assert!(is_digest(&format!("busybox:1.36@{D}")));
        assert!(!is_digest("busybox:1.36"));
        assert!(!is_digest("busybox@sha256:abc"), "too short for sha256");
        assert!(
            !is_digest(&format!("Busybox@{D}")),
            "uppercase names do not parse"
        );
        assert!(!is_digest(&format!("busybox@md5:{}", &D[7..39])));
    }

    #[test]
    fn equality_is_by_repository_and_digest_without_normalisation() {
        let spec = format!("docker.io/library/busybox@{D}");
        assert!(image_equal(
            &spec,
            strip_scheme(&format!("docker-pullable://docker.io/library/busybox@{D}"))
        ));
        assert!(!image_equal(&format!("busybox@{D}"), &spec));
        assert!(image_equal(
            &format!("docker.io/library/busybox:1.36@{D}"),
            &spec
        ));
        assert!(image_equal("busybox:1", "busybox:1"));
        assert!(!image_equal("busybox:1", &spec));
    }

    #[test]
    fn digest_pinned_images_run_the_unpinned_reference() {
        assert!(runs("busybox:1.36", "busybox:1.36"));
        assert!(runs(&format!("busybox:1.36@{D}"), "busybox:1.36"));
        assert!(!runs(&format!("busybox:1.37@{D}"), "busybox:1.36"));
        assert!(
            !runs("busybox:1.36@sha256:abc", "busybox:1.36"),
            "not a digest"
        );
        assert!(
            !runs(&format!("busybox@{D}"), &format!("busybox@{D}x")),
            "a wanted digest is compared as is"
        );
        assert!(!runs("busybox:1.36", &format!("busybox:1.36@{D}")));
    }

    #[test]
    fn scheme_stripping() {
        assert_eq!(strip_scheme("docker-pullable://a@b"), "a@b");
        assert_eq!(strip_scheme("a@b"), "a@b");
        assert_eq!(strip_scheme("x://a://b"), "a");
    }
}
