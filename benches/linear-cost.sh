#!/usr/bin/env bash
# The linear-cost check of docs/benchmark.md: operator CPU to converge at the large size divided
# by the CPU at the small size, measured in interleaved rounds (single runs vary by up to 50% on
# the 2-core machine, so only runs taken turn about compare).
#
#   benches/linear-cost.sh [--rounds R] [--sizes SMALL,LARGE] [--out DIR] NAME=OPERATOR ...
#
# Each NAME=OPERATOR is a variant: an operator binary, or a script that execs one (e.g. with
# another environment). A round runs SMALL, LARGE, SMALL, each for every variant in turn, with
# the benchmark on CPU 0 and the operator on CPU 1; every run's JSON goes to DIR (default: a new
# temporary directory). Prints one line a run (CPU, user, system), then each variant's ratio by
# round (the large run against the mean of the small runs either side of it) with their median,
# the same for the user and the system parts alone, and the ratio of the medians of all its runs
# (which a load that drifts over the batch skews), and the CPU an object by tenth of each run.
# Needs the release build: cargo build --release --bin zis-sandbox --bin zis-operator
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
sandbox=${CARGO_TARGET_DIR:-$repo/target}/release/zis-sandbox

rounds=4 sizes=1000,10000 out=
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "linear-cost: unknown flag $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "linear-cost: name at least one variant, NAME=OPERATOR" >&2; exit 2; }
[ -x "$sandbox" ] || { echo "linear-cost: $sandbox not found: cargo build --release --bin zis-sandbox --bin zis-operator" >&2; exit 2; }
IFS=, read -r small large <<<"$sizes"
[ -n "$small" ] && [ -n "$large" ] || { echo "linear-cost: --sizes SMALL,LARGE" >&2; exit 2; }
for variant in "$@"; do
    [ -x "${variant#*=}" ] || { echo "linear-cost: ${variant#*=} is not executable" >&2; exit 2; }
done
out=${out:-$(mktemp -d)}
mkdir -p "$out"
results=$out/runs.txt
: >"$results"
: >"$out/tenths.txt"

for round in $(seq 1 "$rounds"); do
    for n in "$small" "$large" "$small"; do
        for variant in "$@"; do
            name=${variant%%=*} operator=${variant#*=}
            json=$out/$name-$n-$round-$(date +%s%N).json
            taskset -c 0 "$sandbox" bench --objects "$n" --rpm 6000 --resync-interval 10m \
                --skip steady,rotations,restart --operator-cpus 1 --operator-binary "$operator" \
                --json-out "$json" >/dev/null 2>"$json.log" ||
                { echo "linear-cost: the run failed, see $json.log" >&2; exit 1; }
            # CPU, then its user and system parts
            line="$name $n $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(*(r["converge_cpu" + k + "seconds"] for k in ("_", "_user_", "_system_")))' "$json")"
            echo "round $round: $line" >&2
            echo "$round $line" >>"$results"
            # CPU an object by tenth of the objects Ready (older benchmarks: none)
            python3 -c 'import json,sys; print(sys.argv[2], *json.load(open(sys.argv[1])).get("converge_cpu_ms_per_object_by_tenth", []))' \
                "$json" "$name $n" >>"$out/tenths.txt"
        done
    done
done

python3 - "$results" "$small" "$large" <<'PY'
import collections, statistics, sys
path, small, large = sys.argv[1], sys.argv[2], sys.argv[3]
# (variant, size) -> CPU seconds of its runs; (variant, round) -> {size: (CPU, user, system) of
# its runs}
runs = collections.defaultdict(list)
rounds = collections.defaultdict(dict)
for line in open(path):
    round_, name, n, *cpu = line.split()
    runs[name, n].append(float(cpu[0]))
    rounds[name, round_].setdefault(n, []).append([float(c) for c in cpu])
for name in dict.fromkeys(name for name, _ in runs):
    # A round's ratio: its large run against the mean of the small runs either side of it, taken
    # minutes apart at most, so that the machine's load (other guests) drifting over a batch
    # weighs on both sides of the ratio alike. Also for the user and the system parts alone
    # (runs.txt files older than the split hold the total only).
    for part, label in enumerate(("", " (user)", " (system)")):
        ratios = [
            sizes[large][0][part] / statistics.mean(run[part] for run in sizes[small])
            for (variant, _), sizes in rounds.items()
            if variant == name and large in sizes and small in sizes
            and all(len(run) > part for run in sizes[large] + sizes[small])
        ]
        if ratios:
            by_round = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"{name}: ratio{label} by round {by_round}: median {statistics.median(ratios):.2f}")
    a, b = statistics.median(runs[name, small]), statistics.median(runs[name, large])
    print(f"{name}: converge CPU {a:.2f} s at {small}, {b:.2f} s at {large} (medians of all runs): ratio {b / a:.2f}")
PY

# Within each run, the CPU an object in each tenth of the objects to become Ready: the medians
# over the runs of each size, tenth by tenth. Flat (and alike at both sizes) when an object costs
# the same with thousands converged as with few, whatever the machine did between runs.
python3 - "$out/tenths.txt" <<'PY'
import collections, statistics, sys
tenths = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, n, *values = line.split()
    if len(values) == 10:
        tenths[name, n].append([float(v) for v in values])
for (name, n), runs in tenths.items():
    medians = " ".join(f"{statistics.median(column):.2f}" for column in zip(*runs))
    print(f"{name}: CPU ms an object at {n}, by tenth (medians of {len(runs)} runs): {medians}")
PY
