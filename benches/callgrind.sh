#!/usr/bin/env bash
# Instructions per request on the cached path, per chain, with callgrind:
# builds the driver once, runs each chain over 1,000 and 11,000 requests,
# and prints (I(11000) - I(1000)) / 10000 and its ratio to the floor (the
# keyed chains to `floor_keyed`). Instruction counts do not drift with load.
#
#   benches/callgrind.sh                 # every chain
#   benches/callgrind.sh oauth middle    # some (their floors are always run)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(cargo bench --bench hot_path_driver --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*hot_path_driver[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "driver not built" >&2; exit 1; }

warm=(floor oauth oauth_no_replay oauth_dpop tokio_mutex tokio_rwlock oauth2_rwlock middle aliri reqwest_auth)
keyed=(floor_keyed oauth_10k_keys std_map_10k_keys)
if [ $# -gt 0 ]; then
    chains=(floor)
    case " $* " in *keys*) chains+=(floor_keyed) ;; esac
    chains+=("$@")
else
    chains=("${warm[@]}" "${keyed[@]}")
fi

count() { # chain requests -> instructions
    CHAIN=$1 REQUESTS=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

declare -A per
printf '%-20s %14s %10s\n' chain instr/request ratio
for chain in "${chains[@]}"; do
    [ -n "${per[$chain]:-}" ] && continue
    small=$(count "$chain" 1000)
    large=$(count "$chain" 11000)
    per[$chain]=$(( (large - small) / 10000 ))
    case $chain in
        *keys*) floor=floor_keyed ;;
        *) floor=floor ;;
    esac
    if [ -z "${per[$floor]:-}" ]; then
        printf '%-20s %14d\n' "$chain" "${per[$chain]}"
    else
        printf '%-20s %14d %10s\n' "$chain" "${per[$chain]}" \
            "$(awk -v a="${per[$chain]}" -v b="${per[$floor]}" 'BEGIN { printf "%.3f", a / b }')"
    fi
done
