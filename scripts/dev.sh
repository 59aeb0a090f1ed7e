#!/usr/bin/env bash
# `make dev`: the local stack. Starts anvil, deploys the contracts with script/Deploy.s.sol
# (deployments/31337.json), builds the agent images (dockerd started if needed) and lists them
# in the registry (script/Seed.s.sol), starts a private PostgreSQL cluster under .nexus/postgres,
# then the indexer, the GraphQL API and the relayer (the `nexus` binary), and keeps running until
# Ctrl-C, which stops everything it started. Every run starts from a fresh chain, so the
# database is recreated too.
# It also runs an ERC-4337 bundler (Alto, from npm) on BUNDLER_PORT and turns on the API's
# sponsorship service (anvil account 3 signs for NexusPaymaster), so the gasless flow
# (`nexus account create`, `--account`) works against the same stack.
# The network agents (issue 15) reach sandbox upstreams (nexus-sandbox, ports 18701-18705)
# through the relayer's egress proxy, configured in .nexus/relayer.toml.
# Environment: ANVIL_PORT (8545), PG_PORT (5433), GRAPHQL_ADDR (127.0.0.1:4000),
# INDEXER_STATUS_ADDR (127.0.0.1:9101), RELAYER_STATUS_ADDR (127.0.0.1:9103), BUNDLER_PORT (4337).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

port=${ANVIL_PORT:-8545}
rpc="http://127.0.0.1:${port}"
pg_port=${PG_PORT:-5433}
graphql_addr=${GRAPHQL_ADDR:-127.0.0.1:4000}
indexer_status=${INDEXER_STATUS_ADDR:-127.0.0.1:9101}
relayer_status=${RELAYER_STATUS_ADDR:-127.0.0.1:9103}
bundler_port=${BUNDLER_PORT:-4337}
bundler=http://127.0.0.1:${bundler_port}
state=$PWD/.nexus
mkdir -p "$state"
bin=node_modules/.bin
# Keys of anvil's dev accounts, derived from its default mnemonic rather than typed in (a
# mistyped key is a valid key of some other, unfunded address).
mnemonic="test test test test test test test test test test test junk"
anvil_key() { "$bin/cast" wallet private-key --mnemonic "$mnemonic" --mnemonic-index "$1"; }
anvil_address() { "$bin/cast" wallet address --private-key "$(anvil_key "$1")"; }
# Account 1: the deploy script's local relayer (RELAYER_ROLE and nothing else).
relayer_key=$(anvil_key 1)

echo "dev: building the nexus binary"
cargo build --workspace --locked --quiet
nexus=target/debug/nexus

# cast exits 0 even when it cannot connect, so judge by what it prints.
rpc_up() { [[ "$("$bin/cast" chain-id --rpc-url "$rpc" 2>/dev/null)" =~ ^[0-9]+$ ]]; }

if rpc_up; then
  echo "dev: something already answers on $rpc; stop it or set ANVIL_PORT" >&2
  exit 1
fi

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgdir=$state/postgres
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pids=()
pg_started=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$pg_started" ]; then as_pg "$pg_bin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT INT TERM

if [ ! -f "$pgdir/data/PG_VERSION" ]; then
  mkdir -p "$pgdir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$pgdir"
  as_pg "$pg_bin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 >"$state/initdb.log" 2>&1 \
    || { cat "$state/initdb.log" >&2; exit 1; }
fi
as_pg "$pg_bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" \
  -o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1" -w start >/dev/null \
  || { echo "dev: PostgreSQL did not start (see $pgdir/server.log)" >&2; exit 1; }
pg_started=1
database_url="postgres://postgres@127.0.0.1:${pg_port}/nexus"
psql_admin() { psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_admin -c "DROP DATABASE IF EXISTS nexus WITH (FORCE)" -c "CREATE DATABASE nexus"

"$bin/anvil" --port "$port" --host 127.0.0.1 >"$state/anvil.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  rpc_up && break
  sleep 0.1
done
rpc_up || { echo "dev: anvil did not start (see $state/anvil.log)" >&2; exit 1; }

echo "dev: deploying contracts"
"$bin/forge" script script/Deploy.s.sol --rpc-url "$rpc" --broadcast --non-interactive >"$state/deploy.log" 2>&1 \
  || { cat "$state/deploy.log" >&2; exit 1; }

relayer_role=$(jq -r .roles.relayer deployments/31337.json)
relayer_address=$("$bin/cast" wallet address --private-key "$relayer_key")
if [ "${relayer_address,,}" != "${relayer_role,,}" ]; then
  echo "dev: the relayer key is $relayer_address's, but the deployment gave RELAYER_ROLE to $relayer_role" >&2
  exit 1
fi

# The bundler: anvil accounts 8 (executor) and 9 (utility) sign its bundles. Alto itself listens
# on all interfaces (its own choice), like any dev-only service here it holds only test keys.
entry_point=$(jq -r .contracts.EntryPoint deployments/31337.json)
node node_modules/@pimlico/alto/esm/cli/alto.js --entrypoints "$entry_point" --rpc-url "$rpc" \
  --executor-private-keys "$(anvil_key 8)" --utility-private-key "$(anvil_key 9)" --safe-mode false \
  --port "$bundler_port" >"$state/alto.log" 2>&1 &
pids+=($!)

echo "dev: building the agent images"
scripts/agents.sh >"$state/agents.log" 2>&1 || { tail -n 30 "$state/agents.log" >&2; exit 1; }
catalog=(summarizer csv-analyzer gas-advisor whale-tracker translator news hyperliquid weather-alerts)
# USDC base units per execution: 0.05, 0.10, 0.02, 0.03, 0.08, 0.04, 0.10, 0.02.
prices=(50000 100000 20000 30000 80000 40000 100000 20000)
digests=()
for name in "${catalog[@]}"; do
  id=$(jq -r --arg n "$name" '.[$n]' target/agents/images.json)
  digests+=("0x${id#sha256:}")
done
echo "dev: listing the catalog"
NEXUS_SEED_AGENTS=$(IFS=,; echo "${catalog[*]}") NEXUS_SEED_DIGESTS=$(IFS=,; echo "${digests[*]}") \
  NEXUS_SEED_PRICES=$(IFS=,; echo "${prices[*]}") \
  "$bin/forge" script script/Seed.s.sol --rpc-url "$rpc" --broadcast --non-interactive >"$state/seed.log" 2>&1 \
  || { cat "$state/seed.log" >&2; exit 1; }

# Sandbox upstreams (nexus-sandbox) stand in for the APIs the network agents call; the relayer's
# egress proxy routes the real origins the agents name to them (and the public JSON-RPC host to
# anvil). Deleting a route in $state/relayer.toml points an agent at the real service.
sandbox_ports=(18701 18702 18703 18704 18705)   # hyperliquid, openai, feeds, meteo, pages
sandbox_url() { echo "http://127.0.0.1:${sandbox_ports[$1]}"; }
# The operator's chat-completions key: made per run, held by the proxy, never seen by an agent.
openai_key="sk-dev-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
(umask 077; printf 'Bearer %s' "$openai_key" >"$state/openai.key")
SANDBOX_OPENAI_KEY=$openai_key target/debug/nexus-sandbox --account "$(anvil_address 5)=10000" \
  >"$state/sandbox.log" 2>&1 &
pids+=($!)
cat >"$state/relayer.toml" <<TOML
# Written by scripts/dev.sh: the relayer's egress for the local stack (nexus.example.toml lists every key).
[relayer.egress]
allow_addresses = ["127.0.0.1"]

[relayer.egress.routes]
"https://api.hyperliquid.xyz" = "$(sandbox_url 0)"
"https://api.hyperliquid-testnet.xyz" = "$(sandbox_url 0)"
"https://api.openai.com" = "$(sandbox_url 1)"
"https://feeds.bbci.co.uk" = "$(sandbox_url 2)"
"https://www.coindesk.com" = "$(sandbox_url 2)"
"https://www.theverge.com" = "$(sandbox_url 2)"
"https://api.open-meteo.com" = "$(sandbox_url 3)"
"https://en.wikipedia.org" = "$(sandbox_url 4)"
"https://ethereum-rpc.publicnode.com" = "$rpc"

[relayer.egress.secrets]
openai_file = "$state/openai.key"
TOML

export NEXUS_DATABASE_URL=$database_url NEXUS_DEPLOYMENTS=deployments/31337.json RUST_LOG=${RUST_LOG:-info}
# The indexer follows new heads over the websocket (anvil serves both on one port).
NEXUS_RPC_URL="ws://127.0.0.1:${port}" NEXUS_INDEXER_STATUS_ADDR=$indexer_status \
  "$nexus" indexer >"$state/indexer.log" 2>&1 &
pids+=($!)
NEXUS_RPC_URL=$rpc NEXUS_GRAPHQL_LISTEN=$graphql_addr NEXUS_GRAPHQL_DEVELOPMENT=true NEXUS_SPONSOR_KEY=$(anvil_key 3) \
  "$nexus" graphql >"$state/graphql.log" 2>&1 &
pids+=($!)
NEXUS_RPC_URL=$rpc NEXUS_RELAYER_KEY=$relayer_key NEXUS_RELAYER_STATUS_ADDR=$relayer_status \
  NEXUS_CONFIG=$state/relayer.toml "$nexus" relayer >"$state/relayer.log" 2>&1 &
pids+=($!)

# The demo accounts Seed.s.sol funds: anvil's #5 buys (1,000 test USDC), #4 is the catalog's
# developer. Public anvil keys, printed so a new user can act as either.
buyer_key=$(anvil_key 5)
buyer_address=$(anvil_address 5)
developer_key=$(anvil_key 4)
developer_address=$(anvil_address 4)
usdc=$(jq -r .contracts.USDC deployments/31337.json)
usdc_of() { "$bin/cast" call "$usdc" 'balanceOf(address)(uint256)' "$1" --rpc-url "$rpc" | awk '{ printf "%.2f", $1 / 1e6 }'; }

ready() { curl -fsS "http://$1/ready" >/dev/null 2>&1; }
bundler_up() {
  curl -fsS -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_supportedEntryPoints","params":[]}' "$bundler" >/dev/null 2>&1
}
for _ in $(seq 1 300); do
  ready "$indexer_status" && ready "$graphql_addr" && bundler_up && break
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "dev: a service exited; see $state/*.log" >&2; tail -n 20 "$state"/{indexer,graphql,relayer}.log >&2; exit 1; }
  done
  sleep 0.2
done
ready "$indexer_status" || echo "dev: the indexer is not ready yet (see $state/indexer.log)" >&2
bundler_up || echo "dev: the bundler is not answering yet (see $state/alto.log)" >&2

cat <<MSG

AgentNexus local stack
  GraphQL API         http://$graphql_addr/graphql (GraphiQL in a browser; ws: /graphql/ws, blobs: PUT /v1/blobs)
  indexer             /health /ready /metrics on http://$indexer_status (log: $state/indexer.log)
  relayer             /health /ready /metrics on http://$relayer_status (log: $state/relayer.log)
  bundler             $bundler (ERC-4337, Alto; log: $state/alto.log); gas sponsored by http://$graphql_addr/v1/paymaster
  catalog             ${catalog[*]} (images: target/agents/images.json), priced in USDC
  sandbox upstreams   hyperliquid $(sandbox_url 0), chat completions $(sandbox_url 1), feeds $(sandbox_url 2),
                      open-meteo $(sandbox_url 3), wikipedia $(sandbox_url 4) (log: $state/sandbox.log)
  agents' egress      routes and the chat key in $state/relayer.toml (JSON-RPC host routed to anvil)
  PostgreSQL          $database_url (cluster: $pgdir)
  chain RPC           $rpc (chain id 31337, anvil log: $state/anvil.log)
  deployments         deployments/31337.json
$(jq -r '.contracts | to_entries[] | "  \(.key | . + "                    " | .[0:20])\(.value)"' deployments/31337.json)
  dev accounts        anvil's default mnemonic "test test test test test test test test test test test junk"
                      #0 deployer/admin/curator, #1 relayer, #2 treasury, #3 sponsor, #4 developer, #5 buyer,
                      #6-#9 free (10,000 ETH each; public keys, worthless anywhere but here)
  USDC faucet         cast send <USDC> 'mint(address,uint256)' <to> <amount> --rpc-url $rpc --private-key <key>

Demo accounts (funded)
  buyer               $buyer_address  $(usdc_of "$buyer_address") USDC, 10,000 ETH
                      key $buyer_key
  developer           $developer_address  (paid for the catalog's executions)
                      key $developer_key

Try it (README.md walks through it)
  export NEXUS_PRIVATE_KEY=$buyer_key
  $nexus agents
  $nexus buy Summarizer --units 2
  $nexus run Summarizer --input agents/summarizer/example.json --wait
  $nexus buy "Weather Alerts" --units 1 && $nexus run "Weather Alerts" --input agents/weather-alerts/example.json --wait
  $nexus buy Hyperliquid --units 1 && $nexus run Hyperliquid --input agents/hyperliquid/example.json --wait
  export NEXUS_SUBMIT_ROUTES=https://api.hyperliquid-testnet.xyz=$(sandbox_url 0),https://api.hyperliquid.xyz=$(sandbox_url 0)
  $nexus proposals <execution id>; $nexus apply <execution id>
  NEXUS_PRIVATE_KEY=$developer_key $nexus withdraw
  gasless: $nexus account create, then buy/run with --account (README.md)

Press Ctrl-C to stop.
MSG
# Stop everything as soon as any service dies.
wait -n "${pids[@]}"
echo "dev: a service exited; stopping (logs in $state/)" >&2
