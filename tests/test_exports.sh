#!/usr/bin/env bash
# The shared libraries export exactly their header's functions: every function
# declared in the header is exported (a declaration without VARIA_API would be
# hidden), and nothing else is (no internal symbol leaks). The list comes from
# the header itself, so new public functions need no change here.
# Usage: test_exports.sh HEADER LIBRARY.so [HEADER LIBRARY.so ...]. TAP-style
# output, a closing "# passed P failed F", exit status nonzero on any failure.
# NM (default nm) is the symbol lister.
set -u

NM=${NM:-nm}
[ $# -ge 2 ] && [ $(($# % 2)) = 0 ] || { echo "usage: test_exports.sh HEADER LIB.so [HEADER LIB.so ...]" >&2; exit 2; }

n=0
fail=0
check() { # OK NAME [DETAIL]
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        fail=$((fail + 1))
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
    fi
}

# The function names a header declares: comments removed (joined to one line
# so that a comment may span lines), then every varia_ name followed by "(".
# A function-pointer typedef, "(*varia_x_fn)(", is not followed by "(".
header_functions() {
    sed 's://.*$::' "$1" | tr '\n' ' ' | sed -E 's:/\*([^*]|\*+[^*/])*\*+/: :g' |
        grep -oE '\bvaria_[A-Za-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' | sort -u
}

# The dynamic symbols a library defines, less the few the linker adds itself.
exported() {
    "$NM" -D --defined-only "$1" | awk 'NF >= 3 {print $3}' |
        grep -vxE '_init|_fini|_edata|_end|__bss_start' | sed 's/@.*//' | sort -u
}

while [ $# -ge 2 ]; do
    header=$1 lib=$2
    shift 2
    name=$(basename "$lib")
    want=$(header_functions "$header")
    if ! got=$(exported "$lib"); then
        check 1 "$name: $NM -D lists its symbols"
        continue
    fi
    check "$([ -n "$want" ] && echo 0 || echo 1)" "$(basename "$header") declares functions ($(echo "$want" | wc -w))"
    missing=$(comm -23 <(echo "$want") <(echo "$got"))
    extra=$(comm -13 <(echo "$want") <(echo "$got"))
    check "$([ -z "$missing" ] && echo 0 || echo 1)" \
        "$name exports every function $(basename "$header") declares" \
        "declared but not exported (VARIA_API missing?): $(echo $missing)"
    check "$([ -z "$extra" ] && echo 0 || echo 1)" \
        "$name exports nothing else" \
        "exported but not declared in $(basename "$header") (an internal symbol leaks): $(echo $extra)"
done

echo "# passed $((n - fail)) failed $fail"
[ "$fail" = 0 ]
