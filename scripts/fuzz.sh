#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang and runs each for a
# bounded time on a copy of its committed seed corpus. Exits non-zero if a
# target does not build or finds a crash (left in OUT_DIR/crash-*).
# Usage: scripts/fuzz.sh [OUT_DIR]   (FUZZ_SECONDS=30 in all, split evenly
# between the targets; CLANG=clang++-16)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/fuzz}
total=${FUZZ_SECONDS:-30}
clang=${CLANG:-$(command -v clang++-16 || command -v clang++ || true)}
if [ -z "$clang" ]; then echo "fuzz.sh: no clang++ (scripts/setup.sh test installs clang-16)" >&2; exit 1; fi
mkdir -p "$out"
# libstdc++ 12 hides <expected> from clang < 19 unless it sees C++20 concepts.
flags=(-std=c++2b -U__cpp_concepts -D__cpp_concepts=202002L -O1 -g
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Idemos)

# name | corpus | sources
targets=(
  "resp_parser_fuzz|resp|fuzz/resp_parser_fuzz.cpp demos/kv_server/resp.cpp demos/kv_server/glob.cpp"
  "http_parser_fuzz|http|fuzz/http_parser_fuzz.cpp demos/http/parser.cpp demos/http/util.cpp"
)
seconds=$(( total / ${#targets[@]} ))
[ "$seconds" -ge 1 ] || seconds=1

for t in "${targets[@]}"; do
  IFS='|' read -r name corpus sources <<<"$t"
  # shellcheck disable=SC2086  # sources is a list of paths without spaces
  "$clang" "${flags[@]}" $sources -o "$out/$name"
done
for t in "${targets[@]}"; do
  IFS='|' read -r name corpus sources <<<"$t"
  mkdir -p "$out/corpus-$corpus"
  "$out/$name" -max_total_time="$seconds" -max_len=4096 -print_final_stats=0 \
    -artifact_prefix="$out/" "$out/corpus-$corpus" "fuzz/corpus/$corpus" 2>"$out/$name.log" || {
    echo "fuzz.sh: $name failed (input in $out/crash-*):" >&2
    tail -40 "$out/$name.log" >&2
    exit 1
  }
  echo "$name: $(grep -E '^#[0-9]+.*DONE' "$out/$name.log" | tail -1)"
done
