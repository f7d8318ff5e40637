#!/usr/bin/env bash
# A shared library exports exactly the functions its public headers declare:
# every function declared in them is exported (a declaration without VARIA_API
# would be hidden), and nothing else is (no internal symbol leaks). The list
# comes from the headers themselves, so new public functions need no change here.
# Usage: test_symbols.sh LIBRARY.so HEADER... [-- LIBRARY.so HEADER... ...].
# TAP-style output, a closing "# passed P failed F", exit status nonzero on any
# failure. NM (default nm) is the symbol lister.
set -u

NM=${NM:-nm}
usage() { echo "usage: test_symbols.sh LIB.so HEADER... [-- LIB.so HEADER... ...]" >&2; exit 2; }
[ $# -ge 2 ] || usage

n=0
fail=0
check() { # OK(0/1) NAME [DETAIL]
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

check_library() { # LIB HEADER...
    local lib=$1 name want="" got missing extra h names
    name=$(basename "$lib")
    shift
    names=""
    for h in "$@"; do
        local one
        one=$(header_functions "$h")
        check "$([ -n "$one" ] && echo 0 || echo 1)" "$(basename "$h") declares functions ($(echo "$one" | wc -w))"
        want=$(printf '%s\n%s\n' "$want" "$one" | grep . | sort -u)
        names="$names${names:+ and }$(basename "$h")"
    done
    if ! got=$(exported "$lib"); then
        check 1 "$name: $NM -D lists its symbols"
        return
    fi
    missing=$(comm -23 <(echo "$want") <(echo "$got"))
    extra=$(comm -13 <(echo "$want") <(echo "$got"))
    check "$([ -z "$missing" ] && echo 0 || echo 1)" "$name exports every function declared in $names" \
        "declared but not exported (VARIA_API missing?): $(echo $missing)"
    check "$([ -z "$extra" ] && echo 0 || echo 1)" "$name exports nothing else" \
        "exported but declared in none of $names (an internal symbol leaks): $(echo $extra)"
}

group=()
for arg in "$@" --; do
    if [ "$arg" = -- ]; then
        [ ${#group[@]} -ge 2 ] || usage
        check_library "${group[@]}"
        group=()
    else
        group+=("$arg")
    fi
done

echo "# passed $((n - fail)) failed $fail"
[ "$fail" = 0 ]
