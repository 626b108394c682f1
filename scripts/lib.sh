# Shared by the scripts: install what is missing, configure a build directory.
# shellcheck shell=bash

# Debian/Ubuntu packages every build needs. Extra groups are added by the scripts that need them.
# libunwind-dev (with its runtime, libunwind8): stack_trace's second-fastest unwinder, loaded at run
# time by pmrheap_testing, never linked (docs/testing/debug_resource.md#stack-capture says why).
PMRHEAP_PACKAGES=(g++ meson ninja-build pkg-config libfmt-dev doctest-dev libboost-container-dev libbenchmark-dev
  libunwind-dev)
# scripts/test-consumer: CMake consumers, a clang consumer, the meson wrap (a git checkout).
PMRHEAP_CONSUMER_PACKAGES=(cmake clang-14 git)
# scripts/docs: the API reference (Doxygen) and the pictures (graphviz dot).
PMRHEAP_DOCS_PACKAGES=(doxygen graphviz)

die() { echo "error: $*" >&2; exit 1; }

# ensure_packages PKG...: installs the missing ones with apt-get (as root, or through sudo).
ensure_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 0   # not Debian: meson will name what is missing
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      echo "pmrheap needs these packages, and this user cannot install them:" >&2
      echo "  apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "Installing: ${missing[*]}"
  # Wait for the dpkg lock instead of failing when another install is running on the machine.
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
}

# configure DIR [meson options...]: sets DIR up once; reconfigures only if the options changed.
configure() {
  local dir=$1; shift
  local stamp="$dir/.pmrheap-options"
  local wanted="$*"
  if [[ -f $dir/build.ninja && -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
    return 0
  fi
  rm -rf "$dir"
  meson setup "$dir" --wrap-mode=nofallback "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; die "meson setup $dir failed"; }
  rm -f "$dir.setup.log"
  echo "$wanted" >"$stamp"
}

# summarize DIR: prints the closing line CI reads, from meson's newest JSON test log (a --wrapper
# renames it, e.g. testlog-valgrind.json).
summarize() {
  python3 - "$1/meson-logs" <<'PY'
import glob, json, os, sys
ok = bad = skipped = 0
log = max(glob.glob(os.path.join(sys.argv[1], "testlog*.json")), key=os.path.getmtime)
for line in open(log):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): ok += 1
    elif r == "SKIP": skipped += 1
    else: bad += 1
print(f"{ok} passed, {bad} failed, {skipped} skipped")
PY
}
