//! Keeps `docs/` the behaviour reference the code cites (docs/README.md#citing-these-files):
//!
//! * no source, test, script or document cites sections of a document outside the repository (its
//!   section sign, its file name or its directory), since someone who clones the repository cannot
//!   follow such a citation;
//! * every `docs/<file>.md#<anchor>` cited anywhere, and every relative link inside `docs/`, names a
//!   file that exists and a heading whose GitHub anchor is `<anchor>`;
//! * every link of `README.md` and `docs/*.md` that stays in the repository (relative, or an absolute
//!   `https://github.com/sidecarset/sidecarset/blob/main/…` one, as the README writes them so that
//!   they work on Artifact Hub too) names a file or directory that exists and, into a Markdown file,
//!   a heading of it;
//! * `README.md`, the policy's page (embedded by `kwctl annotate`, shown by Artifact Hub), stays
//!   under 20 KB.
//!
//! Each problem is reported as `file:line`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// What marks a citation of the outside reference. Built from parts, so that this file does not hold
/// them itself.
fn forbidden() -> Vec<String> {
    vec![
        '\u{a7}'.to_string(),
        ["sidecarset", "semantics"].join("-"),
        ["shared", "reference"].join("/"),
    ]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files checked: sources, tests, benches, scripts, the README and the docs.
fn checked_files() -> Vec<PathBuf> {
    let root = root();
    let mut dirs: Vec<PathBuf> = ["src", "tests", "benches", "hack", "docs"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    let crates = fs::read_dir(root.join("crates")).expect("crates/ is readable");
    for entry in crates {
        let dir = entry.expect("crates/ entry").path();
        dirs.push(dir.join("src"));
        dirs.push(dir.join("tests"));
    }
    let mut files = vec![root.join("README.md")];
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        walk(dir, &mut files);
    }
    files.sort();
    files
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// A file's text; `None` for a binary file, which holds no comment to check.
fn text_of(path: &Path) -> Option<String> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8(bytes).ok().filter(|t| !t.contains('\0'))
}

/// GitHub's anchor for a heading: lower case, every character other than a letter, a digit, `-`,
/// `_` or a space dropped, spaces turned into `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown document's headings (outside code fences), a repeated one numbered as
/// GitHub numbers it (`x`, `x-1`, `x-2`).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        let Some(title) = line[hashes..].strip_prefix(' ') else {
            continue;
        };
        if fenced || !(1..=6).contains(&hashes) {
            continue;
        }
        let base = anchor(title.trim_end_matches(['#', ' ']));
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// One citation of a docs file: the file name (`upgrade-planning.md`) and the anchor, if any.
#[derive(Debug, PartialEq)]
struct Cite {
    file: String,
    anchor: Option<String>,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}

fn is_anchor_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_')
}

/// Splits `name.md#anchor…` at its end; `None` unless it starts with a Markdown file name.
fn cite_at(rest: &str) -> Option<Cite> {
    let name_len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
    let after = rest[name_len..].strip_prefix(".md")?;
    if name_len == 0 || after.starts_with(is_name_char) {
        return None;
    }
    let anchor = after.strip_prefix('#').map(|a| {
        let end = a.find(|c: char| !is_anchor_char(c)).unwrap_or(a.len());
        a[..end].to_string()
    });
    Some(Cite {
        file: format!("{}.md", &rest[..name_len]),
        anchor,
    })
}

/// Every `docs/<file>.md[#anchor]` in a line, where `docs/` starts a path (not part of a URL or of a
/// longer path).
fn docs_citations(line: &str) -> Vec<Cite> {
    let mut out = Vec::new();
    for (at, _) in line.match_indices("docs/") {
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| is_name_char(c) || matches!(c, '/' | '.')) {
            continue;
        }
        if let Some(cite) = cite_at(&line[at + "docs/".len()..]) {
            out.push(cite);
        }
    }
    out
}

/// Relative Markdown links inside a docs file: `(file.md#anchor)` or `(#anchor)`.
fn relative_links(line: &str, this_file: &str) -> Vec<Cite> {
    let mut out = Vec::new();
    for (at, _) in line.match_indices("](") {
        let target = &line[at + 2..];
        if let Some(a) = target.strip_prefix('#') {
            let end = a.find(|c: char| !is_anchor_char(c)).unwrap_or(a.len());
            out.push(Cite {
                file: this_file.to_string(),
                anchor: Some(a[..end].to_string()),
            });
        } else if let Some(cite) = cite_at(target) {
            out.push(cite);
        }
    }
    out
}

/// The problems of one cited file and anchor, if any.
fn check_cite(cite: &Cite, docs: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    let Some(headings) = docs.get(&cite.file) else {
        return Some(format!("docs/{} does not exist", cite.file));
    };
    let anchor = cite.anchor.as_deref()?;
    (!headings.contains(anchor)).then(|| {
        format!(
            "docs/{} has no heading with anchor #{anchor} (its anchors: {})",
            cite.file,
            headings.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    })
}

fn docs_anchors() -> BTreeMap<String, BTreeSet<String>> {
    let mut docs = BTreeMap::new();
    for entry in fs::read_dir(root().join("docs")).expect("docs/ exists") {
        let path = entry.expect("docs/ entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(md) = name.strip_suffix(".md").map(|_| name.to_string()) {
            let text = fs::read_to_string(&path).expect("a docs page is text");
            docs.insert(md, anchors(&text));
        }
    }
    docs
}

#[test]
fn the_code_cites_only_the_docs_in_the_repository_and_every_citation_resolves() {
    let docs = docs_anchors();
    for page in [
        "README.md",
        "injection.md",
        "upgrade-planning.md",
        "revisions.md",
    ] {
        assert!(docs.contains_key(page), "docs/{page} is missing");
    }
    let forbidden = forbidden();
    let root = root();
    let (mut problems, mut files, mut cites) = (Vec::new(), 0, 0);
    for path in checked_files() {
        let Some(text) = text_of(&path) else {
            continue;
        };
        files += 1;
        let shown = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let in_docs = shown.starts_with("docs/");
        let this_file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        for (i, line) in text.lines().enumerate() {
            let at = format!("{shown}:{}", i + 1);
            for f in forbidden.iter().filter(|f| line.contains(f.as_str())) {
                problems.push(format!(
                    "{at}: cites {f:?}, outside the repository: cite docs/ instead"
                ));
            }
            let mut found = docs_citations(line);
            if in_docs {
                found.extend(relative_links(line, this_file));
            }
            for cite in &found {
                cites += 1;
                if let Some(p) = check_cite(cite, &docs) {
                    problems.push(format!("{at}: {p}"));
                }
            }
        }
    }
    assert!(
        files > 100,
        "only {files} files were checked: is the walk right?"
    );
    assert!(
        cites > 0,
        "no citation of docs/ was found: is the scan right?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(anchor("Per-Pod predicates"), "per-pod-predicates");
    assert_eq!(
        anchor("The `SidecarSetUpgradable` condition"),
        "the-sidecarsetupgradable-condition"
    );
    assert_eq!(
        anchor("A user IS_INJECTED is not duplicated"),
        "a-user-is_injected-is-not-duplicated"
    );
    let found = anchors("# Top\n## Notes\n```\n## Not a heading\n```\n### Notes\n#NoSpace\n");
    let expected: BTreeSet<String> = ["top", "notes", "notes-1"].map(String::from).into();
    assert_eq!(found, expected);
}

#[test]
fn citations_are_found_where_a_path_starts() {
    let line = "see docs/upgrade-planning.md#per-pod-predicates, docs/revisions.md and \
                https://example.com/docs/x.md#y or mydocs/z.md";
    assert_eq!(
        docs_citations(line),
        vec![
            Cite {
                file: "upgrade-planning.md".into(),
                anchor: Some("per-pod-predicates".into())
            },
            Cite {
                file: "revisions.md".into(),
                anchor: None
            },
        ]
    );
    assert_eq!(docs_citations("the docs/ folder, docs/README.mdx"), vec![]);
    let links = relative_links(
        "[a](injection.md#merge-order) [b](#the-flip) [c](https://x.io/a.md)",
        "hot-upgrade.md",
    );
    assert_eq!(
        links,
        vec![
            Cite {
                file: "injection.md".into(),
                anchor: Some("merge-order".into())
            },
            Cite {
                file: "hot-upgrade.md".into(),
                anchor: Some("the-flip".into())
            },
        ]
    );
}

#[test]
fn a_missing_file_or_heading_and_an_outside_citation_are_problems() {
    let docs = BTreeMap::from([("a.md".to_string(), BTreeSet::from(["b".to_string()]))]);
    let cite = |file: &str, anchor: Option<&str>| Cite {
        file: file.into(),
        anchor: anchor.map(Into::into),
    };
    assert_eq!(check_cite(&cite("a.md", Some("b")), &docs), None);
    assert_eq!(check_cite(&cite("a.md", None), &docs), None);
    assert!(check_cite(&cite("a.md", Some("c")), &docs).is_some());
    assert!(check_cite(&cite("z.md", None), &docs).is_some());
    let outside = format!("see the semantics {}4.7", '\u{a7}');
    assert!(forbidden().iter().any(|f| outside.contains(f.as_str())));
}

/// The repository as GitHub serves it: an absolute link with one of these prefixes is a link into
/// the repository's own files (`main`, the branch the README's links name).
const REPO_URLS: &[&str] = &[
    "https://github.com/sidecarset/sidecarset/blob/main/",
    "https://github.com/sidecarset/sidecarset/tree/main/",
];

/// The most `README.md` may weigh: `kwctl annotate` embeds it in the policy, Artifact Hub shows it.
const README_MAX_BYTES: usize = 20 * 1024;

/// A link of a Markdown file that stays in the repository: the path from the repository's root
/// (empty for the file itself) and the anchor, if any.
#[derive(Debug, PartialEq)]
struct RepoLink {
    path: String,
    anchor: Option<String>,
}

/// `a/./b/../c` as `a/c`; `None` for a path that climbs out of the repository.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The links of one line of a Markdown file at `file` (its path from the repository's root) that
/// stay in the repository: `[text](target)` with a relative target, an anchor of the same file, or
/// one of [`REPO_URLS`]. Links to other sites are left out. `Err` for a relative link that climbs
/// out of the repository.
fn repo_links(line: &str, file: &str) -> Vec<Result<RepoLink, String>> {
    let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = Vec::new();
    for (at, _) in line.match_indices("](") {
        let rest = &line[at + 2..];
        let Some(end) = rest.find([')', ' ']) else {
            continue;
        };
        let target = &rest[..end];
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a.to_string())),
            None => (target, None),
        };
        let path = if let Some(p) = REPO_URLS.iter().find_map(|u| path.strip_prefix(u)) {
            normalise(p)
        } else if path.contains("://") || path.starts_with("mailto:") || target.is_empty() {
            continue;
        } else if path.is_empty() {
            Some(file.to_string())
        } else if let Some(p) = path.strip_prefix('/') {
            normalise(p)
        } else {
            normalise(&format!("{dir}/{path}"))
        };
        out.push(
            path.map(|path| RepoLink { path, anchor })
                .ok_or_else(|| format!("link ({target}) leaves the repository")),
        );
    }
    out
}

/// The problem with one link, if any: a missing file or directory, or a missing heading.
fn check_repo_link(link: &RepoLink) -> Option<String> {
    let target = root().join(&link.path);
    if !target.exists() {
        return Some(format!("links to {}, which does not exist", link.path));
    }
    let anchor = link.anchor.as_deref()?;
    if !link.path.ends_with(".md") {
        return None;
    }
    let text = fs::read_to_string(&target).ok()?;
    let headings = anchors(&text);
    (!headings.contains(anchor)).then(|| {
        format!(
            "links to {}#{anchor}, which has no such heading (its anchors: {})",
            link.path,
            headings.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    })
}

/// `README.md` and every `docs/*.md`, as paths from the repository's root.
fn markdown_pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_string()];
    for entry in fs::read_dir(root().join("docs")).expect("docs/ exists") {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|x| x == "md") {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            pages.push(format!("docs/{name}"));
        }
    }
    pages.sort();
    pages
}

#[test]
fn every_link_of_the_readme_and_the_docs_into_the_repository_resolves() {
    let (mut problems, mut links) = (Vec::new(), 0);
    for page in markdown_pages() {
        let text = fs::read_to_string(root().join(&page)).expect("a page is text");
        let mut fenced = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                continue;
            }
            for link in repo_links(line, &page) {
                links += 1;
                let problem = match link {
                    Ok(link) => check_repo_link(&link),
                    Err(e) => Some(e),
                };
                if let Some(p) = problem {
                    problems.push(format!("{page}:{}: {p}", i + 1));
                }
            }
        }
    }
    // The catalogue entry's links (artifacthub-pkg.yml `links`) and the metadata's URLs.
    for file in ["artifacthub-pkg.yml", "metadata.yml"] {
        let text = fs::read_to_string(root().join(file)).expect("readable");
        for (i, line) in text.lines().enumerate() {
            for link in repo_urls(line) {
                links += 1;
                if let Some(p) = check_repo_link(&link) {
                    problems.push(format!("{file}:{}: {p}", i + 1));
                }
            }
        }
    }
    assert!(
        links > 50,
        "only {links} links were found: is the scan right?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every URL of [`REPO_URLS`] in a line of any text, as a link into the repository.
fn repo_urls(line: &str) -> Vec<RepoLink> {
    let mut out = Vec::new();
    for prefix in REPO_URLS {
        for (at, _) in line.match_indices(prefix) {
            let rest = &line[at + prefix.len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>'))
                .unwrap_or(rest.len());
            let (path, anchor) = match rest[..end].split_once('#') {
                Some((p, a)) => (p, Some(a.to_string())),
                None => (&rest[..end], None),
            };
            if let Some(path) = normalise(path) {
                out.push(RepoLink { path, anchor });
            }
        }
    }
    out
}

#[test]
fn the_readme_is_the_policys_page_and_stays_under_20_kb() {
    let size = fs::metadata(root().join("README.md"))
        .expect("README.md exists")
        .len() as usize;
    assert!(
        size < README_MAX_BYTES,
        "README.md is {size} bytes, at least the {README_MAX_BYTES} it may weigh: it is the policy's \
         page (kwctl annotate embeds it in the policy, Artifact Hub shows it), so keep it to what it \
         is, the quick start, usage, the settings reference and what it writes on a Pod, and move \
         longer sections into docs/ (a guide, linked from the README's Guides and docs/README.md)"
    );
}

#[test]
fn repo_links_are_resolved_from_the_page() {
    let ok = |path: &str, anchor: Option<&str>| {
        Ok(RepoLink {
            path: path.into(),
            anchor: anchor.map(Into::into),
        })
    };
    assert_eq!(
        repo_links(
            "[a](rbac.md#the-guard) [b](#x) [c](../deploy/filebeat/) [d](https://kubewarden.io) \
             [e](https://github.com/sidecarset/sidecarset/blob/main/docs/numbers.md)",
            "docs/reconciler.md"
        ),
        vec![
            ok("docs/rbac.md", Some("the-guard")),
            ok("docs/reconciler.md", Some("x")),
            ok("deploy/filebeat", None),
            ok("docs/numbers.md", None),
        ]
    );
    assert_eq!(
        repo_links("[a](docs/migration.md) [b](../x.md)", "README.md"),
        vec![
            ok("docs/migration.md", None),
            Err("link (../x.md) leaves the repository".into())
        ]
    );
    assert_eq!(
        repo_urls(
            "  url: https://github.com/sidecarset/sidecarset/blob/main/README.md#settings-reference"
        ),
        vec![RepoLink {
            path: "README.md".into(),
            anchor: Some("settings-reference".into())
        }]
    );
    assert!(
        check_repo_link(&RepoLink {
            path: ["docs", "nothing-here.md"].join("/"),
            anchor: None
        })
        .is_some()
    );
    assert!(
        check_repo_link(&RepoLink {
            path: "docs/README.md".into(),
            anchor: Some("no-such-heading".into())
        })
        .is_some()
    );
    assert_eq!(
        check_repo_link(&RepoLink {
            path: "docs/README.md".into(),
            anchor: Some("citing-these-files".into())
        }),
        None
    );
}
