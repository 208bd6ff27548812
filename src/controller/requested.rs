//! "Reconcile now": a new value of the annotation [`RECONCILE_REQUESTED_AT`] (by convention the
//! current time) asks for a full check against ZIS at once, for example after fixing something
//! on the ZIS side. The reconcile that handles it takes neither shortcut a quiet object normally
//! takes: not "nothing changed since the last sync" (`unchanged_since_sync`), which skips ZIS until
//! the next resync, and not the retry gate held after a failure, which waits out its delay. It
//! records the value in `status.lastHandledReconcileAt` with the status it writes anyway, so
//! `kubectl wait --for=jsonpath='{.status.lastHandledReconcileAt}'=VALUE` shows it was handled.
//!
//! A suspended object makes no remote calls, so its requests wait until `spec.suspend` is false
//! again. Deletion ignores the annotation. This module reads the object and writes only the
//! per-object memory; the status is the caller's.

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::context::Context;
use crate::resource::{RECONCILE_REQUESTED_AT, ZisBearerConnection};

type Object = ZisBearerConnection;

/// The requested value this object has not had handled yet, if any.
pub fn unhandled(object: &Object) -> Option<&str> {
    let requested = object.annotations().get(RECONCILE_REQUESTED_AT)?;
    let handled = object
        .status
        .as_ref()
        .and_then(|status| status.last_handled_reconcile_at.as_deref());
    (handled != Some(requested.as_str())).then_some(requested.as_str())
}

/// When this reconcile handles a request: forgets when ZIS was last checked and any retry gate,
/// so that the reconcile reads ZIS now, and returns the value to record in status.
pub(super) fn take(object: &Object, ctx: &Context, key: &ObjectRef<Object>) -> Option<String> {
    if object.spec.suspend {
        return None;
    }
    let requested = unhandled(object)?.to_owned();
    ctx.remember(key, |memory| {
        memory.look = true;
        memory.gate = None;
    });
    Some(requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{TokenSecretRef, ZisBearerConnectionSpec, ZisBearerConnectionStatus};

    fn object(annotation: Option<&str>, handled: Option<&str>) -> Object {
        let mut object = Object::new(
            "conn",
            ZisBearerConnectionSpec {
                integration: "int".into(),
                connection_name: None,
                allowed_domain: "api.example.com".into(),
                token_secret_ref: TokenSecretRef {
                    name: "tok".into(),
                    key: "token".into(),
                },
                deletion_policy: Default::default(),
                adoption_policy: Default::default(),
                suspend: false,
            },
        );
        if let Some(value) = annotation {
            object
                .annotations_mut()
                .insert(RECONCILE_REQUESTED_AT.into(), value.into());
        }
        object.status = Some(ZisBearerConnectionStatus {
            last_handled_reconcile_at: handled.map(Into::into),
            ..Default::default()
        });
        object
    }

    #[test]
    fn a_request_is_unhandled_until_status_records_its_very_value() {
        assert_eq!(unhandled(&object(None, None)), None);
        assert_eq!(unhandled(&object(None, Some("t1"))), None);
        assert_eq!(unhandled(&object(Some("t1"), None)), Some("t1"));
        assert_eq!(unhandled(&object(Some("t2"), Some("t1"))), Some("t2"));
        assert_eq!(unhandled(&object(Some("t1"), Some("t1"))), None);
    }
}
