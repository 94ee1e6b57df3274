#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang and runs each for a
# bounded time on a copy of its committed seed corpus. Exits non-zero if a
# target does not build or finds a crash (left in build/fuzz/crash-*).
# Usage: scripts/fuzz.sh [OUT_DIR]   (FUZZ_SECONDS=20, CLANG=clang++-16)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/fuzz}
seconds=${FUZZ_SECONDS:-20}
clang=${CLANG:-$(command -v clang++-16 || command -v clang++ || true)}
if [ -z "$clang" ]; then echo "fuzz.sh: no clang++ (scripts/setup.sh test installs clang-16)" >&2; exit 1; fi
mkdir -p "$out"
# libstdc++ 12 hides <expected> from clang < 19 unless it sees C++20 concepts.
flags=(-std=c++2b -U__cpp_concepts -D__cpp_concepts=202002L -O1 -g
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Idemos)
"$clang" "${flags[@]}" fuzz/resp_parser_fuzz.cpp demos/kv_server/resp.cpp demos/kv_server/glob.cpp \
  -o "$out/resp_parser_fuzz"
mkdir -p "$out/corpus-resp"
"$out/resp_parser_fuzz" -max_total_time="$seconds" -max_len=4096 -print_final_stats=0 \
  -artifact_prefix="$out/" "$out/corpus-resp" fuzz/corpus/resp 2>"$out/resp_parser_fuzz.log" || {
  tail -40 "$out/resp_parser_fuzz.log" >&2
  exit 1
}
grep -E '^#[0-9]+.*DONE' "$out/resp_parser_fuzz.log" | tail -1
