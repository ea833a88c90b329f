#!/bin/bash
# Build stage of the image: slim the runtime venv VENV in place, then check that it imports.
#
#   slim.sh VENV PRUNE_LIST
#
# - pip and setuptools go (nothing is installed at run time);
# - the packages' test directories go;
# - the paths of PRUNE_LIST (pyproject's [tool.ethos.image] prune, globs) go; one that matches
#   nothing fails the build (the list went stale);
# - debug symbols go from the extension modules that carry them (numkong alone ships 40 MB of
#   them); libraries under *.libs/ are left alone: auditwheel rewrote them with patchelf, and
#   strip makes them unloadable ("ELF load command address/offset not page-aligned");
# - everything is byte-compiled once (unchecked-hash: the root is read-only at run time, and
#   the sources never change there), so imports never compile at start.
set -euo pipefail
venv=$1
prune=$2
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')

"$venv/bin/python" -m pip uninstall --quiet --yes pip setuptools
find "$site" -depth -mindepth 2 -type d -name tests -exec rm -rf {} +
shopt -s nullglob
while read -r pattern; do
  [ -n "$pattern" ] || continue
  matches=("$site"/$pattern)
  if [ ${#matches[@]} = 0 ]; then
    echo "error: the prune path $pattern (pyproject.toml, [tool.ethos.image]) matches nothing" >&2
    exit 1
  fi
  rm -rf "${matches[@]}"
done < "$prune"
shopt -u nullglob
find "$venv" -type f -name '*.so*' -not -path '*.libs/*' -print0 |
  while IFS= read -r -d '' so; do
    # read whole, not piped to grep -q: under pipefail readelf's SIGPIPE would skip the file
    sections=$(readelf -S "$so" 2>/dev/null || true)
    if [[ $sections == *.debug_info* ]]; then
      strip --strip-debug "$so"
    fi
  done
find "$venv" -depth -type d -name __pycache__ -exec rm -rf {} +
"$venv/bin/python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$venv/lib"

# every compiled module the service loads, and the service itself
"$venv/bin/python" - <<'EOF'
import importlib

for name in ("numpy", "scipy.sparse", "onnxruntime", "tokenizers", "usearch.index", "numkong",
             "grpc", "cryptography.hazmat.bindings._rust", "Stemmer", "hiredis", "uvloop",
             "httptools.parser.parser", "httptools.parser.url_parser", "yaml._yaml",
             "markupsafe._speedups", "websockets.speedups", "pydantic_core", "phonenumbers",
             "google.cloud.firestore", "google.cloud.run_v2", "ethos.service", "ethos.cli.serve"):
    importlib.import_module(name)
import phonenumbers

assert phonenumbers.is_valid_number(phonenumbers.parse("+61 2 9374 4000", None))

# the knowledge base's BM25 (bm25s, scipy.sparse) answers, with what the prune list left
import asyncio

from ethos.agent.kb_answerer import KnowledgeBaseAnswerer

kb = KnowledgeBaseAnswerer()
for question in ("What plans do you offer?", "Do you integrate with HubSpot?", "Is SSO supported?"):
    answer = asyncio.run(kb.answer(question))
    assert answer.sources, (question, answer)
EOF
