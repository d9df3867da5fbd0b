#!/usr/bin/env bash
# Renders `triage report --html` for a sample 14-day ledger in headless Chromium at 1280 and 390
# px wide, checks in the browser that no tile's number wraps or is cut off, and keeps the page
# and the screenshots for a person to look at.
#
#   apt-get install -y chromium        # once
#   tests/report-screenshot.sh [DIR]   # default DIR: target/report-screenshot
#
# The same test runs in `cargo test` (crates/triage-cli/tests/it/report.rs); without chromium it
# checks the page as text and says so loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-target/report-screenshot}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && ! command -v google-chrome >/dev/null; then
  echo "error: no chromium on PATH (apt-get install -y chromium)" >&2
  exit 1
fi
TRIAGE_SCREENSHOT_DIR="$dir" cargo test --quiet -p triage-cli --test it report::html_page_is_self_contained_and_renders -- --nocapture
echo "page:       $dir/report.html"
echo "screenshots: $dir/report-1280.png $dir/report-390.png"
