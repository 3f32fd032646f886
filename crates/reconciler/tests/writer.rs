//! [`Writer::apply`] through the write gate against a mocked API server (kube-rs's `tower-test`
//! pattern, as in controller-rs): the requests it sends, and what it makes of each answer the API
//! server can give — success, a conflict, a failed resourceVersion `test` (stale), a real
//! validation error, a Pod that moved on before its condition, a condition that fails, throttling
//! with `Retry-After`, and leadership ending while a write waits.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::{Client, client::Body};
use serde_json::{Value, json};
use sidecarset_core::upgrade::{ConditionUpdate, PodRef, condition_patch};
use sidecarset_reconciler::{
    Error,
    leader::Leadership,
    metrics::Metrics,
    pacing::{WriteBudget, WriteRate},
    write_gate::WriteGate,
    writer::{ConditionWrite, Outcome, PodWrite, WriteKind, Writer},
};
use tower::Layer;
use tower_test::mock::{self, Handle, SendResponse};

type ApiServer = Handle<Request<Body>, Response<Body>>;

/// The writer as the controller builds it: a client whose stack has the write gate over the
/// (mocked) API server, leading always.
fn writer() -> (Writer, ApiServer) {
    let (w, api, _) = gated(Leadership::always(), 1000.0, 100);
    (w, api)
}

fn gated(leadership: Leadership, per_second: f64, burst: u32) -> (Writer, ApiServer, Metrics) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let metrics = Metrics::default();
    let budget = WriteBudget::new(WriteRate { per_second, burst }, &metrics);
    let gate = WriteGate::new(budget, leadership, &metrics);
    let client = Client::new(gate.layer(service), "default");
    (Writer::new(client), handle, metrics)
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
                patch: condition_patch(&condition, "41"),
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
async fn an_upgrade_is_its_guarded_condition_then_the_json_patch_at_the_version_it_returned() {
    let (writer, mut api) = writer();
    let w = upgrade(true);
    let server = async {
        let (method, uri, ct, body, send) = next(&mut api).await;
        assert_eq!(method, "PATCH");
        assert_eq!(
            uri,
            "/api/v1/namespaces/shop/pods/web-0/status?&fieldManager=sidecarset-reconciler"
        );
        assert_eq!(ct, "application/strategic-merge-patch+json");
        // Guarded by the version the plan read.
        assert_eq!(
            body,
            json!({"metadata": {"resourceVersion": "41"},
                   "status": {"conditions": [{"type": "SidecarSetUpgradable", "status": "True",
                                              "message": "{\"filebeat\":true}"}]}})
        );
        send.send_response(answer(200, &pod("42")));
        let (method, uri, ct, body, send) = next(&mut api).await;
        assert_eq!(method, "PATCH");
        assert_eq!(
            uri,
            "/api/v1/namespaces/shop/pods/web-0?&fieldManager=sidecarset-reconciler"
        );
        assert_eq!(ct, "application/json-patch+json");
        // The `test` moved to the version the condition returned; the rest as the core built it.
        assert_eq!(
            body,
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
                {"op": "replace", "path": "/spec/containers/1/image", "value": "filebeat:7.16.3"}
            ])
        );
        send.send_response(answer(200, &pod("43")));
    };
    let (outcome, ()) = tokio::join!(writer.apply(&w), server);
    match outcome.unwrap() {
        Outcome::Written(p, ConditionWrite::Done) => {
            assert_eq!(p.value()["metadata"]["resourceVersion"], "43")
        }
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
async fn a_condition_that_fails_leaves_the_upgrade_to_go_and_is_left_to_do_never_a_failure() {
    let (writer, mut api) = writer();
    let server = async {
        let (_, uri, _, _, send) = next(&mut api).await;
        assert!(uri.contains("/status"), "{uri}");
        send.send_response(failure(
            500,
            "InternalError",
            "etcdserver: request timed out",
        ));
        // Nothing landed, so the upgrade goes at the version the plan read.
        let (_, uri, _, body, send) = next(&mut api).await;
        assert!(!uri.contains("/status"), "{uri}");
        assert_eq!(body[0]["value"], "41");
        send.send_response(answer(200, &pod("42")));
    };
    let w = upgrade(true);
    let (outcome, ()) = tokio::join!(writer.apply(&w), server);
    match outcome {
        Ok(Outcome::Written(p, ConditionWrite::Pending(c, error))) => {
            assert_eq!(
                p.value()["metadata"]["resourceVersion"],
                "42",
                "the upgraded Pod"
            );
            assert!(c.upgradable);
            assert!(error.contains("etcdserver"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_pod_that_moved_on_before_its_condition_is_stale_and_not_patched() {
    // Another set's condition write in between (the resourceVersion precondition answers 409), or
    // the Pod deleted: the upgrade's `test` would fail too, so nothing more is sent.
    for status_answer in [
        failure(
            409,
            "Conflict",
            "Operation cannot be fulfilled on pods \"web-0\": the object has been modified",
        ),
        failure(404, "NotFound", "pods \"web-0\" not found"),
    ] {
        let (writer, mut api) = writer();
        let server = async {
            let (_, uri, _, _, send) = next(&mut api).await;
            assert!(uri.contains("/status"), "{uri}");
            send.send_response(status_answer);
        };
        let w = upgrade(true);
        let (outcome, ()) = tokio::join!(writer.apply(&w), server);
        assert!(matches!(outcome, Ok(Outcome::Stale)), "{outcome:?}");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), api.next_request())
                .await
                .is_err(),
            "no Pod patch follows"
        );
    }
}

#[tokio::test]
async fn a_condition_alone_that_lost_a_race_is_stale() {
    let (writer, mut api) = writer();
    let server = async {
        let (method, uri, _, body, send) = next(&mut api).await;
        assert_eq!(method, "PATCH");
        assert!(uri.contains("/status"), "{uri}");
        assert_eq!(
            body["metadata"]["resourceVersion"], "41",
            "as the plan read it"
        );
        send.send_response(failure(409, "Conflict", "the object has been modified"));
    };
    let c = upgrade(true).condition.unwrap();
    let w = PodWrite::condition_only(WriteKind::Condition, c);
    let (outcome, ()) = tokio::join!(writer.apply(&w), server);
    assert!(matches!(outcome, Ok(Outcome::Stale)), "{outcome:?}");
}

#[tokio::test(start_paused = true)]
async fn a_429_is_waited_out_for_its_retry_after_and_sent_again_not_a_failure() {
    let (writer, mut api, metrics) = gated(Leadership::always(), 1000.0, 100);
    let server = async {
        let (_, _, _, first, send) = next(&mut api).await;
        let mut r = failure(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        r.headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("3"));
        let throttled = tokio::time::Instant::now();
        send.send_response(r);
        let (_, _, _, again, send) = next(&mut api).await;
        assert_eq!(again, first, "the same patch again");
        assert!(
            throttled.elapsed() >= Duration::from_secs(3),
            "{:?}",
            throttled.elapsed()
        );
        send.send_response(answer(200, &pod("42")));
    };
    let w = upgrade(false);
    let (outcome, ()) = tokio::join!(writer.apply(&w), server);
    assert!(
        matches!(outcome, Ok(Outcome::Written(_, ConditionWrite::Done))),
        "{outcome:?}"
    );
    assert_eq!(metrics.writes_server_throttled.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_write_whose_turn_comes_after_leadership_ended_is_dropped_and_counted() {
    let leadership = Leadership::until(tokio::time::Instant::now() + Duration::from_secs(1));
    // One write a second, one in the bucket: the first goes at once, the second waits a second and
    // finds leadership over when its token comes.
    let (writer, mut api, metrics) = gated(leadership.clone(), 1.0, 1);
    let server = async {
        let (_, _, _, _, send) = next(&mut api).await;
        send.send_response(answer(200, &pod("42")));
    };
    let w = upgrade(false);
    let (first, ()) = tokio::join!(writer.apply(&w), server);
    assert!(matches!(first, Ok(Outcome::Written(..))), "{first:?}");
    let second = writer.apply(&w).await;
    assert!(matches!(second, Err(Error::NotLeader)), "{second:?}");
    assert_eq!(
        metrics.writes_dropped_not_leader().get(),
        1,
        "counted as dropped, never sent"
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(5), api.next_request())
            .await
            .is_err(),
        "no request reached the API server"
    );
}
