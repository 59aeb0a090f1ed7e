#!/usr/bin/env bash
# `make dev`: the local stack. Starts anvil, deploys the contracts with script/Deploy.s.sol,
# writes deployments/31337.json and keeps running until Ctrl-C (which stops everything it started).
# Environment: ANVIL_PORT (default 8545).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

port=${ANVIL_PORT:-8545}
rpc="http://127.0.0.1:${port}"
state=.nexus
mkdir -p "$state"
bin=node_modules/.bin

# cast exits 0 even when it cannot connect, so judge by what it prints.
rpc_up() { [[ "$("$bin/cast" chain-id --rpc-url "$rpc" 2>/dev/null)" =~ ^[0-9]+$ ]]; }

if rpc_up; then
  echo "dev: something already answers on $rpc; stop it or set ANVIL_PORT" >&2
  exit 1
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

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

cat <<MSG

AgentNexus local stack
  chain RPC         $rpc (chain id 31337, anvil log: $state/anvil.log)
  deployments       deployments/31337.json
$(jq -r '.contracts | to_entries[] | "  \(.key | . + "                  " | .[0:18])\(.value)"' deployments/31337.json)
  dev accounts      anvil's default mnemonic "test test test test test test test test test test test junk"
                    #0 deployer/admin/curator, #1 relayer, #2 treasury, #3-#9 free (10,000 ETH each)
  USDC faucet       cast send <USDC> 'mint(address,uint256)' <to> <amount> --rpc-url $rpc --private-key <key>

Press Ctrl-C to stop.
MSG
wait "${pids[0]}"
