# Sourced by scripts/ab and scripts/http-load: a scratch directory ($work, removed on exit with the
# worktrees in it) and build SIDE WHAT, which prints the directory holding OrderFlow.Host.dll for
# WHAT: WHAT itself if it holds one, else a Release build of the git revision WHAT.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d -t "orderflow-$(basename "$0").XXXXXX")
cleanup() {
  for tree in "$work"/tree-*; do [ -d "$tree" ] && git -C "$repo" worktree remove --force "$tree" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT

build() {
  local side=$1 what=$2
  if [ -f "$what/OrderFlow.Host.dll" ]; then echo "$what"; return; fi
  local commit tree
  commit=$(git -C "$repo" rev-parse --verify --quiet "$what^{commit}") || { echo "$what: neither a directory with OrderFlow.Host.dll nor a git revision" >&2; exit 2; }
  tree=$work/tree-$side
  git -C "$repo" worktree add --detach --quiet "$tree" "$commit"
  echo "building $side = $what (${commit:0:7})" >&2
  dotnet build -c Release "$tree/OrderFlow.Host" -o "$work/bin-$side" >"$work/build-$side.log" 2>&1 \
    || { tail -20 "$work/build-$side.log" >&2; exit 1; }
  echo "$work/bin-$side"
}
