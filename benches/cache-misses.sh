#!/usr/bin/env bash
# The linear-cost check of docs/benchmark.md counted instead of timed: the operator runs under
# cachegrind (valgrind), converging and deleting like benches/linear-cost.sh, with a simulated
# last-level cache the size of one core's L2 (1 MiB). Prints, at each size, the instructions and
# the simulated cache misses, their ratios, and the functions whose misses grow most beyond the
# size ratio. Counts do not follow the machine's load, so one run a size compares two builds
# where timed rounds cannot; what they leave out (the TLB, prefetching, the other guests' share
# of L3) is what timed rounds still measure.
#
#   benches/cache-misses.sh [--sizes SMALL,LARGE] [--out DIR] [OPERATOR]
#
# OPERATOR defaults to the release build's. About 1 minute at 1,000 and 10 at 10,000.
# Needs valgrind and the release build: cargo build --release --bin zis-sandbox --bin zis-operator
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
release=${CARGO_TARGET_DIR:-$repo/target}/release

sizes=1000,10000 out=
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "cache-misses: unknown flag $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
operator=$(realpath "${1:-$release/zis-operator}")
IFS=, read -r small large <<<"$sizes"
[ -n "$small" ] && [ -n "$large" ] || { echo "cache-misses: --sizes SMALL,LARGE" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "cache-misses: valgrind not found (apt-get install valgrind)" >&2; exit 2; }
[ -x "$release/zis-sandbox" ] && [ -x "$operator" ] ||
    { echo "cache-misses: cargo build --release --bin zis-sandbox --bin zis-operator" >&2; exit 2; }
out=${out:-$(mktemp -d)}
mkdir -p "$out"

# The benchmark starts the operator itself: hand it a launcher that runs it under cachegrind.
launcher=$out/operator-under-cachegrind
cat >"$launcher" <<EOF
#!/bin/sh
exec valgrind --tool=cachegrind --cache-sim=yes --LL=1048576,16,64 \
    --cachegrind-out-file="$out/cachegrind.\$COUNTED_SIZE" "$operator" "\$@"
EOF
chmod +x "$launcher"

for n in "$small" "$large"; do
    # Pinned as in benches/linear-cost.sh: unpinned, the counts move with how the operator's
    # threads and the benchmark's servers interleave (two thirds more misses in one run at 1,000).
    COUNTED_SIZE=$n taskset -c 0 "$release/zis-sandbox" bench --objects "$n" --rpm 6000 \
        --resync-interval 10m --skip steady,rotations,restart --operator-cpus 1 \
        --operator-binary "$launcher" \
        --json-out "$out/bench-$n.json" >/dev/null 2>"$out/bench-$n.log" ||
        { echo "cache-misses: the run failed, see $out/bench-$n.log" >&2; exit 1; }
    cg_annotate --show-percs=no --threshold=0.001 "$out/cachegrind.$n" >"$out/annotated-$n.txt"
done

python3 - "$out" "$small" "$large" <<'PY'
import re, sys
out, small, large = sys.argv[1], sys.argv[2], sys.argv[3]
scale = int(large) / int(small)
# Misses of the simulated last level: instruction reads, data reads, data writes.
EVENTS = ("Ir", "ILmr", "DLmr", "DLmw")

def counts(size):
    """PROGRAM TOTALS and each function's counts, by event name."""
    columns, totals, functions = None, None, {}
    for line in open(f"{out}/annotated-{size}.txt"):
        if line.startswith("Events shown:"):
            columns = line.split(":", 1)[1].split()
        row = re.match(r"^\s*((?:[\d,.]+\s+)+)(\S.*)$", line.rstrip())
        if not columns or not row or len(row.group(1).split()) != len(columns):
            continue
        values = dict(zip(columns, (int(v.replace(",", "").replace(".", "0") or 0) for v in row.group(1).split())))
        if row.group(2) == "PROGRAM TOTALS":
            totals = values
        elif totals is not None:
            functions[row.group(2)] = values
    return totals, functions

(a, fa), (b, fb) = counts(small), counts(large)
misses = lambda values: sum(values.get(e, 0) for e in EVENTS[1:])
for event in EVENTS:
    print(f"{event:5} {a[event]:>16,} at {small}, {b[event]:>16,} at {large}: ratio {b[event] / a[event]:.2f}")
print(f"last-level misses {misses(a):,} at {small}, {misses(b):,} at {large}: ratio {misses(b) / misses(a):.2f}")
excess = misses(b) - scale * misses(a)
print(f"misses beyond {scale:g} times the small run: {excess:,.0f}; the functions that grow most:")
growth = sorted(((misses(fb.get(f, {})) - scale * misses(fa.get(f, {})), f) for f in set(fa) | set(fb)), reverse=True)
for extra, function in growth[:12]:
    print(f"  {extra:>12,.0f}  {misses(fa.get(function, {})):>10,} -> {misses(fb.get(function, {})):>11,}  {function[:100]}")
PY
