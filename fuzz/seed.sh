#!/usr/bin/env bash
# Seeds each target's corpus from the shared fixtures and the tests' own fixtures.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/meta_webhook corpus/chatwoot_webhook corpus/signature corpus/signed_request
cp ../wbots-meta/tests/fixtures/*.json corpus/meta_webhook/
cp ../wbots-chatwoot/tests/fixtures/*.json corpus/chatwoot_webhook/
rm -f corpus/chatwoot_webhook/swagger.json
cp ../wbots-meta/tests/fixtures/botbuilder-dotnet-Payload.json corpus/signature/
printf 'c2lnbmF0dXJl.eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsInVzZXJfaWQiOiIxIn0' > corpus/signed_request/seed
