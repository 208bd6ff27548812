//! Server-side printing: `meta.k8s.io/v1` Table responses for `kubectl get`, from a CRD's
//! `additionalPrinterColumns` (simple JSONPath) or the default Name/Age columns.
//! Pure: no I/O. (Skeleton; filled by the Kubernetes sandbox work.)

use serde_json::Value;

/// Builds a Table for `objects`. `printer_columns` is a CRD version's `additionalPrinterColumns`
/// (None for built-in kinds). `include_object` is the request's `includeObject` (`None`,
/// `Metadata` (default) or `Object`). `list_meta` is the list's `metadata` (resourceVersion,
/// continue).
pub fn to_table(
    objects: &[Value],
    printer_columns: Option<&Value>,
    include_object: &str,
    list_meta: Value,
) -> Value {
    let _ = (objects, printer_columns, include_object);
    serde_json::json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": [], "rows": []})
}
