//! Kubernetes: the specs of the actions `drctl-k8s` implements with `kube` (scale, rollout
//! restart, strategic-merge patch, wait for a condition, cordon and uncordon).
//!
//! The specs live here, not in `drctl-k8s`, so that every build validates and plans
//! runbooks that call Kubernetes; a build without the `k8s` feature knows them but cannot
//! run them. Every action takes the cluster from a kubeconfig (`kubeconfig`, else
//! `KUBECONFIG` or `~/.kube/config`, else the in-cluster service account) and its
//! `context`.

use drctl_core::{ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// Which cluster: the kubeconfig and its context.
fn cluster(schema: ObjectSchema) -> ObjectSchema {
    schema
        .opt(
            "kubeconfig",
            Ty::String,
            "a kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)",
        )
        .opt(
            "context",
            Ty::String,
            "the kubeconfig context (default: its current one)",
        )
}

fn waits(schema: ObjectSchema, what: &str) -> ObjectSchema {
    schema
        .opt("wait", Ty::Boolean, what)
        .opt(
            "interval",
            Ty::Duration,
            "between reads while waiting (default 2s)",
        )
        .opt("timeout", Ty::Duration, "give up waiting after this long")
}

/// A Deployment or StatefulSet.
fn workload(schema: ObjectSchema) -> ObjectSchema {
    cluster(schema)
        .req(
            "kind",
            Ty::one_of_strings(&["Deployment", "StatefulSet"]),
            "the workload's kind",
        )
        .req("namespace", Ty::String, "its namespace")
        .req("name", Ty::String, "its name")
}

/// Any object: its apiVersion, kind, name, and namespace unless cluster-scoped.
fn object(schema: ObjectSchema) -> ObjectSchema {
    cluster(schema)
        .req(
            "api_version",
            Ty::String,
            "e.g. apps/v1, v1, networking.k8s.io/v1",
        )
        .req("kind", Ty::String, "e.g. Deployment, ConfigMap, Service")
        .req("name", Ty::String, "the object's name")
        .opt(
            "namespace",
            Ty::String,
            "its namespace (none: a cluster-scoped object)",
        )
        .opt(
            "plural",
            Ty::String,
            "the resource's plural when it is not the kind's usual plural",
        )
}

fn node(summary: &str, name: &str) -> ActionSpec {
    spec(
        name,
        summary,
        true,
        Reconcile::Supported,
        cluster(ObjectSchema::new()).req("node", Ty::String, "the node's name"),
    )
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "k8s.scale",
            "Set a Deployment's or StatefulSet's replicas and wait until they are ready",
            // The same count however often it is set.
            true,
            Reconcile::Supported,
            waits(
                workload(ObjectSchema::new()).req(
                    "replicas",
                    Ty::int_range(0, 1_000_000),
                    "the replicas wanted",
                ),
                "wait until that many replicas are ready (default true)",
            ),
        ),
        spec(
            "k8s.rollout_restart",
            "Restart a Deployment's or StatefulSet's pods as `kubectl rollout restart` does, and wait for the rollout",
            // The restart is marked with the run and step: a second call finds its mark
            // and only waits.
            true,
            Reconcile::Supported,
            waits(
                workload(ObjectSchema::new()),
                "wait until the rollout is complete (default true)",
            ),
        ),
        spec(
            "k8s.patch",
            "Patch an object (strategic merge, or JSON merge) and read it back",
            // A merge patch gives the same object however often it is sent.
            true,
            Reconcile::Supported,
            object(ObjectSchema::new())
                .req(
                    "patch",
                    Ty::map(Ty::Any),
                    "the patch, e.g. {data: {DB_HOST: db-b}}; a null deletes a field; \
                     no strategic merge directives ($patch, $retainKeys)",
                )
                .opt(
                    "strategy",
                    Ty::one_of_strings(&["strategic", "merge"]),
                    "strategic merge (default; built-in kinds) or JSON merge (any kind)",
                ),
        ),
        spec(
            "k8s.wait_condition",
            "Wait until an object has a condition (e.g. a Deployment's Available is True)",
            true,
            Reconcile::Supported,
            waits(
                object(ObjectSchema::new())
                    .req(
                        "condition",
                        Ty::String,
                        "the condition's type, e.g. Available",
                    )
                    .opt(
                        "status",
                        Ty::one_of_strings(&["True", "False", "Unknown"]),
                        "the status wanted (default True)",
                    ),
                "wait for it rather than fail at once (default true)",
            ),
        ),
        node(
            "Mark a node unschedulable (`kubectl cordon`); its pods keep running",
            "k8s.cordon",
        ),
        node(
            "Mark a node schedulable again (`kubectl uncordon`)",
            "k8s.uncordon",
        ),
    ]
}
