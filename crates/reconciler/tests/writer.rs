//! [`Writer::apply`] against a mocked API server (kube-rs's `tower-test` pattern, as in
//! controller-rs): the requests it sends, and what it makes of each answer the API server can give —
//! success, a conflict, a failed resourceVersion `test` (stale), a real validation error, a Pod
//! deleted between the two writes, and throttling.

use http::{Request, Response, StatusCode};
use kube::{Client, client::Body};
use serde_json::{Value, json};
use sidecarset_core::upgrade::{ConditionUpdate, PodRef, condition_patch};
use sidecarset_reconciler::{
    Error,
    metrics::Metrics,
    pacing::{WriteBudget, WriteRate},
    writer::{Outcome, PodWrite, WriteKind, Writer},
};
use tower_test::mock::{self, Handle, SendResponse};

type ApiServer = Handle<Request<Body>, Response<Body>>;

fn writer() -> (Writer, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let budget = WriteBudget::new(
        WriteRate {
            per_second: 1000.0,
            burst: 100,
        },
        &Metrics::default(),
    );
    (Writer::new(Client::new(service, "default"), budget), handle)
}

/// An upgrade of `shop/web-0` as the core plans it: its patch guarded by the resourceVersion it read
/// (41), and, with `condition`, the condition marking the set upgradable.
fn upgrade(condition: bool) -> PodWrite {
    let pod = PodRef {
        index: 0,
        namespace: "shop".into(),
        name: "web-0".into(),
    };
    let patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": "41"},
        {"op": "replace", "path": "/spec/containers/1/image", "value": "filebeat:7.16.3"}
    ]))
    .unwrap();
    PodWrite {
        kind: WriteKind::Upgrade,
        pod_id: pod.index,
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        patch: Some(patch),
        condition: condition.then(|| {
            let condition = json!({"type": "SidecarSetUpgradable", "status": "True",
                                   "message": "{\"filebeat\":true}"});
            ConditionUpdate {
                pod,
                upgradable: true,
                patch: condition_patch(&condition),
                condition,
            }
        }),
        changes: vec![],
    }
}

fn pod(resource_version: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-0", "namespace": "shop", "resourceVersion": resource_version}})
}

fn answer(code: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// A `metav1.Status` failure as kube-apiserver writes it.
fn failure(code: u16, reason: &str, message: &str) -> Response<Body> {
    answer(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "code": code, "reason": reason, "message": message}),
    )
}

/// The next request: method, path with query, content type and JSON body; and its responder.
async fn next(
    api: &mut ApiServer,
) -> (String, String, String, Value, SendResponse<Response<Body>>) {
    let (req, send) = api
        .next_request()
        .await
        .expect("the writer sends a request");
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let content_type = req
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (method, uri, content_type, body, send)
}

#[tokio::test]
async fn an_upgrade_is_a_guarded_json_patch_then_a_strategic_status_patch() {
    let (writer, mut api) = writer();
    let w = upgrade(true);
    let server = async {
        let (method, uri, ct, body, send) = next(&mut api).await;
        assert_eq!(method, "PATCH");
        assert_eq!(
            uri,
            "/api/v1/namespaces/shop/pods/web-0?&fieldManager=sidecarset-reconciler"
        );
        assert_eq!(ct, "application/json-patch+json");
        assert_eq!(
            body,
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "41"},
                {"op": "replace", "path": "/spec/containers/1/image", "value": "filebeat:7.16.3"}
            ])
        );
        send.send_response(answer(200, &pod("42")));
        let (method, uri, ct, body, send) = next(&mut api).await;
        assert_eq!(method, "PATCH");
        assert_eq!(
            uri,
            "/api/v1/namespaces/shop/pods/web-0/status?&fieldManager=sidecarset-reconciler"
        );
        assert_eq!(ct, "application/strategic-merge-patch+json");
        assert_eq!(
            body,
            json!({"status": {"conditions": [{"type": "SidecarSetUpgradable", "status": "True",
                                              "message": "{\"filebeat\":true}"}]}})
        );
        send.send_response(answer(200, &pod("43")));
    };
    let (outcome, ()) = tokio::join!(writer.apply(&w), server);
    match outcome.unwrap() {
        Outcome::Written(p) => assert_eq!(p.raw["metadata"]["resourceVersion"], "43"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_conflict_and_a_failed_resource_version_test_are_stale_not_errors() {
    for answer in [
        failure(
            409,
            "Conflict",
            "Operation cannot be fulfilled on pods \"web-0\"",
        ),
        // kube-apiserver's answer to a JSON patch whose `test` fails: 422, the generic message.
        failure(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        ),
        failure(404, "NotFound", "pods \"web-0\" not found"),
    ] {
        let (writer, mut api) = writer();
        let server = async {
            let (_, _, _, _, send) = next(&mut api).await;
            send.send_response(answer);
        };
        let w = upgrade(true);
        let (outcome, ()) = tokio::join!(writer.apply(&w), server);
        assert!(
            matches!(outcome, Ok(Outcome::Stale)),
            "stale, and no status write follows: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_validation_error_naming_a_field_is_reported() {
    let (writer, mut api) = writer();
    let server = async {
        let (_, _, _, _, send) = next(&mut api).await;
        send.send_response(failure(
            422,
            "Invalid",
            "Pod \"web-0\" is invalid: spec.containers[1].image: Required value",
        ));
    };
    let w = upgrade(false);
    let (outcome, ()) = tokio::join!(writer.apply(&w), server);
    match outcome {
        Err(e @ Error::PodPatch { .. }) => {
            assert_eq!(e.metric_label(), "pod_patch");
            assert!(e.to_string().contains("spec.containers[1].image"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_pod_deleted_between_the_patch_and_its_condition_is_stale() {
    let (writer, mut api) = writer();
    let server = async {
        let (_, _, _, _, send) = next(&mut api).await;
        send.send_response(answer(200, &pod("42")));
        let (_, uri, _, _, send) = next(&mut api).await;
        assert!(uri.contains("/status"), "{uri}");
        send.send_response(failure(404, "NotFound", "pods \"web-0\" not found"));
    };
    let w = upgrade(true);
    let (outcome, ()) = tokio::join!(writer.apply(&w), server);
    assert!(matches!(outcome, Ok(Outcome::Stale)), "{outcome:?}");
}

#[tokio::test]
async fn throttling_is_an_error_the_round_retries_not_a_stale_pod() {
    let (writer, mut api) = writer();
    let server = async {
        let (_, _, _, _, send) = next(&mut api).await;
        let mut r = failure(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        r.headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("1"));
        send.send_response(r);
    };
    let w = upgrade(true);
    let (outcome, ()) = tokio::join!(writer.apply(&w), server);
    match outcome {
        // The controller's error policy requeues the set; the Pod is planned again from fresh state.
        Err(Error::PodPatch { source, .. }) => {
            assert!(
                matches!(*source, kube::Error::Api(ref s) if s.code == 429),
                "{source:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}
