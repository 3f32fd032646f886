//! `make push` against a real registry: Debian's `docker-registry` (the CNCF distribution
//! registry) on 127.0.0.1, without TLS, reached through kwctl's `--sources-path` with
//! `insecure_sources`. The artifact is then read back twice: with raw HTTP, to check the layout
//! kwctl produces (media types, config, annotations) independently of our own client, and with
//! `pull`, to check the bytes round-trip.
//!
//! `make push` uses kwctl when it is installed and the test host (`kwhost push`) otherwise; so
//! does the pull here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const REGISTRY_BIN: &str = "docker-registry";
const WASM_CONFIG: &str = "application/vnd.wasm.config.v1+json";
const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A scratch directory removed at the end, even when the test fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("sidecarset-publish-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The registry process, stopped (by its own handle) when the test ends.
struct Registry {
    child: Child,
    addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(REGISTRY_BIN))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "{REGISTRY_BIN} is not installed; this test pushes the policy to a local OCI \
             registry: run `apt-get install docker-registry` (.ci/run does)"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_registry(scratch: &Path) -> Registry {
    let binary = registry_binary();
    let storage = scratch.join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let config = scratch.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n  secret: sidecarset-publish-test\n",
            storage.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(scratch.join("registry.log")).unwrap();
    let child = Command::new(&binary)
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let mut registry = Registry { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = http_get(&registry.addr, "/v2/", None)
            && response.status == 200
        {
            return registry;
        }
        if let Ok(Some(status)) = registry.child.try_wait() {
            let log = std::fs::read_to_string(scratch.join("registry.log")).unwrap_or_default();
            panic!("{REGISTRY_BIN} exited with {status}:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "{REGISTRY_BIN} did not answer on {} within 20 s",
            registry.addr
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// HTTP/1.0, so that the registry answers with a plain body (no chunked encoding) and closes.
fn http_get(addr: &str, path: &str, accept: Option<&str>) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{accept}\r\n"
    )?;
    let mut raw = vec![];
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

fn kwctl() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("kwctl"))
        .find(|p| p.is_file())
}

fn make_push(oci_repo: &str, sources: Option<&Path>) -> Output {
    let mut make = Command::new("make");
    support::without_test_cargo_env(&mut make)
        .current_dir(ROOT)
        .arg("--no-print-directory")
        .arg("push")
        .arg(format!("OCI_REPO={oci_repo}"));
    if let Some(sources) = sources {
        make.arg(format!("SOURCES_PATH={}", sources.display()));
    }
    make.output().expect("cannot run make")
}

fn show(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn make_push_publishes_the_annotated_policy_as_kwctl_does() {
    let scratch = Scratch::new();
    let registry = start_registry(&scratch.0);
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let repository = "policies/sidecarset";
    let oci_repo = format!("{}/{repository}:{version}", registry.addr);
    let sources = scratch.0.join("sources.yaml");
    std::fs::write(
        &sources,
        format!("insecure_sources:\n  - \"{}\"\n", registry.addr),
    )
    .unwrap();

    let pushed = make_push(&oci_repo, Some(&sources));
    assert!(
        pushed.status.success(),
        "make push failed\n{}",
        show(&pushed)
    );
    let stdout = String::from_utf8_lossy(&pushed.stdout);
    let prefix = format!(
        "Policy successfully pushed: {}/{repository}@sha256:",
        registry.addr
    );
    let immutable_ref = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}…` line\n{}", show(&pushed)))
        .trim_start_matches("Policy successfully pushed: ")
        .to_owned();

    // A registry without TLS is only reached when the sources file says so, as with kwctl.
    let refused = make_push(&oci_repo, None);
    assert!(
        !refused.status.success(),
        "a push over plain HTTP without insecure_sources should fail\n{}",
        show(&refused)
    );

    let module = std::fs::read(Path::new(ROOT).join("annotated-policy.wasm")).unwrap();

    // The manifest, read without our client.
    let manifest = http_get(
        &registry.addr,
        &format!("/v2/{repository}/manifests/{version}"),
        Some(OCI_MANIFEST),
    )
    .unwrap();
    assert_eq!(
        manifest.status,
        200,
        "{}",
        String::from_utf8_lossy(&manifest.body)
    );
    let digest = manifest
        .header("Docker-Content-Digest")
        .expect("the registry names the manifest digest");
    assert_eq!(
        immutable_ref,
        format!("{}/{repository}@{digest}", registry.addr),
        "the printed immutable reference must be the tag's digest"
    );
    let manifest: Value = serde_json::from_slice(&manifest.body).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest:#}");
    assert_eq!(layers[0]["mediaType"], WASM_LAYER);
    assert_eq!(layers[0]["size"], module.len());

    let blob = |descriptor: &Value| {
        let digest = descriptor["digest"].as_str().unwrap();
        let r = http_get(
            &registry.addr,
            &format!("/v2/{repository}/blobs/{digest}"),
            None,
        )
        .unwrap();
        assert_eq!(r.status, 200, "blob {digest}");
        r.body
    };
    assert_eq!(blob(&manifest["config"]), b"{}");
    assert!(
        blob(&layers[0]) == module,
        "the layer is not annotated-policy.wasm"
    );

    let annotations = &manifest["annotations"];
    assert_eq!(annotations["io.kubewarden.policy.title"], "sidecarset");
    assert_eq!(
        annotations["io.kubewarden.policy.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        annotations["io.kubewarden.policy.source"]
    );
    assert!(
        annotations.get("io.kubewarden.policy.usage").is_none(),
        "the multi-line usage (README) is not a manifest annotation"
    );

    // And back through pull.
    let pulled_path = scratch.0.join("pulled.wasm");
    let mut pull = match kwctl() {
        Some(kwctl) => {
            let mut c = Command::new(kwctl);
            c.arg("pull");
            c
        }
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(ROOT).join("target"));
            let mut c = Command::new(target.join("host/kwhost"));
            c.arg("pull");
            c
        }
    };
    let pulled = pull
        .arg("--sources-path")
        .arg(&sources)
        .arg("-o")
        .arg(&pulled_path)
        .arg(format!("registry://{oci_repo}"))
        .output()
        .unwrap();
    assert!(pulled.status.success(), "pull failed\n{}", show(&pulled));
    assert!(
        std::fs::read(&pulled_path).unwrap() == module,
        "the pulled module differs from annotated-policy.wasm"
    );
}
