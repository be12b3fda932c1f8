#!/usr/bin/env bash
# setup.sh - prepares a Google Cloud project for catchup-jobs: enables the
# APIs, creates the two service accounts, grants the IAM roles of SPEC §5.6
# and stores the secrets in Secret Manager. Safe to run again: it creates
# only what is missing and adds a secret version only when a value is given.
# Never prints a secret value.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<'USAGE'
usage: deploy/setup.sh --project PROJECT --region REGION [--service NAME] [--dry-run]

Enables run, cloudtasks, cloudscheduler, secretmanager, cloudbuild,
artifactregistry and iamcredentials (and sqladmin when CLOUD_SQL_INSTANCE is
set, as for deploy.sh); creates NAME-runtime (the service's
identity) and NAME-tasks (the identity Cloud Tasks and Cloud Scheduler put
in OIDC tokens); grants
  NAME-runtime: roles/cloudtasks.enqueuer (project),
                roles/iam.serviceAccountUser on NAME-tasks,
                roles/secretmanager.secretAccessor on each secret,
                roles/cloudsql.client (project, for Cloud SQL);
creates the secrets and adds a version from the environment variable of the
same name when it is set:
  UPSTASH_REDIS_REST_TOKEN, DATABASE_URL (required on the first run),
  TOKEN_ENCRYPTION_KEY (generated when the secret has no version),
  GOOGLE_CLIENT_SECRET, TWILIO_AUTH_TOKEN, SENDGRID_API_KEY (optional).
--dry-run prints every command instead of running it.
The account running this needs Service Usage Admin, Service Account Admin,
Project IAM Admin and Secret Manager Admin (or Owner). The roles deploy.sh,
queues.sh and Cloud Build need are listed in deploy/README.md ("IAM roles").
USAGE
}

REQUIRED_SECRETS=(UPSTASH_REDIS_REST_TOKEN DATABASE_URL TOKEN_ENCRYPTION_KEY)
OPTIONAL_SECRETS=(GOOGLE_CLIENT_SECRET TWILIO_AUTH_TOKEN SENDGRID_API_KEY)

enable_apis() {
	local apis=(run.googleapis.com cloudtasks.googleapis.com
		cloudscheduler.googleapis.com secretmanager.googleapis.com
		cloudbuild.googleapis.com artifactregistry.googleapis.com
		iamcredentials.googleapis.com)
	# Cloud Run's Cloud SQL connection (deploy.sh CLOUD_SQL_INSTANCE) goes
	# through the Cloud SQL Admin API of the project the service runs in.
	if [ -n "${CLOUD_SQL_INSTANCE:-}" ]; then
		apis+=(sqladmin.googleapis.com)
	fi
	run gcloud services enable "${apis[@]}" --project="$PROJECT"
}

create_account() {
	local email="$1" title="$2"
	if exists gcloud iam service-accounts describe "$email" --project="$PROJECT"; then
		echo "service account $email exists"
		return
	fi
	run gcloud iam service-accounts create "${email%%@*}" --display-name="$title" \
		--project="$PROJECT"
}

# IAM bindings on an account created seconds ago can fail until it has
# propagated: try a few times before giving up.
run_iam() {
	local i
	for i in 1 2 3 4 5; do
		if run "$@"; then
			return 0
		fi
		[ "$i" = 5 ] || { echo "retrying in 10 s (new accounts take a moment to propagate)"; sleep 10; }
	done
	return 1
}

grant_roles() {
	local role
	for role in roles/cloudtasks.enqueuer roles/cloudsql.client; do
		run_iam gcloud projects add-iam-policy-binding "$PROJECT" \
			--member="serviceAccount:$RUNTIME_SA" --role="$role" --condition=None \
			--quiet
	done
	# The runtime account puts NAME-tasks into each task's oidcToken.
	run_iam gcloud iam service-accounts add-iam-policy-binding "$TASKS_SA" \
		--member="serviceAccount:$RUNTIME_SA" --role=roles/iam.serviceAccountUser \
		--project="$PROJECT" --quiet
}

# Adds a version read from stdin; the value never appears in the output.
add_version() {
	local name="$1" value="$2" origin="$3"
	show gcloud secrets versions add "$name" --data-file=- --project="$PROJECT"
	echo "  (value $origin, not shown)"
	if [ "$DRY_RUN" = 0 ]; then
		printf '%s' "$value" | gcloud secrets versions add "$name" --data-file=- \
			--project="$PROJECT" >/dev/null
	fi
}

has_version() {
	exists gcloud secrets versions describe latest --secret="$1" --project="$PROJECT"
}

setup_secret() {
	local name="$1" required="$2" value="${!1:-}"
	if [ -z "$value" ] && [ "$required" = optional ] &&
		! exists gcloud secrets describe "$name" --project="$PROJECT"; then
		echo "secret $name: not set, skipped (optional)"
		return
	fi
	if ! exists gcloud secrets describe "$name" --project="$PROJECT"; then
		run gcloud secrets create "$name" --replication-policy=automatic \
			--project="$PROJECT"
	fi
	if [ -n "$value" ]; then
		add_version "$name" "$value" "from \$$name"
	elif ! has_version "$name"; then
		if [ "$name" = TOKEN_ENCRYPTION_KEY ]; then
			add_version "$name" "$(openssl rand -base64 32)" "generated: 32 random bytes"
		elif [ "$DRY_RUN" = 0 ] && [ "$required" = required ]; then
			die "secret $name has no version: set $name in the environment and run again"
		fi
	fi
	run_iam gcloud secrets add-iam-policy-binding "$name" \
		--member="serviceAccount:$RUNTIME_SA" --role=roles/secretmanager.secretAccessor \
		--project="$PROJECT" --quiet
}

main() {
	local s
	parse_common_args "$@"
	[ ${#EXTRA_ARGS[@]} -eq 0 ] || die "unknown argument: ${EXTRA_ARGS[0]}"
	echo "# setting up project $PROJECT (region $REGION, service $SERVICE)"
	enable_apis
	create_account "$RUNTIME_SA" "catchup-jobs runtime"
	create_account "$TASKS_SA" "catchup-jobs Cloud Tasks/Scheduler OIDC identity"
	grant_roles
	for s in "${REQUIRED_SECRETS[@]}"; do
		setup_secret "$s" required
	done
	for s in "${OPTIONAL_SECRETS[@]}"; do
		setup_secret "$s" optional
	done
	echo "# done: next deploy/deploy.sh, then deploy/queues.sh"
	echo "# (Cloud Build's account needs roles/artifactregistry.writer, roles/logging.logWriter and"
	echo "#  roles/storage.objectViewer to build the image: deploy/README.md, \"IAM roles\")"
}

main "$@"
