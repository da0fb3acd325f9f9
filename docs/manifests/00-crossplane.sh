#!/usr/bin/env bash
# Installs Crossplane with its Helm chart into crossplane-system.
#
# The fleet's Configuration needs Crossplane 1.17.2 or later (2.0 or later for
# the namespaced variant). CROSSPLANE_VERSION picks the chart version, and
# the default is a 2.0 release.
set -euo pipefail

CROSSPLANE_VERSION="${CROSSPLANE_VERSION:-2.0.2}"

helm repo add crossplane-stable https://charts.crossplane.io/stable
helm repo update crossplane-stable

helm upgrade --install crossplane crossplane-stable/crossplane \
    --namespace crossplane-system \
    --create-namespace \
    --version "${CROSSPLANE_VERSION}" \
    --wait

kubectl --namespace crossplane-system rollout status deployment/crossplane
