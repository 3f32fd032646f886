//! Publishes Events (`events.k8s.io/v1`): kube-runtime's `Recorder`, with two differences.
//!
//! * **The note is part of what makes two Events the same.** kube-runtime's `Recorder` (its
//!   `events.rs`, `EventKey`) keys its cache on type, action, reason, reporter and regarding object,
//!   not the note, and turns a repeat into a series patch of the first Event. So after settings
//!   turned invalid twice with different errors, the `InvalidSettings` Event kept the first error's
//!   text with a growing count while the status annotation showed the second; and every
//!   `SidecarUpgradeStarted` on a policy showed the first Pod's name. Here a new note is a new Event;
//!   the same note again counts up that Event's series, as before.
//! * **Every write goes through the write client's gate** (paced and fenced: [`crate::write_gate`]).
//!
//! Like kube-runtime's, the cache forgets an Event six minutes after it was last sent, and Events of a
//! cluster-scoped object (the policy) go to `default`.

use std::{collections::HashMap, sync::Mutex};

use k8s_openapi::{
    api::{
        core::v1::ObjectReference,
        events::v1::{Event as K8sEvent, EventSeries},
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
    runtime::events::{Event, EventType, Reporter},
};
use serde_json::json;

use crate::MANAGER;

/// How long a sent Event is remembered for its series (kube-runtime's and client-go's value).
const TTL: SignedDuration = SignedDuration::from_mins(6);

/// An object as far as Event identity goes (not `fieldPath` or `resourceVersion`, as kube-runtime).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Object {
    api_version: Option<String>,
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    uid: Option<String>,
}

impl From<&ObjectReference> for Object {
    fn from(r: &ObjectReference) -> Self {
        Object {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            uid: r.uid.clone(),
        }
    }
}

/// What makes two Events one series: kube-runtime's key plus the note.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    type_: EventType,
    action: String,
    reason: String,
    note: Option<String>,
    regarding: Object,
    related: Option<Object>,
}

impl Key {
    pub fn of(ev: &Event, regarding: &ObjectReference) -> Self {
        Key {
            type_: ev.type_,
            action: ev.action.clone(),
            reason: ev.reason.clone(),
            note: ev.note.clone(),
            regarding: regarding.into(),
            related: ev.secondary.as_ref().map(Object::from),
        }
    }
}

/// What to send for an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create a new Event.
    New,
    /// Count up the series of the Event already sent under this name.
    Repeat { name: String, count: i32 },
}

#[derive(Clone, Debug)]
struct Sent {
    name: String,
    count: i32,
    last: Timestamp,
}

/// The Events sent in the last [`TTL`], by [`Key`].
#[derive(Debug, Default)]
pub struct Series {
    sent: HashMap<Key, Sent>,
}

impl Series {
    /// What to send for `key` at `now` (forgetting what is older than the TTL first).
    pub fn step(&mut self, key: &Key, now: Timestamp) -> Step {
        self.sent.retain(|_, s| s.last + TTL > now);
        match self.sent.get(key) {
            Some(s) => Step::Repeat {
                name: s.name.clone(),
                count: s.count + 1,
            },
            None => Step::New,
        }
    }

    /// Records a write the API server accepted: Event `name` now counts `count`.
    pub fn sent(&mut self, key: Key, name: String, count: i32, now: Timestamp) {
        self.sent.insert(
            key,
            Sent {
                name,
                count,
                last: now,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

pub struct Recorder {
    /// The write client ([`crate::write_gate`]).
    client: Client,
    reporter: Reporter,
    series: Mutex<Series>,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Recorder {
            client,
            reporter,
            series: Mutex::default(),
        }
    }

    /// Sends `ev` about `regarding`: a new Event, or the next count of the same one.
    pub async fn publish(&self, ev: &Event, regarding: &ObjectReference) -> kube::Result<()> {
        let now = Timestamp::now();
        let key = Key::of(ev, regarding);
        let step = self
            .series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .step(&key, now);
        let api: Api<K8sEvent> = Api::namespaced(
            self.client.clone(),
            regarding.namespace.as_deref().unwrap_or("default"),
        );
        if let Step::Repeat { name, count } = step {
            let series = EventSeries {
                count,
                last_observed_time: MicroTime(now),
            };
            let params = PatchParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            };
            match api
                .patch(&name, &params, &Patch::Merge(json!({"series": series})))
                .await
            {
                Ok(_) => {
                    self.remember(key, name, count, now);
                    return Ok(());
                }
                // The API server dropped it (Events live an hour by default): start anew.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = self.new_event(ev, regarding, now);
        let params = PostParams {
            field_manager: Some(MANAGER.into()),
            ..Default::default()
        };
        let created = api.create(&params, &event).await?;
        let name = created.metadata.name.or(event.metadata.name);
        self.remember(key, name.unwrap_or_default(), 1, now);
        Ok(())
    }

    fn remember(&self, key: Key, name: String, count: i32, now: Timestamp) {
        self.series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sent(key, name, count, now);
    }

    /// The Event kube-runtime's `Recorder` would create.
    fn new_event(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let name = regarding
            .name
            .as_deref()
            .unwrap_or(&self.reporter.controller);
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                ..Default::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(note: &str) -> Event {
        Event {
            type_: EventType::Warning,
            reason: "InvalidSettings".into(),
            note: Some(note.into()),
            action: "Validate".into(),
            secondary: None,
        }
    }

    fn policy() -> ObjectReference {
        ObjectReference {
            api_version: Some("policies.kubewarden.io/v1".into()),
            kind: Some("ClusterAdmissionPolicy".into()),
            name: Some("fb".into()),
            uid: Some("u1".into()),
            ..Default::default()
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn a_different_note_is_a_new_event_and_the_same_note_counts_up() {
        let mut s = Series::default();
        let first = Key::of(&invalid("containers: required"), &policy());
        assert_eq!(s.step(&first, at(0)), Step::New);
        s.sent(first.clone(), "fb.1".into(), 1, at(0));

        let second = Key::of(&invalid("selector: required"), &policy());
        assert_ne!(first, second);
        assert_eq!(s.step(&second, at(1)), Step::New, "a new error text");
        s.sent(second.clone(), "fb.2".into(), 1, at(1));

        assert_eq!(
            s.step(&first, at(2)),
            Step::Repeat {
                name: "fb.1".into(),
                count: 2
            },
            "the first error again"
        );
        s.sent(first.clone(), "fb.1".into(), 2, at(2));
        assert_eq!(
            s.step(&first, at(3)),
            Step::Repeat {
                name: "fb.1".into(),
                count: 3
            }
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn the_same_note_about_another_object_is_another_event() {
        let mut s = Series::default();
        let a = Key::of(&invalid("x"), &policy());
        s.sent(a, "fb.1".into(), 1, at(0));
        let mut other = policy();
        other.name = Some("other".into());
        assert_eq!(s.step(&Key::of(&invalid("x"), &other), at(1)), Step::New);
    }

    #[test]
    fn an_event_is_forgotten_six_minutes_after_it_was_last_sent() {
        let mut s = Series::default();
        let k = Key::of(&invalid("x"), &policy());
        s.sent(k.clone(), "fb.1".into(), 1, at(0));
        s.sent(k.clone(), "fb.1".into(), 2, at(300));
        assert!(matches!(
            s.step(&k, at(300 + 359)),
            Step::Repeat { count: 3, .. }
        ));
        assert_eq!(s.step(&k, at(300 + 360)), Step::New);
        assert!(s.is_empty());
    }
}
