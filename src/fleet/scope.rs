//! The API groups of the composed resources, chosen by the scope of the
//! composite resource.

use serde_json::Value;

/// The scope of the composite resource.
///
/// A legacy XR (Crossplane 1.x, or a v1 XRD with a claim) and a v2 XR with
/// `scope: Cluster` are cluster-scoped and compose the cluster-scoped
/// provider kinds. A v2 namespaced XR can compose only namespaced kinds, so it
/// uses the `.m.` API groups of the providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Cluster-scoped XR: `helm.crossplane.io/v1beta1`,
    /// `kubernetes.crossplane.io/v1alpha2`.
    Cluster,
    /// Namespaced v2 XR: `helm.m.crossplane.io/v1beta1`,
    /// `kubernetes.m.crossplane.io/v1alpha1`.
    Namespaced,
}

impl Scope {
    /// Reads the scope from the observed composite: an XR with
    /// `metadata.namespace` is namespaced; any other is cluster-scoped.
    pub fn of_composite(composite: &Value) -> Scope {
        let namespace = composite
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();

        if namespace.is_empty() {
            Scope::Cluster
        } else {
            Scope::Namespaced
        }
    }

    /// Returns the apiVersion of provider-helm's `Release` for this scope.
    pub fn release_api_version(self) -> &'static str {
        match self {
            Scope::Cluster => "helm.crossplane.io/v1beta1",
            Scope::Namespaced => "helm.m.crossplane.io/v1beta1",
        }
    }

    /// Returns the apiVersion of provider-kubernetes' `Object` for this scope.
    pub fn object_api_version(self) -> &'static str {
        match self {
            Scope::Cluster => "kubernetes.crossplane.io/v1alpha2",
            Scope::Namespaced => "kubernetes.m.crossplane.io/v1alpha1",
        }
    }
}
