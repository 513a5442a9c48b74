#!/usr/bin/env bash
# The whole suite: lint + types, unit tests beside the code, then integration and real-browser
# contract tests (Chromium from Debian's packages is installed if missing). The API suite runs on
# SQLite and on PostgreSQL (127.0.0.1:5432, or a throwaway server the suite starts when it is closed).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint and format (biome)"
npx biome check .
echo "== types (tsc --noEmit)"
npx tsc -p tsconfig.json

bash scripts/ensure-chromium.sh
echo "== web app (vite build; the end-to-end tests load it)"
npm run --silent build

shopt -s globstar nullglob
unit=(packages/*/src/**/*.test.ts)
integration=(packages/*/test/**/*.test.ts)
echo "== tests: ${#unit[@]} unit files, ${#integration[@]} integration/browser files"
# one file at a time: the browser and WebRTC suites need both cores
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${unit[@]}" "${integration[@]}"
# The media node's fallback transport (node-datachannel): its bot and livekit-client suites again.
echo "== media suites on the node-datachannel transport"
SOTTO_MEDIA_TRANSPORT=datachannel node --import tsx --test --test-concurrency=1 --test-reporter=spec \
  packages/media/test/**/*.test.ts
