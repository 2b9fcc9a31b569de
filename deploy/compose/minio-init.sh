#!/bin/sh
# One-shot, once MinIO is up: the bucket STORAGE names and the user the API and the workers sign in as,
# allowed that bucket only (they never hold the root credentials).
# Run by docker-compose.temporal.yml in the quay.io/minio/mc image. Idempotent.
# Not run on the machine it was written on (no Docker engine, no mc there).
set -eu

: "${MINIO_ENDPOINT:=http://minio:9000}"
: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER}"
: "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD}"
: "${MINIO_BUCKET:?set MINIO_BUCKET (the bucket of STORAGE=s3://BUCKET/...)}"
: "${MINIO_APP_USER:?set MINIO_APP_USER}"
: "${MINIO_APP_PASSWORD:?set MINIO_APP_PASSWORD (8 characters or more)}"
POLICY="$MINIO_BUCKET-readwrite"

mc alias set local "$MINIO_ENDPOINT" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "local/$MINIO_BUCKET"

# What shared/storage/s3_store.py calls: put, get and head (GetObject), delete_objects (DeleteObject),
# list_objects_v2 (ListBucket).
policy_file=$(mktemp)
cat >"$policy_file" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
     "Resource": ["arn:aws:s3:::$MINIO_BUCKET"]},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
     "Resource": ["arn:aws:s3:::$MINIO_BUCKET/*"]}
  ]
}
JSON
mc admin policy create local "$POLICY" "$policy_file"
mc admin user add local "$MINIO_APP_USER" "$MINIO_APP_PASSWORD"
# Attaching a policy the user already has is refused ("already in effect"): fine on a restart.
if ! out=$(mc admin policy attach local "$POLICY" --user "$MINIO_APP_USER" 2>&1); then
    case $out in
        *"already in effect"*) ;;
        *)
            echo "$out" >&2
            exit 1
            ;;
    esac
fi
echo "minio-init: bucket $MINIO_BUCKET, user $MINIO_APP_USER with policy $POLICY"
