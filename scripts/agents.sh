#!/usr/bin/env bash
# Builds the agent images: static Rust binaries in `FROM scratch` images, run as a non-root
# numeric user, and records each image id for the catalog seeding and the relayer.
#
#   scripts/agents.sh            catalog agents (summarizer, csv-analyzer, gas-advisor, whale-tracker)
#                                → agentnexus/<name>:dev, target/agents/images.json
#   scripts/agents.sh --hostile  test agents that attack their container, one image per
#                                behaviour → agentnexus/hostile-<behaviour>:dev (plus
#                                agentnexus/hostile:dev, behaviour from the input),
#                                target/agents/hostile-images.json
#
# images.json maps agent name → image id (`sha256:…`, `docker image inspect --format
# '{{.Id}}'`). The registry's imageDigest is the hex of that id and the relayer refuses an
# image whose id differs, so the id is read back from the daemon, never computed here.
#
# Why these choices:
# - glibc static (`+crt-static`), because musl is not installed; `--target` keeps these
#   artifacts in target/x86_64-unknown-linux-gnu so the host build's cache is not invalidated
#   by the different RUSTFLAGS.
# - The Dockerfile is generated, identical for every agent but its ENTRYPOINT, into a build
#   context holding only the binary: with the legacy builder's cache an unchanged binary gives
#   the same image id on every run, so a rebuild does not invalidate registered digests.
# - Every image is run once under the relayer's locked-down settings before its id is
#   recorded (catalog agents on their example.json; the hostile escape attempts must report
#   `"escaped": false`), so a broken image is caught here rather than by the relayer.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
TAG=${AGENT_IMAGE_TAG:-dev}
OUT=target/agents
CATALOG=(summarizer csv-analyzer gas-advisor whale-tracker translator news hyperliquid weather-alerts)
HOSTILE_BEHAVIOURS=(fork-bomb memory-hog infinite-loop stdout-flood stderr-flood network write-root privilege echo fail sleep invalid-json)
# The settings the relayer runs agents with (docs/ARCHITECTURE.md, "The agent container contract").
LOCKED_DOWN=(--rm -i --network none --read-only --user 65534:65534 --cap-drop ALL
  --security-opt no-new-privileges --memory 256m --memory-swap 256m --pids-limit 64 --cpus 1
  --tmpfs /tmp:rw,noexec,nosuid,size=16m)

hostile=0
case "${1:-}" in
  "") ;;
  --hostile) hostile=1 ;;
  *) echo "usage: $0 [--hostile]" >&2; exit 2 ;;
esac

log() { echo "agents: $*" >&2; }

scripts/dockerd.sh
command -v jq >/dev/null || { log "jq is required (make setup installs it)"; exit 1; }

# Builds the static release binaries of the crates given (one cargo run) and checks each is
# static: a dynamically linked binary cannot start in a scratch image.
build_static() {
  log "building $* (static, release)"
  local args=()
  for crate in "$@"; do args+=(-p "$crate"); done
  RUSTFLAGS='-C target-feature=+crt-static -C strip=symbols' \
    cargo build --release --locked --quiet --target "$TARGET" "${args[@]}"
  for crate in "$@"; do
    if readelf -l "target/$TARGET/release/$crate" | grep -q INTERP; then
      log "target/$TARGET/release/$crate is dynamically linked"
      exit 1
    fi
  done
}

# build_image <context name> <binary> <image> [entrypoint args...]: prints the image id.
build_image() {
  local name=$1 bin=$2 image=$3
  shift 3
  local ctx="$OUT/context/$name"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$bin" "$ctx/agent"
  local entry='"/agent"'
  for arg in "$@"; do entry+=", \"$arg\""; done
  cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY agent /agent
USER 65534:65534
ENTRYPOINT [$entry]
EOF
  # The legacy builder: no buildx plugin is installed, and it needs no registry for scratch.
  # Its deprecation notice is noise; the output is shown only when the build fails.
  local output
  if ! output=$(DOCKER_BUILDKIT=0 docker build --quiet --tag "$image" "$ctx" 2>&1); then
    log "docker build of $image failed:"
    echo "$output" >&2
    exit 1
  fi
  docker image inspect --format '{{.Id}}' "$image"
}

envelope() { jq -c '{requestId: "0x01", agentId: "0", requester: "0x0000000000000000000000000000000000000000", input: .}'; }

# Writes the JSON object of the name=id pairs given to file $1, atomically.
write_ids() {
  local file=$1
  shift
  mkdir -p "$OUT"
  printf '%s\n' "$@" | jq -R 'split("=") | {(.[0]): .[1]}' | jq -s 'add // {}' >"$file.tmp"
  mv "$file.tmp" "$file"
  log "wrote $file"
}

mkdir -p "$OUT"
pairs=()
if ((hostile == 0)); then
  build_static "${CATALOG[@]/#/agent-}"
  for name in "${CATALOG[@]}"; do
    bin="target/$TARGET/release/agent-$name"
    image="agentnexus/$name:$TAG"
    id=$(build_image "$name" "$bin" "$image")
    # Smoke run on the example input under the relayer's settings: one JSON object out. An
    # agent whose metadata asks for network gets no egress socket here, so an example that
    # needs it must instead fail cleanly (exit 1, "no network"); its real runs go through the
    # proxy in its tests and the stack.
    code=0
    out=$(envelope <"agents/$name/example.json" | docker run "${LOCKED_DOWN[@]}" "$image" 2>"$OUT/smoke.err") || code=$?
    if ((code == 0)) && jq -e 'type == "object"' <<<"$out" >/dev/null; then
      :
    elif ((code == 1)) && jq -e 'has("network")' "agents/$name/metadata.json" >/dev/null &&
      grep -q "no network" "$OUT/smoke.err"; then
      :
    else
      log "$image failed its smoke run on agents/$name/example.json (exit $code): $(tail -c 300 "$OUT/smoke.err")"
      exit 1
    fi
    size=$(docker image inspect --format '{{.Size}}' "$image")
    log "$image $id ($((size / 1024)) KiB)"
    pairs+=("$name=$id")
  done
  write_ids "$OUT/images.json" "${pairs[@]}"
else
  build_static agent-hostile
  bin="target/$TARGET/release/agent-hostile"
  id=$(build_image hostile "$bin" "agentnexus/hostile:$TAG")
  log "agentnexus/hostile:$TAG $id"
  pairs+=("hostile=$id")
  for behaviour in "${HOSTILE_BEHAVIOURS[@]}"; do
    image="agentnexus/hostile-$behaviour:$TAG"
    id=$(build_image "hostile-$behaviour" "$bin" "$image" "$behaviour")
    log "$image $id"
    pairs+=("$behaviour=$id")
  done
  # The escape attempts are harmless to run: under the locked-down settings each must report
  # that every attempt was refused (and exit 1).
  for behaviour in network write-root privilege; do
    image="agentnexus/hostile-$behaviour:$TAG"
    out=$(echo '{}' | envelope | docker run "${LOCKED_DOWN[@]}" "$image" 2>/dev/null) && {
      log "$image exited 0: an escape attempt succeeded: $out"
      exit 1
    }
    if ! jq -e '.escaped == false' <<<"$out" >/dev/null; then
      log "$image did not report containment: $out"
      exit 1
    fi
  done
  log "network, write-root and privilege attempts are all refused under the locked-down settings"
  write_ids "$OUT/hostile-images.json" "${pairs[@]}"
fi
