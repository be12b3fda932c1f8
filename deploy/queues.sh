#!/usr/bin/env bash
# queues.sh - creates or updates every Cloud Tasks queue and Cloud Scheduler
# job from config/queues.json and config/schedules.json, by running the
# gcloud commands that `catchup-jobs queues` prints. Safe to run again:
# each resource is updated when it exists and created otherwise.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<'USAGE'
usage: deploy/queues.sh --project PROJECT --region REGION [--service NAME]
                        [--url URL] [--audience AUD] [--bin PATH] [--dry-run]

--url: the service's URL (default Cloud Run's https://NAME-PROJECT_NUMBER.REGION.run.app,
       as deploy/deploy.sh sets it); scheduler jobs POST to URL/jobs/TYPE.
--audience: the OIDC audience scheduler jobs put in their tokens (default
       URL; must be the first entry of the service's OIDC_AUDIENCE).
--bin: the catchup-jobs binary (default $CATCHUP_JOBS_BIN, catchup-jobs on
       PATH, build-local/catchup-jobs, or build/catchup-jobs). To build one
       with only the runtime build packages (no test suite):
       scripts/run-local.sh --build-only (installs them with apt-get), or
       meson setup build-local -Dtests=false --buildtype=release && ninja -C build-local
--dry-run prints every gcloud command instead of running it.
The account running this needs roles/cloudtasks.queueAdmin,
roles/cloudscheduler.admin and roles/iam.serviceAccountUser on NAME-tasks.
USAGE
}

AUDIENCE=""
BIN="${CATCHUP_JOBS_BIN:-}"

parse_args() {
	local i=0
	parse_common_args "$@"
	while [ $i -lt ${#EXTRA_ARGS[@]} ]; do
		case "${EXTRA_ARGS[$i]}" in
		--audience) i=$((i + 1)); AUDIENCE="${EXTRA_ARGS[$i]:-}" ;;
		--audience=*) AUDIENCE="${EXTRA_ARGS[$i]#*=}" ;;
		--bin) i=$((i + 1)); BIN="${EXTRA_ARGS[$i]:-}" ;;
		--bin=*) BIN="${EXTRA_ARGS[$i]#*=}" ;;
		*) die "unknown argument: ${EXTRA_ARGS[$i]}" ;;
		esac
		i=$((i + 1))
	done
	if [ -z "$BIN" ]; then
		BIN="$(command -v catchup-jobs || true)"
	fi
	if [ -z "$BIN" ]; then
		BIN="$REPO_DIR/build-local/catchup-jobs"
		[ -x "$BIN" ] || [ ! -x "$REPO_DIR/build/catchup-jobs" ] || BIN="$REPO_DIR/build/catchup-jobs"
	fi
	[ -x "$BIN" ] || die "no catchup-jobs binary at $BIN: build it with scripts/run-local.sh --build-only (or meson setup build-local -Dtests=false --buildtype=release && ninja -C build-local), or pass --bin"
}

main() {
	local url script
	parse_args "$@"
	url="$(service_url)"
	# `queues` only prints: run it in local mode with exactly the values the
	# commands need, isolated from whatever else the caller's shell holds.
	script="$(env -i PATH="$PATH" USE_CLOUD_TASKS=false GCP_PROJECT_ID="$PROJECT" \
		GCP_REGION="$REGION" CLOUD_RUN_URL="$url" SERVICE_ACCOUNT_EMAIL="$TASKS_SA" \
		OIDC_AUDIENCE="${AUDIENCE:-$url}" CONFIG_DIR="$REPO_DIR/config" "$BIN" queues)" ||
		die "catchup-jobs queues failed (see above)"
	if [ "$DRY_RUN" = 1 ]; then
		echo "# commands from catchup-jobs queues (not run: --dry-run):"
		printf '%s\n' "$script"
		return
	fi
	bash -euo pipefail -c "$script"
	echo "# queues and scheduler jobs are up to date in $PROJECT/$REGION"
}

main "$@"
