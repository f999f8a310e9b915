#!/usr/bin/env bash
# infra/web_assets.sh: the clinician workspace's browser-side set-up.
#
#   infra/web_assets.sh npm       # Debian's nodejs/npm if absent, then `npm ci` in api/web when
#                                 # package-lock.json changed since the last install (a stamp)
#   infra/web_assets.sh chromium  # Debian's chromium (and CJK fonts for the Chinese pages) if
#                                 # absent (the browser tests drive it); prints its path
#   infra/web_assets.sh reports   # what the patient summary's PDF needs from Debian if absent:
#                                 # WeasyPrint's Pango and HarfBuzz, CJK fonts for the Chinese
#                                 # report, poppler-utils (pdftoppm, pdftotext: the report tests)
#
# Libraries come from the npm registry with the committed lockfile into the ignored
# api/web/node_modules; the app serves them under /static/vendor/. Never a CDN, never in git.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
web=$repo/api/web

say() { printf 'web_assets: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# shellcheck source=infra/lib.sh
. "$repo/infra/lib.sh"  # privileged, apt_install

npm_assets() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  local stamp=$web/node_modules/.vigil-lock want
  want=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "installing the workspace's browser libraries (npm ci; package-lock.json changed)"
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm ci failed in $web"
  echo "$want" > "$stamp"
}

chromium_path() {
  local p
  for p in chromium chromium-browser; do
    if command -v "$p" >/dev/null; then command -v "$p"; return 0; fi
  done
  return 1
}

# WeasyPrint loads these with ctypes (its documentation's Debian list); fonts-noto-cjk draws the
# Chinese report (fc-match picks "Noto Sans CJK SC" for lang zh).
REPORT_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fontconfig
                 fonts-noto-cjk fonts-dejavu-core poppler-utils)

report_packages() {
  local missing=() p
  for p in "${REPORT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

case ${1:-} in
  npm) npm_assets ;;
  reports) report_packages ;;
  chromium)
    chromium_path >/dev/null || apt_install chromium
    [ -n "$(fc-list :lang=zh 2>/dev/null)" ] || apt_install fonts-noto-cjk
    chromium_path ;;
  *) die "usage: $0 npm|chromium|reports" ;;
esac
