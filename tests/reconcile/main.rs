//! One reconcile at a time, in process: a `Context` on the Kubernetes sandbox's client and a fake
//! ZIS, and `zis_operator::controller::reconcile` called directly with the object a test chooses
//! (for example a stale cached copy). Faster than the binary, and it pins exactly what one
//! reconcile does; the e2e suite covers the running operator.

mod world;

mod adoption;
mod credentials;
mod stale_cache;
