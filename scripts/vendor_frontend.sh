#!/usr/bin/env bash
# Refresh static/vendor/ from the npm registry. Not part of install: the vendored files are
# committed so that a clone needs no Node.js. Run it by hand to upgrade, then commit.
set -euo pipefail
cd "$(dirname "$0")/.."
NHSUK=10.6.1 HTMX=2.0.11 SORTABLE=1.15.7 CHARTJS=4.6.1 AXE=4.14.1
work=$(mktemp -d)
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund \
  "nhsuk-frontend@$NHSUK" "htmx.org@$HTMX" "sortablejs@$SORTABLE" "chart.js@$CHARTJS" "axe-core@$AXE" >/dev/null)
m="$work/node_modules"
v=static/vendor
rm -rf "$v" && mkdir -p "$v/nhsuk-frontend/assets/images" "$v/htmx" "$v/sortablejs" "$v/chartjs" "$v/axe-core"
# The compiled CSS points at /assets/ on the site root and at fonts on assets.nhs.uk; a strict
# CSP and no CDN mean relative image paths and no web font (Arial is the NHS fallback).
sed -e 's#url(/assets/images/#url(assets/images/#g' \
    -e 's#@font-face{[^}]*assets\.nhs\.uk[^}]*}##g' -e 's#/\*\# sourceMappingURL=[^*]*\*/##' \
    "$m/nhsuk-frontend/dist/nhsuk/nhsuk-frontend-$NHSUK.min.css" > "$v/nhsuk-frontend/nhsuk-frontend.min.css"
cp "$m/nhsuk-frontend/dist/nhsuk/nhsuk-frontend-$NHSUK.min.js" "$v/nhsuk-frontend/nhsuk-frontend.min.mjs"
sed -i 's#//\# sourceMappingURL=.*##' "$v/nhsuk-frontend/nhsuk-frontend.min.mjs"
cp "$m/nhsuk-frontend/dist/nhsuk/assets/images/"*.svg "$m/nhsuk-frontend/dist/nhsuk/assets/images/favicon.ico" "$v/nhsuk-frontend/assets/images/"
cp "$m/nhsuk-frontend/LICENSE"* "$v/nhsuk-frontend/" 2>/dev/null || true
cp "$m/htmx.org/dist/htmx.min.js" "$v/htmx/htmx-2.min.js"  # the name {% htmx_script %} asks for
cp "$m/sortablejs/Sortable.min.js" "$v/sortablejs/Sortable.min.js"
cp "$m/chart.js/dist/chart.umd.min.js" "$v/chartjs/chart.umd.min.js"
sed -i 's#//\# sourceMappingURL=.*##' "$v/chartjs/chart.umd.min.js"
cp "$m/axe-core/axe.min.js" "$v/axe-core/axe.min.js"
cat > "$v/VERSIONS.md" <<VERSIONS
# Vendored front-end files

Fetched from the npm registry by \`scripts/vendor_frontend.sh\`; no CDN is used at run time.

| package | version | files | licence |
|---|---|---|---|
| nhsuk-frontend | $NHSUK | nhsuk-frontend/ (compiled CSS with image paths made relative and the web-font @font-face rules removed; ES module JS; icons) | MIT |
| htmx.org | $HTMX | htmx/htmx-2.min.js, served by django-htmx's {% htmx_script %} through a STATICFILES_DIRS prefix | 0BSD |
| sortablejs | $SORTABLE | sortablejs/Sortable.min.js | MIT |
| chart.js | $CHARTJS | chartjs/chart.umd.min.js | MIT |
| axe-core | $AXE | axe-core/axe.min.js (browser tests only) | MPL-2.0 |
VERSIONS
rm -rf "$work"
echo "vendored into $v"
