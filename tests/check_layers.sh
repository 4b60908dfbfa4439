#!/usr/bin/env bash
# The layer check: a source file may include only from its own folder or from a layer below.
#
#   core/       0  the loop's services: no domain knowledge (no trips, routes or guardians)
#   people/     1  users, students, guardians, logins and sessions, the audit log
#   tracking/   2  live bus tracking, routes, buses     } side by side: neither includes
#   academics/  2  the school's records                 } the other
#   gateway/    3  sockets, HTTP, the router, start-up
#
# Prints each offending include as file:line and exits 1 if there is any.
set -euo pipefail
root=${1:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root"

rank() {
  case $1 in
    core) echo 0 ;;
    people) echo 1 ;;
    tracking | academics) echo 2 ;;
    gateway) echo 3 ;;
    *) echo -1 ;;
  esac
}

bad=0
checked=0
for dir in core people tracking academics gateway; do
  mine=$(rank "$dir")
  while IFS= read -r -d '' file; do
    checked=$((checked + 1))
    while IFS=: read -r line text; do
      target=$(sed 's/^[^"]*"\([^"]*\)".*/\1/' <<<"$text")
      folder=${target%%/*}
      theirs=$(rank "$folder")
      [[ $theirs -ge 0 ]] || continue # a system or library header
      if [[ $folder != "$dir" && $theirs -ge $mine ]]; then
        echo "$file:$line: includes $target (layer $folder is not below $dir)"
        bad=1
      fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
  done < <(find "$dir" -name '*.[ch]' -print0)
done
# Domain words that must not appear in core/ code at all (comments included would be too
# strict: this looks at identifiers only).
if grep -nE '\b(trip|route|guardian|tracker)_[a-z_]+\s*\(' core/*.c core/*.h; then
  echo "core/ calls a domain function (above)"
  bad=1
fi
echo "layers: $checked files checked"
exit $bad
