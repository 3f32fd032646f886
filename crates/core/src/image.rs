//! Container image references, as far as SidecarSet needs them: the tag decides the default pull policy.

/// The parts of `[registry/]repo[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

pub fn parse(image: &str) -> ImageRef<'_> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    // A ':' before the last '/' belongs to a registry host:port, not to a tag.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => ImageRef {
            repository: &name[..last_slash + i],
            tag: Some(&name[last_slash + i + 1..]),
            digest,
        },
        None => ImageRef {
            repository: name,
            tag: None,
            digest,
        },
    }
}

/// Kubernetes' `SetDefaults_Container`: `Always` for `:latest` or an image with neither tag nor digest.
pub fn default_pull_policy(image: &str) -> &'static str {
    let r = parse(image);
    let tag = match (r.tag, r.digest) {
        (Some(t), _) => t,
        (None, None) if !image.is_empty() => "latest",
        _ => "",
    };
    if tag == "latest" {
        "Always"
    } else {
        "IfNotPresent"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:1"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
        assert_eq!(default_pull_policy("busybox:latest@sha256:abc"), "Always");
    }

    #[test]
    fn splits_repository_tag_and_digest() {
        assert_eq!(
            parse("docker.elastic.co/beats/filebeat:7.16.2"),
            ImageRef {
                repository: "docker.elastic.co/beats/filebeat",
                tag: Some("7.16.2"),
                digest: None
            }
        );
        assert_eq!(parse("a/b@sha256:1").digest, Some("sha256:1"));
    }
}
