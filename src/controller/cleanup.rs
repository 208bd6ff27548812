//! One reconcile of an object being deleted: decided from the object as stored (the cache may
//! not have seen the status write that recorded a create a moment ago), it deletes what the
//! status records as this object's (or, under `deletionPolicy: Orphan`, leaves it), and only
//! then lets the finalizer go.

use std::sync::Arc;

use kube::runtime::controller::Action as Requeue;
use kube::{Api, ResourceExt};

use super::Error;
use super::act::{self, Remote};
use super::breaker;
use super::context::{Context, Inputs};
use super::index::{identities_of, release_to_peers};
use super::outcome::{self, Failure, Note};
use super::plan::{self, Cleanup, Recorded};
use super::run::Run;
use crate::resource::ZisBearerConnection;

type Object = ZisBearerConnection;

pub(super) async fn cleanup(cached: Arc<Object>, ctx: &Context) -> Result<Requeue, Error> {
    let key = super::index::key_of(&cached);
    let namespace = cached.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<Object> = Api::namespaced(ctx.client.clone(), &namespace);
    // What to delete is decided from the stored object, never from the cache alone: the cache
    // may not have seen the status write that recorded a create made a moment ago, and deciding
    // from it would release the finalizer and leak that connection.
    let Some(object) = super::lean::get(&ctx.client, &namespace, &cached.name_any()).await? else {
        return Ok(Requeue::await_change());
    };
    let mut run = Run::new(&object, &api, ctx, key.clone());
    let recorded = Recorded::of(&run.record);
    match plan::plan_cleanup(object.spec.deletion_policy, recorded) {
        Cleanup::Release => {}
        Cleanup::Orphan(identities) => {
            let names: Vec<String> = identities.iter().map(ToString::to_string).collect();
            run.notes.push(Note {
                happened: outcome::Happened::Orphaned,
                message: format!("left {} in place (deletionPolicy Orphan)", names.join(", ")),
            });
        }
        // An `Err` keeps the finalizer: an `Ok` from cleanup releases it.
        Cleanup::Delete(ref identities)
            if !ctx.access.read_once()
                || identities
                    .iter()
                    .any(|doomed| ctx.access.pending(&doomed.identity.integration)) =>
        {
            return Err(Error::CredentialsNotRead);
        }
        Cleanup::Delete(identities) => {
            // Like `apply`: after a failure, events that change nothing (our own DeleteFailed
            // status write, Secret touches) must not cut the retry delay short. A spec change
            // (for example to deletionPolicy Orphan) or new credentials open the gate.
            let epoch = ctx.access.epoch();
            // Read before any call, to tell a refusal of a token replaced meanwhile.
            let tokens = ctx.access.token_generation();
            let inputs = Inputs {
                generation: object.metadata.generation,
                fingerprint: String::new(),
                credentials_epoch: epoch,
            };
            if let Some(left) = ctx.gated(&key, &inputs) {
                return Err(Error::CleanupHeld { left });
            }
            let remote = Remote {
                access: &ctx.access,
            };
            for doomed in identities {
                let integration = doomed.identity.integration.clone();
                let deleted = match run.deletion_held_by_breaker(&integration, epoch) {
                    Some(waiting) => Err(waiting),
                    None => delete_with_current_token(&remote, &doomed, tokens).await,
                };
                run.tell_breaker_of_deletion(&integration, epoch, &deleted);
                match deleted.map_err(Failure::while_deleting) {
                    Ok(true) => run.notes.push(Note {
                        happened: outcome::Happened::Deleted,
                        message: format!("deleted {}", doomed.identity),
                    }),
                    // Only a create was pending and the connection is not from it: not ours.
                    Ok(false) => {}
                    Err(failure) => {
                        let message = failure.message.clone();
                        let delay = run.fail_after(failure).await?;
                        ctx.close_gate(&key, delay, inputs);
                        return Err(Error::CleanupBlocked { message, delay });
                    }
                }
            }
        }
    }
    run.publish_notes().await;
    ctx.forget(&key);
    release_to_peers(ctx, &identities_of(&object), &key);
    Ok(Requeue::await_change())
}

/// Like [`act::delete`], once more when ZIS refused the access token and a token was replaced
/// since `tokens` was read: the refusal may be of the old token (see `token_changes`).
async fn delete_with_current_token(
    remote: &Remote<'_>,
    doomed: &plan::Doomed,
    tokens: u64,
) -> Result<bool, Failure> {
    let deleted = act::delete(remote, doomed).await;
    match &deleted {
        Err(failure)
            if breaker::is_refusal(failure) && remote.access.token_replaced_since(tokens).await =>
        {
            act::delete(remote, doomed).await
        }
        _ => deleted,
    }
}
