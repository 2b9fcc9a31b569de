#!/bin/sh
# One-shot, after the Temporal server is up: the namespace and the run search attributes.
#   temporal-setup.sh NAME...   (each NAME is created as a Keyword search attribute)
# Run by docker-compose.temporal.yml in the temporalio/admin-tools image (its `temporal` CLI), and by
# tests/unit/test_deploy_files.py against a dev server. Every step is idempotent: a restart on the kept
# database finds the namespace and the attributes and changes nothing.
set -eu

: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS (host:port of the frontend)}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${NAMESPACE_RETENTION:=72h}"
: "${SETUP_ATTEMPTS:=60}"
: "${SETUP_SLEEP_SECONDS:=2}"

# `temporal CMD... --address A`: every call names the frontend, whatever the CLI's own environment says.
cli() {
    temporal "$@" --address "$TEMPORAL_ADDRESS"
}

# retry DESCRIPTION CMD...: CMD until it succeeds, at most SETUP_ATTEMPTS times.
retry() {
    what=$1
    shift
    attempt=1
    until "$@" >/dev/null 2>&1; do
        if [ "$attempt" -ge "$SETUP_ATTEMPTS" ]; then
            echo "temporal-setup: $what: still failing after $SETUP_ATTEMPTS attempts:" >&2
            "$@" >&2 || true
            exit 1
        fi
        attempt=$((attempt + 1))
        sleep "$SETUP_SLEEP_SECONDS"
    done
    echo "temporal-setup: $what: ok"
}

retry "cluster health" cli operator cluster health

if cli operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
    echo "temporal-setup: namespace $TEMPORAL_NAMESPACE exists"
else
    cli operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$NAMESPACE_RETENTION"
    echo "temporal-setup: namespace $TEMPORAL_NAMESPACE created (retention $NAMESPACE_RETENTION)"
fi

query=""
for name in "$@"; do
    # Creating an attribute that exists with the same type changes nothing (SQL and Elasticsearch
    # visibility alike); a new namespace may take a moment to reach every frontend, hence the retry.
    retry "search attribute $name" cli operator search-attribute create \
        --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type Keyword
    query="${query:+$query AND }$name = ''"
done

# Done only once a visibility query naming every attribute is accepted: runs started right after this
# carry them, and a start naming an attribute the server does not know yet would fail.
if [ -n "$query" ]; then
    retry "visibility query on $*" cli workflow count --namespace "$TEMPORAL_NAMESPACE" --query "$query"
fi
